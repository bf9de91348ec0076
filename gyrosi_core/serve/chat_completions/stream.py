"""Chat Completions: turn events → a completion object or its chunks.

The Harmony `analysis` channel is sent as the message's `reasoning` field (what gpt-oss's
chat-completions sampler reads); `final` (and commentary addressed to no one) as `content`.
"""

import json
import time
from collections.abc import Callable
from typing import Any

from ...events import ContentDelta, MessageEnd, MessageStart, SourceCited
from ..conversation import StopMatcher, new_id, sse
from ..turn_stream import TurnFollower, TurnStream
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


class ChatBuilder(TurnFollower):
    """Follows a turn's events; collects the completion and yields stream deltas."""

    def __init__(self, req: ChatRequest, model: str, external: set[str],
                 count_tokens: Callable[[str], int]) -> None:
        super().__init__(req.choice)
        self.req = req
        self.count_tokens = count_tokens
        self.model = model
        self.external = external
        self.id = new_id("chatcmpl")
        self.created = int(time.time())
        self.matcher = StopMatcher(req.stops)
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self._where: str | None = None  # "content", "reasoning", "call" or None
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
        else:
            self.ended(event)
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


class ChatStream(TurnStream[ChatBuilder]):
    """The Chat Completions side of a generation (see `conversation.Translator`)."""

    @property
    def stopped(self) -> bool:
        return self.builder.stopped

    def opening(self) -> list[Any]:
        return [self.builder.chunk({"role": "assistant", "content": ""})]

    def output(self, event: Any) -> list[Any]:
        return [self.builder.chunk(delta) for delta in self.builder.on(event)]

    def write(self, items: list[Any]) -> str:
        return "".join(sse(json.dumps(c, ensure_ascii=False)) for c in items)

    def finish(self, messages: list[dict[str, Any]]) -> Any:
        b = self.builder
        failed = b.error is not None or (b.end is None and not b.stopped)
        if not self.stream:
            return (500, b.error_body()) if failed else (200, b.completion())
        out = [b.chunk({"annotations": b.annotations()} if b.sources else {}, b.finish_reason)]
        if b.req.stream_options and b.req.stream_options.include_usage:
            out.append(b.usage_chunk())
        if failed:
            out.append(b.error_body())
        return self.write(out) + sse("[DONE]")
