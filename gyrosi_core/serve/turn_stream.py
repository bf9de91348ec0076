"""What the Chat Completions and Responses streams share: how a turn ended (its error, its end,
the tool choice it may have broken) and the loop that turns batches of turn events into stream
text. Each API keeps its own output (chunks, items and events); only this part is common, so
the two cannot drift apart on when a turn counts as failed."""

from typing import Any

from ..events import TurnEnd, TurnError
from .conversation import Failure, ToolChoice, coalesce
from .errors import APIError


class TurnFollower:
    """Follows a turn's events for one API: `on` says what each adds to the output; this base
    keeps the model's calls (checked against the request's tool_choice), the error and the end."""

    def __init__(self, choice: ToolChoice) -> None:
        self.choice = choice
        self.recipients: list[str] = []  # every call the model made, in order
        self.end: TurnEnd | None = None
        self.error: TurnError | Failure | None = None

    def on(self, event: Any) -> list[Any]:
        """What this event adds to the stream (possibly nothing)."""
        raise NotImplementedError

    def ended(self, event: Any) -> None:
        """Keep a `TurnError` or `TurnEnd` (a turn that ends without error can still break the
        tool choice); any other event is left alone."""
        if isinstance(event, TurnError):
            self.error = event
        elif isinstance(event, TurnEnd):
            self.end = event
            if self.error is None and (why := self.choice.violation(self.recipients)):
                self.error = Failure("tool_choice_not_followed", why)

    def error_body(self) -> dict[str, Any]:
        """The 500 body for a turn that failed, or did not finish."""
        error = self.error
        return APIError(500, error.message if error else "The turn did not finish.",
                        type="server_error", code=error.kind if error else None).body()


class TurnStream[F: TurnFollower]:
    """The `conversation.Translator` loop both APIs run on the worker thread: without
    streaming the follower only takes the events in; streaming, the first batch opens the
    stream, and each batch's events (merged, see `coalesce`) are written as one piece of text."""

    def __init__(self, builder: F, stream: bool) -> None:
        self.builder = builder
        self.stream = stream
        self.started = False

    def opening(self) -> list[Any]:
        """What the stream starts with, before the first event's output."""
        return []

    def output(self, event: Any) -> list[Any]:
        """What to stream for one event."""
        return self.builder.on(event)

    def write(self, items: list[Any]) -> str:
        """Stream items as the text sent to the client."""
        raise NotImplementedError

    def finish(self, messages: list[dict[str, Any]]) -> Any:
        raise NotImplementedError

    def feed(self, events: list[Any]) -> str:
        if not self.stream:
            for event in events:
                self.builder.on(event)
            return ""
        out: list[Any] = []
        if not self.started:
            self.started = True
            out.extend(self.opening())
        for event in coalesce(events):
            out.extend(self.output(event))
        return self.write(out)

    def fail(self, message: str) -> Any:
        self.builder.error = TurnError("backend_error", message)
        return self.finish([])
