"""Chat Completions: messages → conversation, and turn events → completion and chunks.

The Harmony `analysis` channel is sent as the message's `reasoning` field (what gpt-oss's
chat-completions sampler reads); `final` (and commentary addressed to no one) as `content`.
"""

import json
import time
from typing import Any, Literal

from openai_harmony import Message, ToolDescription
from pydantic import BaseModel, ConfigDict, Field

from ..config import CoreConfig
from ..events import ContentDelta, MessageEnd, MessageStart, SourceCited, TurnEnd, TurnError
from .conversation import (
    TurnRequest,
    assistant,
    coalesce,
    function_call,
    function_output,
    new_id,
    settings_for,
    sse,
    user,
)
from .errors import APIError


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Lenient):
    type: str
    text: str | None = None


class CalledFunction(_Lenient):
    name: str
    arguments: str = ""


class ToolCall(_Lenient):
    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    reasoning: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDefinition(_Lenient):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}})


class ChatTool(_Lenient):
    type: Literal["function"]
    function: FunctionDefinition


class StreamOptions(_Lenient):
    include_usage: bool = False


class ChatRequest(_Lenient):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ChatTool] | None = None
    tool_choice: Any = None
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None

    @property
    def stops(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return [s for s in stops if s]


def _text(content: str | list[ContentPart] | None, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.text is None:
            raise APIError(400, f"Only text content is supported, not {part.type!r}.",
                           param=where, code="unsupported_content")
        texts.append(part.text)
    return "".join(texts)


def to_turn(req: ChatRequest, base: CoreConfig) -> TurnRequest:
    instructions: list[str] = []
    calls: dict[str, str] = {}
    messages: list[Message] = []
    for i, m in enumerate(req.messages):
        text = _text(m.content, f"messages.{i}.content")
        if m.role in ("system", "developer"):
            instructions.append(text)
        elif m.role == "user":
            messages.append(user(text))
        elif m.role == "assistant":
            if reasoning := m.reasoning or m.reasoning_content:
                messages.append(assistant(reasoning, "analysis"))
            if text:
                messages.append(assistant(text))
            for call in m.tool_calls or []:
                calls[call.id] = call.function.name
                messages.append(function_call(call.function.name, call.function.arguments))
        else:
            name = calls.get(m.tool_call_id or "")
            if name is None:
                raise APIError(400, f"The tool message's tool_call_id {m.tool_call_id!r} "
                               f"matches no earlier assistant tool call.",
                               param=f"messages.{i}.tool_call_id")
            messages.append(function_output(name, text))
    functions = {
        f"functions.{tool.function.name}": ToolDescription.new(
            tool.function.name, tool.function.description, parameters=tool.function.parameters)
        for tool in req.tools or []
    }
    settings = settings_for(
        base,
        reasoning_effort=req.reasoning_effort,
        temperature=req.temperature,
        seed=req.seed,
        max_tokens=req.max_completion_tokens or req.max_tokens,
        developer_message="\n\n".join(instructions) if instructions else None,
    )
    # the last message is the new input; everything before it is history
    return TurnRequest(messages[:-1], messages[-1:], settings, functions)


class StopMatcher:
    """Cuts streamed text at the first stop string, holding back a possible partial match."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.held = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if not self.stops:
            return text
        buf = self.held + text
        cut = min((i for s in self.stops if (i := buf.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.hit, self.held = True, ""
            return buf[:cut]
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(buf)), keep, -1):
                if s.startswith(buf[-n:]):
                    keep = n
                    break
        self.held = buf[len(buf) - keep:] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


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

    def __init__(self, req: ChatRequest, model: str, external: set[str]) -> None:
        self.req = req
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
        self.error: TurnError | None = None
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

    def usage(self) -> dict[str, int] | None:
        if self.end is None:
            return None
        u = self.end.usage
        return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens}

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
