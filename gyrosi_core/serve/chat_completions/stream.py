"""Chat Completions: turn events → a completion object or its chunks.

The Harmony `analysis` channel is sent as the message's `reasoning` field (what gpt-oss's
chat-completions sampler reads); `final` (and commentary addressed to no one) as `content`.
"""

import json
import time
from collections.abc import Callable
from typing import Any

from ...events import ContentDelta, MessageEnd, MessageStart, SourceCited, TurnEnd, TurnError
from ..conversation import Failure, StopMatcher, coalesce, new_id, sse
from ..errors import APIError
from .protocol import ChatRequest

FINISH = {"stop": "stop", "tool_calls": "tool_calls", "length": "length",
          "interrupted": "stop", "error": "stop"}


def source_url(name: str) -> str:
    """A URL for a learned document: a file URL for an absolute path, else a `gyrosi-memory:`
    URL naming it."""
    from urllib.parse import quote

    if name.startswith("/"):
        return "file://" + quote(name)
    return "gyrosi-memory:" + quote(name)


class ChatBuilder:
    """Follows a turn's events; collects the completion and yields stream deltas."""

    def __init__(self, req: ChatRequest, model: str, external: set[str],
                 count_tokens: Callable[[str], int]) -> None:
        self.req = req
        self.choice = req.choice
        self.count_tokens = count_tokens
        self.recipients: list[str] = []  # every call the model made, in order
        self.model = model
        self.external = external
        self.id = new_id("chatcmpl")
        self.created = int(time.time())
        self.matcher = StopMatcher(req.stops)
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self._where: str | None = None  # "content", "reasoning", "call" or None
        self.end: TurnEnd | None = None
        self.error: TurnError | Failure | None = None
        self.sources: list[SourceCited] = []

    @property
    def stopped(self) -> bool:
        """A stop string was met: no more output is wanted."""
        return self.matcher.hit

    def on(self, event: Any) -> list[dict[str, Any]]:
        """The deltas this event adds (possibly none)."""
        if self.stopped:
            return []
        if isinstance(event, MessageStart) and event.role == "assistant":
            if event.recipient:
                self.recipients.append(event.recipient)
            if event.recipient in self.external:
                self._where = "call"
                call = {"index": len(self.tool_calls), "id": new_id("call"), "type": "function",
                        "function": {"name": (event.recipient or "").removeprefix("functions."),
                                     "arguments": ""}}
                self.tool_calls.append(call)
                return [{"tool_calls": [json.loads(json.dumps(call))]}]
            if event.recipient:
                self._where = None  # a tool the server runs: not part of the answer
            else:
                self._where = "reasoning" if event.channel == "analysis" else "content"
        elif isinstance(event, ContentDelta) and event.role == "assistant":
            return self._delta(event.text)
        elif isinstance(event, MessageEnd) and event.role == "assistant":
            out = []
            if self._where == "content" and (rest := self.matcher.flush()):
                self.content.append(rest)
                out.append({"content": rest})
            self._where = None
            return out
        elif isinstance(event, SourceCited):
            self.sources.append(event)
        elif isinstance(event, TurnError):
            self.error = event
        elif isinstance(event, TurnEnd):
            self.end = event
            if self.error is None and (why := self.choice.violation(self.recipients)):
                self.error = Failure("tool_choice_not_followed", why)
        return []

    def annotations(self) -> list[dict[str, Any]]:
        """Sources as the `url_citation` annotations OpenAI's chat messages carry (a document
        path becomes a file URL), spanning the whole answer."""
        end = len("".join(self.content))
        return [{"type": "url_citation",
                 "url_citation": {"url": source_url(s.name), "title": s.name,
                                  "start_index": 0, "end_index": end}}
                for s in self.sources]

    def _delta(self, text: str) -> list[dict[str, Any]]:
        if self._where == "reasoning":
            self.reasoning.append(text)
            return [{"reasoning": text}]
        if self._where == "content":
            text = self.matcher.feed(text)
            if not text:
                return []
            self.content.append(text)
            return [{"content": text}]
        if self._where == "call":
            call = self.tool_calls[-1]
            call["function"]["arguments"] += text
            return [{"tool_calls": [{"index": call["index"], "function": {"arguments": text}}]}]
        return []

    @property
    def finish_reason(self) -> str:
        if self.stopped or self.end is None:
            return "stop"
        return FINISH[self.end.stop_reason]

    def usage(self) -> dict[str, Any] | None:
        if self.end is None:
            return None
        u = self.end.usage
        reasoning = self.count_tokens("".join(self.reasoning)) if self.reasoning else 0
        return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens, "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning}}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                             "logprobs": None}]}

    def usage_chunk(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": self.usage()}

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.reasoning:
            message["reasoning"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if self.sources:
            message["annotations"] = self.annotations()
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason,
                             "logprobs": None}],
                "usage": self.usage()}


class ChatStream:
    """The Chat Completions side of a generation (see `conversation.Translator`)."""

    def __init__(self, builder: ChatBuilder, stream: bool) -> None:
        self.builder = builder
        self.stream = stream
        self.started = False

    @property
    def stopped(self) -> bool:
        return self.builder.stopped

    @staticmethod
    def _data(chunks: list[dict[str, Any]]) -> str:
        return "".join(sse(json.dumps(c, ensure_ascii=False)) for c in chunks)

    def feed(self, events: list[Any]) -> str:
        b = self.builder
        if not self.stream:
            for event in events:
                b.on(event)
            return ""
        out = []
        if not self.started:
            self.started = True
            out.append(b.chunk({"role": "assistant", "content": ""}))
        for event in coalesce(events):
            out.extend(b.chunk(delta) for delta in b.on(event))
        return self._data(out)

    def _error(self) -> dict[str, Any]:
        error = self.builder.error
        return APIError(500, error.message if error else "The turn did not finish.",
                        type="server_error", code=error.kind if error else None).body()

    def finish(self, messages: list[dict[str, Any]]) -> Any:
        b = self.builder
        failed = b.error is not None or (b.end is None and not b.stopped)
        if not self.stream:
            return (500, self._error()) if failed else (200, b.completion())
        out = [b.chunk({"annotations": b.annotations()} if b.sources else {}, b.finish_reason)]
        if self.builder.req.stream_options and self.builder.req.stream_options.include_usage:
            out.append(b.usage_chunk())
        if failed:
            out.append(self._error())
        return self._data(out) + sse("[DONE]")

    def fail(self, message: str) -> Any:
        self.builder.error = TurnError("backend_error", message)
        return self.finish([])
