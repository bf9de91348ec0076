"""Completions: generated token ids → text, as one completion object or its chunks."""

import json
import time
from collections.abc import Callable
from typing import Any

from ..conversation import StopMatcher, new_id, sse
from ..errors import APIError
from .protocol import CompletionRequest

HOLD = 4  # tokens held back at most while they decode to a partial UTF-8 character


class CompletionStream:
    """The Completions side of a generation (see `conversation.Translator`): its events are
    token ids, decoded here on the worker thread."""

    def __init__(self, req: CompletionRequest, model: str, prompt_text: str, prompt_tokens: int,
                 decode: Callable[[list[int]], str]) -> None:
        self.req = req
        self.model = model
        self.decode = decode
        self.stream = req.stream
        self.id = new_id("cmpl")
        self.created = int(time.time())
        self.matcher = StopMatcher(req.stops)
        self.prompt_tokens = prompt_tokens
        self.generated = 0
        self.pending: list[int] = []
        self.text: list[str] = [prompt_text] if req.echo else []
        self.started = False

    @property
    def stopped(self) -> bool:
        return self.matcher.hit

    def _decoded(self, tokens: list[int], final: bool) -> str:
        self.pending.extend(tokens)
        text = self.decode(self.pending)
        if not final and text.endswith("\ufffd") and len(self.pending) < HOLD:
            return ""  # a character split across tokens: wait for its end
        self.pending = []
        out = self.matcher.feed(text) if not self.stopped else ""
        return out + (self.matcher.flush() if final and not self.stopped else "")

    def feed(self, events: list[Any]) -> str:
        self.generated += len(events)
        text = self._decoded(events, final=False)
        return self._emit(text)

    def _emit(self, text: str) -> str:
        if not self.stream:
            self.text.append(text)
            return ""
        out = []
        if not self.started and self.text:  # echo: the prompt first
            out.append(self._chunk("".join(self.text)))
        self.started = True
        if text:
            out.append(self._chunk(text))
        return "".join(sse(json.dumps(c, ensure_ascii=False)) for c in out)

    def _chunk(self, text: str, finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model,
                "choices": [{"text": text, "index": 0, "logprobs": None,
                             "finish_reason": finish}]}

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.generated,
                "total_tokens": self.prompt_tokens + self.generated}

    def finish(self, messages: list[dict[str, Any]], stop_token: bool = False) -> Any:
        tail = self._emit(self._decoded([], final=True))
        reason = "stop" if self.stopped or stop_token or self.generated < self.req.max_tokens \
            else "length"
        if not self.stream:
            body = self._chunk("".join(self.text), reason)
            body["usage"] = self.usage()
            return 200, body
        out = [self._chunk("", reason)]
        if self.req.stream_options and self.req.stream_options.include_usage:
            out.append({**self._chunk(""), "choices": [], "usage": self.usage()})
        return tail + "".join(sse(json.dumps(c, ensure_ascii=False)) for c in out) + \
            sse("[DONE]")

    def fail(self, message: str) -> Any:
        error = APIError(500, message, type="server_error", code="backend_error").body()
        if not self.stream:
            return 500, error
        return sse(json.dumps(error)) + sse("[DONE]")
