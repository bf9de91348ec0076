"""The (legacy) Completions request: a prompt as text or token ids, continued as is — no
Harmony conversation around it."""

from pydantic import Field

from ..conversation import unsupported
from ..errors import APIError
from ..request import Strict, check_stops, stop_strings


class CompletionStreamOptions(Strict):
    include_usage: bool = False


class CompletionRequest(Strict):
    model: str | None = None
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int = Field(default=16, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: CompletionStreamOptions | None = None
    echo: bool = False
    n: int | None = Field(default=None, ge=1, le=128)
    best_of: int | None = Field(default=None, ge=1, le=20)
    logprobs: int | None = Field(default=None, ge=0, le=5)
    suffix: str | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, int] | None = None
    user: str | None = None

    @property
    def stops(self) -> list[str]:
        return stop_strings(self.stop)

    def check(self) -> None:
        if self.n not in (None, 1):
            unsupported("n", "one choice per request (send n requests with different seeds)")
        if self.best_of not in (None, 1):
            unsupported("best_of", "one generation per request")
        if self.top_p is not None and self.top_p != 1.0:
            unsupported("top_p", "only 1 (no nucleus cut) is supported; use temperature")
        if self.logprobs is not None:
            unsupported("logprobs", "log probabilities are not available")
        if self.suffix:
            unsupported("suffix", "insertion (fill in the middle) is not available")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                unsupported(name, "only 0 is supported")
        if self.logit_bias:
            unsupported("logit_bias", "token biases are not applied")
        check_stops(self.stops)

    def the_prompt(self) -> list[int] | str:
        """The one prompt, as token ids (a list) or text; several prompts are refused."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return prompt
        if not prompt:
            raise APIError(400, "Invalid value for 'prompt': it is empty.", param="prompt",
                           code="invalid_value")
        if isinstance(prompt[0], int):
            return [p for p in prompt if isinstance(p, int)]
        if len(prompt) > 1:
            unsupported("prompt", "one prompt per request (send one request per prompt)")
        one = prompt[0]
        return one if isinstance(one, str) else list(one)  # type: ignore[arg-type]

