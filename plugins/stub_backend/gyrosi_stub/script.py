"""The stub's script: rules that map the last user message to assistant messages."""

import json
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Step(BaseModel):
    """One assistant message. `{user}` and `{tool}` in `text` are replaced by the last user
    message and the last tool result."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["analysis", "commentary", "final"]
    text: str
    recipient: str | None = None  # e.g. "functions.add": makes this step a tool call
    content_type: str | None = None  # e.g. "json" for function arguments


def _check_steps(steps: list[Step]) -> list[Step]:
    if not steps:
        raise ValueError("a reply needs at least one step")
    for step in steps[:-1]:
        if step.recipient:
            raise ValueError("only the last step of a reply may call a tool")
    return steps


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: str = ""  # regex searched in the last user message; "" matches anything
    reply: list[Step]
    after_tool: list[Step] | None = None  # the reply once a tool has answered

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("reply", "after_tool")
    @classmethod
    def _steps(cls, value: list[Step] | None) -> list[Step] | None:
        return value if value is None else _check_steps(value)


DEFAULT_REPLY = [
    Step(channel="analysis", text="The user said: {user}"),
    Step(channel="final", text="You said: {user}"),
]
DEFAULT_AFTER_TOOL = [Step(channel="final", text="The tool answered: {tool}")]


class StubConfig(BaseModel):
    """The `backends.stub` config section."""

    model_config = ConfigDict(extra="forbid")

    script: list[Rule] = Field(default_factory=list)
    script_file: Path | None = None  # a JSON list of rules, appended after `script`
    context_length: int = Field(default=131072, gt=0)

    @model_validator(mode="after")
    def _load_file(self) -> Self:
        if self.script_file is not None:
            try:
                raw = json.loads(self.script_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"cannot read script_file {self.script_file}: {exc}") from exc
            if not isinstance(raw, list):
                raise ValueError(f"script_file {self.script_file} must hold a JSON list of rules")
            self.script = [*self.script, *(Rule.model_validate(r) for r in raw)]
        return self

    def reply_for(self, user: str, after_tool: bool) -> list[Step]:
        for rule in self.script:
            if re.search(rule.match, user):
                if after_tool:
                    return rule.after_tool or DEFAULT_AFTER_TOOL
                return rule.reply
        return DEFAULT_AFTER_TOOL if after_tool else DEFAULT_REPLY
