"""The Responses API: turn events → the response object and its SSE events.

Types and events are gpt-oss's (`gpt_oss.responses_api.types`, `.events`); the few events it
lacks (function-call arguments, failed, incomplete) are declared here on its `ResponseEvent`.
"""

import json
import time
from collections.abc import Callable
from typing import Any, Literal

from gpt_oss.responses_api import events as ev
from gpt_oss.responses_api import types as t
from pydantic import BaseModel

from ...config import CoreConfig
from ...events import ContentDelta, MessageEnd, MessageStart, SourceCited
from ..conversation import function_name, new_id, sse
from ..turn_stream import TurnFollower, TurnStream
from .protocol import NamedFunction, ResponsesRequest

# -- the response object: gpt-oss's, with the request echoed and usage in detail --------------


class Usage(t.Usage):
    input_tokens_details: dict[str, int]
    output_tokens_details: dict[str, int]


class Response(t.ResponseObject):
    """OpenAI's response object echoes the request's settings (effective values)."""

    usage: Usage | None = None  # type: ignore[assignment]
    background: bool | None = False  # type: ignore[assignment]
    tool_choice: str | dict[str, Any] = "auto"  # type: ignore[assignment]
    top_p: float | None = 1.0  # type: ignore[assignment]
    temperature: float | None = None
    tools: list[dict[str, Any]] = []
    reasoning: dict[str, Any] | None = None
    store: bool = True
    truncation: str = "disabled"
    service_tier: str = "default"
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    top_logprobs: int = 0


def echo(req: ResponsesRequest, settings: CoreConfig) -> dict[str, Any]:
    """The request fields a response repeats, as in OpenAI's API."""
    choice = req.tool_choice
    return {
        "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "previous_response_id": req.previous_response_id, "metadata": req.metadata or {},
        "temperature": settings.temperature, "top_p": 1.0,
        "tools": [tool.model_dump(mode="json", by_alias=True, exclude_none=True)
                  for tool in req.tools or []],
        "tool_choice": choice.model_dump() if isinstance(choice, NamedFunction) else choice,
        "parallel_tool_calls": req.parallel_tool_calls is not False,
        "reasoning": {"effort": settings.reasoning_effort, "summary": None},
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "store": req.store is not False, "user": req.user,
        "safety_identifier": req.safety_identifier, "prompt_cache_key": req.prompt_cache_key,
    }


# -- events the gpt-oss module lacks --------------------------------------------------------


class FunctionCallArgumentsDelta(ev.ResponseEvent):
    type: Literal["response.function_call_arguments.delta"] = \
        "response.function_call_arguments.delta"
    item_id: str
    output_index: int
    delta: str


class FunctionCallArgumentsDone(ev.ResponseEvent):
    type: Literal["response.function_call_arguments.done"] = \
        "response.function_call_arguments.done"
    item_id: str
    output_index: int
    arguments: str


class ToolOutputDone(ev.ResponseEvent):
    """`output_item.done` for the answer of a tool the server ran."""

    type: Literal["response.output_item.done"] = "response.output_item.done"
    output_index: int
    item: t.FunctionCallOutputItem


class ResponseIncomplete(ev.ResponseEvent):
    type: Literal["response.incomplete"] = "response.incomplete"
    response: t.ResponseObject


class ResponseFailed(ev.ResponseEvent):
    type: Literal["response.failed"] = "response.failed"
    response: t.ResponseObject


# -- builtin tools: the items the reference server streams for them ---------------------------


def builtin_kind(recipient: str | None) -> str | None:
    """`browser` or `python` for a call to those builtin namespaces, else None."""
    if recipient and recipient.startswith("browser."):
        return "browser"
    if recipient == "python" or (recipient or "").startswith("python."):
        return "python"
    return None


def web_action(recipient: str, arguments: str) -> Any:
    """The `action` of a web_search_call item, from a `browser.*` call's JSON arguments."""
    try:
        args = json.loads(arguments)
    except ValueError:
        args = {}
    args = args if isinstance(args, dict) else {}
    url = args.get("url") or (args["id"] if isinstance(args.get("id"), str) else None)
    match recipient.removeprefix("browser."):
        case "open":
            return t.WebSearchActionOpenPage(type="open_page", url=url)
        case "find":
            return t.WebSearchActionFind(type="find", pattern=args.get("pattern"), url=url)
        case _:
            return t.WebSearchActionSearch(type="search", query=args.get("query"))


# -- events → response ----------------------------------------------------------------------


class FileCitation(BaseModel):
    """OpenAI's `file_citation` annotation (gpt-oss's types only know URL citations): the
    learned document an answer is taken from, by its name in the backend's memory."""

    type: Literal["file_citation"] = "file_citation"
    file_id: str
    filename: str
    index: int = 0


class CitedText(t.TextContentItem):
    annotations: list[t.UrlCitation | FileCitation] | None = None  # type: ignore[assignment]


class FileCitationAdded(ev.ResponseEvent):
    type: Literal["response.output_text.annotation.added"] = (
        "response.output_text.annotation.added")
    item_id: str
    output_index: int
    content_index: int = 0
    annotation_index: int
    annotation: FileCitation


def citation(source: SourceCited) -> FileCitation:
    return FileCitation(file_id=source.name, filename=source.name.rsplit("/", 1)[-1], index=0)


class ResponseBuilder(TurnFollower):
    """Follows a turn's events, keeps the output items, and says what to stream."""

    def __init__(self, req: ResponsesRequest, model: str, response_id: str,
                 external: set[str], settings: CoreConfig,
                 count_tokens: Callable[[str], int]) -> None:
        super().__init__(req.choice)
        self.req = req
        self.echo = echo(req, settings)
        self.count_tokens = count_tokens
        self.reasoning_tokens = 0
        self.model = model
        self.id = response_id
        self.external = external  # recipients the client runs
        self.created_at = int(time.time())
        self.output: list[Any] = []
        self.calls: dict[str, str] = {}  # call_id -> function name, for client calls
        self._item: Any = None  # the item being streamed
        self._index = -1
        self._pending_call: str | None = None  # call_id of a server-side call awaiting output
        self._pending_builtin: tuple[Any, int] | None = None  # browser/python item, its index
        self.citations: list[FileCitation] = []  # sources named for the next answer message
        # the browser's citation normaliser, when the request runs the browser (see `cited`)
        self.cite: Callable[[str], tuple[str, list[dict[str, Any]], bool]] | None = None
        self._raw = ""  # the answer so far as the model wrote it
        self._shown = ""  # ... and as sent, citations normalised
        self._urls: list[t.UrlCitation] = []

    def response(self, status: str = "in_progress") -> Response:
        usage = None
        incomplete = None
        error = None
        if self.end is not None:
            u = self.end.usage
            usage = Usage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens,
                          total_tokens=u.total_tokens,
                          input_tokens_details={"cached_tokens": 0},
                          output_tokens_details={"reasoning_tokens": self.reasoning_tokens})
            if self.end.stop_reason == "length":
                incomplete = t.IncompleteDetails(reason="max_output_tokens")
        if self.error is not None:
            error = t.Error(code=self.error.kind, message=self.error.message)
        return Response(id=self.id, created_at=self.created_at, status=status,
                        output=list(self.output), model=self.model, usage=usage, error=error,
                        incomplete_details=incomplete, **self.echo)

    @property
    def status(self) -> str:
        if self.error is not None or self.end is None:
            return "failed"
        return "incomplete" if self.end.stop_reason == "length" else "completed"

    def start(self) -> list[ev.ResponseEvent]:
        created = self.response()
        return [ev.ResponseCreatedEvent(type="response.created", response=created),
                ev.ResponseInProgressEvent(type="response.in_progress", response=created)]

    def finish(self) -> list[ev.ResponseEvent]:
        final = self.response(self.status)
        if self.status == "failed":
            return [ResponseFailed(response=final)]
        if self.status == "incomplete":
            return [ResponseIncomplete(response=final)]
        return [ev.ResponseCompletedEvent(type="response.completed", response=final)]

    def on(self, event: Any) -> list[BaseModel]:
        if isinstance(event, ContentDelta):
            return self._delta(event)
        if isinstance(event, MessageStart):
            return self._start(event)
        if isinstance(event, MessageEnd):
            return self._end(event)
        if isinstance(event, SourceCited):
            self.citations.append(citation(event))
        else:
            self.ended(event)
        return []

    def _open(self, item: Any) -> ev.ResponseOutputItemAdded:
        self._index += 1
        self._item = item
        self.output.append(item)
        # a copy: the item fills in before this event is serialised
        return ev.ResponseOutputItemAdded(output_index=self._index, item=item.model_copy())

    def _start(self, e: MessageStart) -> list[BaseModel]:
        if e.role != "assistant":
            return []
        if e.recipient:
            self.recipients.append(e.recipient)
        if builtin_kind(e.recipient):  # announced whole at its end, as the reference does
            return []
        if e.recipient:
            name = function_name(e.recipient) if e.recipient in self.external else e.recipient
            item = t.FunctionCallItem(type="function_call", name=name, arguments="",
                                      status="in_progress", id=new_id("fc"),
                                      call_id=new_id("call"))
            return [self._open(item)]
        if e.channel == "analysis":
            rs = t.ReasoningItem(id=new_id("rs"), type="reasoning", summary=[], content=[])
            return [self._open(rs),
                    ev.ResponseContentPartAdded(
                        item_id=rs.id, output_index=self._index,
                        part=t.ReasoningTextContentItem(type="reasoning_text", text=""))]
        msg = t.Item(id=new_id("msg"), type="message", role="assistant", content=[],
                     status="in_progress")
        opened = [self._open(msg),
                  ev.ResponseContentPartAdded(
                      item_id=msg.id or "", output_index=self._index,
                      part=t.TextContentItem(type="output_text", text="", annotations=[]))]
        return opened + [FileCitationAdded(item_id=msg.id or "", output_index=self._index,
                                           annotation_index=n, annotation=c)
                         for n, c in enumerate(self.citations)]

    def _delta(self, e: ContentDelta) -> list[BaseModel]:
        item, i = self._item, self._index
        if e.role != "assistant" or item is None:
            return []
        if isinstance(item, t.FunctionCallItem):
            return [FunctionCallArgumentsDelta(item_id=item.id, output_index=i, delta=e.text)]
        if isinstance(item, t.ReasoningItem):
            return [ev.ResponseReasoningTextDelta(item_id=item.id, output_index=i, delta=e.text)]
        if self.cite is None:
            return [ev.ResponseOutputTextDelta(item_id=item.id, output_index=i, delta=e.text)]
        return self._cited_delta(item.id, i, e.text)

    def _cited_delta(self, item_id: str, i: int, text: str) -> list[BaseModel]:
        """As gpt-oss's reference server: browser citations (`【3†L1-L5】`) in the answer become
        ` ([domain](url)) ` with a url_citation annotation; text is held back while a citation
        is incomplete, so deltas add up to the normalised text."""
        assert self.cite is not None
        self._raw += text
        normalised, found, partial = self.cite(self._raw)
        out: list[BaseModel] = []
        for a in found:
            if a["start_index"] not in {u.start_index for u in self._urls}:
                self._urls.append(t.UrlCitation(**a))
                out.append(ev.ResponseOutputTextAnnotationAdded(
                    item_id=item_id, output_index=i, annotation_index=len(self._urls) - 1,
                    annotation=self._urls[-1]))
        if not partial and len(normalised) > len(self._shown):
            out.append(ev.ResponseOutputTextDelta(item_id=item_id, output_index=i,
                                                  delta=normalised[len(self._shown):]))
            self._shown = normalised
        return out

    def _end(self, e: MessageEnd) -> list[BaseModel]:
        item, i = self._item, self._index
        if e.role == "tool" and self._pending_builtin is not None:
            return self._builtin_done(e)
        if e.role == "assistant" and item is None and builtin_kind(e.recipient):
            return self._builtin_call(e)
        if e.role == "tool":  # the answer of a tool the server ran
            if self._pending_call is None:
                return []
            out = t.FunctionCallOutputItem(type="function_call_output",
                                           call_id=self._pending_call, output=e.text)
            self._pending_call = None
            self._index += 1
            self.output.append(out)
            return [ToolOutputDone(output_index=self._index, item=out)]
        if item is None:
            return []
        self._item = None
        if isinstance(item, t.FunctionCallItem):
            item.arguments, item.status = e.text, "completed"
            if e.recipient in self.external:
                self.calls[item.call_id] = item.name
            else:
                self._pending_call = item.call_id
            return [FunctionCallArgumentsDone(item_id=item.id, output_index=i,
                                              arguments=e.text),
                    ev.ResponseOutputItemDone(output_index=i, item=item)]
        if isinstance(item, t.ReasoningItem):
            part = t.ReasoningTextContentItem(type="reasoning_text", text=e.text)
            item.content = [part]
            self.reasoning_tokens += self.count_tokens(e.text)
            return [ev.ResponseReasoningTextDone(item_id=item.id, output_index=i, text=e.text),
                    ev.ResponseContentPartDone(item_id=item.id, output_index=i, part=part),
                    ev.ResponseOutputItemDone(output_index=i, item=item)]
        final, rest = e.text, []
        if self.cite is not None:  # the whole text, normalised; what was held back is sent
            final = self.cite(e.text)[0]
            if len(final) > len(self._shown):
                rest = [ev.ResponseOutputTextDelta(item_id=item.id, output_index=i,
                                                   delta=final[len(self._shown):])]
        urls, self._urls, self._raw, self._shown = self._urls, [], "", ""
        text = CitedText(type="output_text", text=final,
                         annotations=[*self.citations, *urls])
        self.citations = []
        item.content, item.status = [text], "completed"
        return [*rest, ev.ResponseOutputTextDone(item_id=item.id, output_index=i, text=final),
                ev.ResponseContentPartDone(item_id=item.id, output_index=i, part=text),
                ev.ResponseOutputItemDone(output_index=i, item=item)]


    def _builtin_call(self, e: MessageEnd) -> list[BaseModel]:
        """A browser call becomes a web_search_call item, a python call a code_interpreter_call:
        added, in progress, then searching / code / interpreting while the tool runs."""
        self._index += 1
        i = self._index
        item: Any
        events: list[BaseModel]
        if builtin_kind(e.recipient) == "browser":
            item = t.WebSearchCallItem(type="web_search_call", id=new_id("ws"),
                                       status="in_progress",
                                       action=web_action(e.recipient or "", e.text))
            events = [ev.ResponseOutputItemAdded(output_index=i, item=item.model_copy()),
                      ev.ResponseWebSearchCallInProgress(output_index=i, item_id=item.id),
                      ev.ResponseWebSearchCallSearching(output_index=i, item_id=item.id)]
        else:
            item = t.CodeInterpreterCallItem(type="code_interpreter_call", id=new_id("ci"),
                                             status="in_progress", code=e.text or None)
            events = [ev.ResponseOutputItemAdded(output_index=i, item=item.model_copy()),
                      ev.ResponseCodeInterpreterCallInProgress(output_index=i, item_id=item.id)]
            if e.text:
                events += [
                    ev.ResponseCodeInterpreterCallCodeDelta(output_index=i, item_id=item.id,
                                                            delta=e.text),
                    ev.ResponseCodeInterpreterCallCodeDone(output_index=i, item_id=item.id,
                                                           code=e.text)]
            events.append(ev.ResponseCodeInterpreterCallInterpreting(output_index=i,
                                                                    item_id=item.id))
        self.output.append(item)
        self._pending_builtin = (item, i)
        return events

    def _builtin_done(self, e: MessageEnd) -> list[BaseModel]:
        assert self._pending_builtin is not None
        item, i = self._pending_builtin
        self._pending_builtin = None
        item.status = "completed"
        done: BaseModel
        if isinstance(item, t.CodeInterpreterCallItem):
            item.outputs = [t.CodeInterpreterOutputLogs(type="logs", logs=e.text)] if e.text \
                else []
            done = ev.ResponseCodeInterpreterCallCompleted(output_index=i, item_id=item.id)
        else:
            done = ev.ResponseWebSearchCallCompleted(output_index=i, item_id=item.id)
        return [done, ev.ResponseOutputItemDone(output_index=i, item=item)]


DELTAS = (ev.ResponseOutputTextDelta, ev.ResponseReasoningTextDelta)


class ResponseStream(TurnStream[ResponseBuilder]):
    """The Responses API side of a generation (see `conversation.Translator`)."""

    def __init__(self, builder: ResponseBuilder, stream: bool,
                 save: Callable[[list[dict[str, Any]]], None] | None) -> None:
        super().__init__(builder, stream)
        self.save = save
        self.sequence = 0
        self.stopped = False

    def use_tools(self, tools: dict[str, Any]) -> None:
        """The conversation's tools, once open: a browser's citations are normalised."""
        cite = getattr(tools.get("browser"), "normalize_citations", None)
        self.builder.cite = cite if callable(cite) else None

    def opening(self) -> list[Any]:
        return self.builder.start()

    def write(self, items: list[Any]) -> str:
        parts = []
        for event in items:
            event.sequence_number = self.sequence
            self.sequence += 1
            # events that carry the response or an item hold subclasses (the echoed response,
            # cited text) that only serialize_as_any writes whole; the many deltas do not
            whole = not isinstance(event, DELTAS)
            parts.append(sse(event.model_dump_json(serialize_as_any=whole), event.type))
        return "".join(parts)

    def finish(self, messages: list[dict[str, Any]]) -> Any:
        b = self.builder
        if self.save is not None and b.status != "failed":
            self.save(messages)
        if self.stream:
            return self.write(b.finish())
        if b.status == "failed":
            return 500, b.error_body()
        return 200, b.response(b.status).model_dump(mode="json", serialize_as_any=True)
