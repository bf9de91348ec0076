"""Typed events of a turn: what every front-end (terminal, trace file, HTTP stream) consumes."""

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class TurnStart(Event):
    conversation_id: str
    round: int  # tool rounds completed so far in this turn
    prompt_tokens: int
    type: ClassVar[str] = "turn.start"


@dataclass(frozen=True)
class MessageStart(Event):
    role: str
    channel: str | None
    recipient: str | None
    content_type: str | None = None
    type: ClassVar[str] = "message.start"


@dataclass(frozen=True)
class ContentDelta(Event):
    role: str
    channel: str | None
    recipient: str | None
    text: str
    type: ClassVar[str] = "message.delta"


@dataclass(frozen=True)
class MessageEnd(Event):
    """A complete message: the assistant's, or a tool's answer to a call."""

    role: str
    channel: str | None
    recipient: str | None
    text: str
    author: str | None = None  # a tool message's author name, e.g. `functions.add`
    content_type: str | None = None
    type: ClassVar[str] = "message.end"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class SourceCited(Event):
    """The backend named a document the answer that follows is taken from."""

    name: str
    position: int
    terms: tuple[str, ...]
    type: ClassVar[str] = "source"


StopReason = Literal["stop", "tool_calls", "length", "interrupted", "error"]


@dataclass(frozen=True)
class TurnEnd(Event):
    stop_reason: StopReason
    usage: Usage
    tool_rounds: int
    final_text: str
    type: ClassVar[str] = "turn.end"

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["usage"]["total_tokens"] = self.usage.total_tokens
        return data


@dataclass(frozen=True)
class TurnError(Event):
    """The turn could not finish: malformed Harmony from the backend, the backend failed, or
    the model called tools more than `core.max_tool_rounds` times."""

    kind: Literal["malformed_harmony", "backend_error", "tool_limit"]
    message: str
    type: ClassVar[str] = "turn.error"


TURN_LEVEL = (TurnStart, TurnEnd, TurnError)


@dataclass(frozen=True)
class RawText(Event):
    """The decoded text of each generated token, special tokens included (`--raw`)."""

    text: str
    type: ClassVar[str] = "raw"
