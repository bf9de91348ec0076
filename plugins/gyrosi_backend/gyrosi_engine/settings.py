"""The `backends.gyrosi` config section."""

from pydantic import BaseModel, ConfigDict, Field


class GyroConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depth: int = Field(default=16, ge=1, le=16)  # longest context, in tokens (`context.levels`)
    per_context: int = Field(default=64, ge=1)  # K: tokens kept per context (least recent go)
    per_token: int = Field(default=0, ge=0)  # M: entries kept per token at compaction; 0 = no cap
    # Learn the user's messages: None = on in `gyrosi run`/`generate`, off in `gyrosi serve`.
    learn_from_users: bool | None = None
    self_reinforce: bool = False  # also learn the engine's own answers
    starter: bool = True  # learn the bundled starter corpus into an empty memory on first use
    trace: bool = True  # the physics trace in the `analysis` message
    context_length: int = Field(default=131072, gt=0)
    cli: bool = False  # set by the CLI front-ends through the plugin's engine option, not by hand
