"""What both APIs share: a request turned into a conversation for the turn engine, and the
events of a finished batch merged so a fast backend is streamed in few writes."""

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from openai_harmony import (
    Author,
    HarmonyEncoding,
    Message,
    Role,
    TextContent,
    ToolDescription,
)

from ..config import CoreConfig
from ..events import ContentDelta
from ..specs import ToolSpec
from ..turn import Conversation, TurnEngine
from .errors import APIError

# Builtin tool types of the Responses API and the tool plugin name each maps to.
BUILTIN_TOOLS = {"web_search": "browser", "browser_search": "browser",
                 "web_search_preview": "browser", "code_interpreter": "python"}
JSON_CONSTRAINT = "<|constrain|>json"


def token_counter(encoding: HarmonyEncoding) -> Callable[[str], int]:
    """Counts the tokens of a text (usage details). Special-token names in it count as text:
    checking for them would build a regex of every special token on each call (~3 ms)."""
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Failure:
    """Why a finished turn is not a valid answer to its request (like a `TurnError`)."""

    kind: str
    message: str


@dataclass(frozen=True)
class ToolChoice:
    """A request's tool_choice: mode `auto`, `none`, `required` or `function` (with `name`)."""

    mode: str = "auto"
    name: str | None = None

    def describe(self) -> str:
        return f"the function {self.name!r}" if self.mode == "function" else repr(self.mode)

    def hint(self) -> str | None:
        """What the developer message tells the model, for a choice that needs a call."""
        if self.mode == "required":
            return "You must call one of the tools before you answer."
        if self.mode == "function":
            return f"You must call the function {self.name} before you answer."
        return None

    def violation(self, recipients: list[str]) -> str | None:
        """Why the calls the model made (`recipients`, in order) break this choice, if they do;
        a backend's model that cannot comply is reported, never passed off as compliant."""
        if self.mode == "none" and recipients:
            return f"tool_choice is 'none' but the model called {recipients[0]!r}."
        if self.mode == "required" and not recipients:
            return "tool_choice is 'required' but the model answered without calling a tool."
        if self.mode == "function" and (not recipients
                                        or recipients[0] != f"functions.{self.name}"):
            did = f"called {recipients[0]!r}" if recipients else "answered without a call"
            return f"tool_choice names the function {self.name!r} but the model {did}."
        return None


def unsupported(param: str, why: str) -> NoReturn:
    """Refuse a parameter OpenAI defines that this server does not honour."""
    raise APIError(400, f"The parameter {param!r} is not supported by this server: {why}.",
                   param=param, code="unsupported_parameter")


@dataclass
class TurnRequest:
    """A request in the engine's terms: history, new messages, settings and tools."""

    history: list[Message]
    new: list[Message]
    settings: CoreConfig
    functions: dict[str, ToolDescription] = field(default_factory=dict)  # the client runs these
    builtins: list[str] = field(default_factory=list)  # tool plugins the request asked for
    conversation_id: str | None = None
    choice: ToolChoice = field(default_factory=ToolChoice)


def user(text: str) -> Message:
    return Message.from_role_and_content(Role.USER, text)


def assistant(text: str, channel: str = "final") -> Message:
    return Message.from_role_and_content(Role.ASSISTANT, text).with_channel(channel)


def function_call(name: str, arguments: str) -> Message:
    recipient = name if "." in name else f"functions.{name}"
    return (Message.from_role_and_content(Role.ASSISTANT, arguments)
            .with_channel("commentary").with_recipient(recipient)
            .with_content_type(JSON_CONSTRAINT))


def function_output(name: str, output: str) -> Message:
    recipient = name if "." in name else f"functions.{name}"
    return (Message.from_author_and_content(Author.new(Role.TOOL, recipient),
                                            TextContent(text=output))
            .with_recipient("assistant").with_channel("commentary"))


def function_name(recipient: str) -> str:
    return recipient.removeprefix("functions.")


def settings_for(base: CoreConfig, **overrides: Any) -> CoreConfig:
    values = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=values) if values else base


def open_conversation(engine: TurnEngine, specs: dict[str, ToolSpec], req: TurnRequest,
                      conversation_id: str) -> Conversation:
    """The conversation the engine runs: server-side tools (those enabled in the config plus
    builtins the request named), minus any name a client function takes over; `tool_choice`
    `none` hides every tool, a named function every other one."""
    wanted = dict(engine.tool_specs)
    for name in req.builtins:
        wanted[name] = specs[name]
    functions = dict(req.functions)
    choice = req.choice
    if choice.mode in ("none", "function"):
        wanted = {}
        functions = {k: v for k, v in functions.items() if k == f"functions.{choice.name}"}
    tools = {name: spec.factory(engine.config.tool_section(name))
             for name, spec in wanted.items() if name not in functions}
    settings = req.settings
    if hint := choice.hint():
        developer = "\n\n".join(filter(None, [settings.developer_message, hint]))
        settings = settings.model_copy(update={"developer_message": developer})
    return Conversation(tools=tools, id=conversation_id, messages=list(req.history),
                        settings=settings, external=functions)


def builtin_tools(types: Iterable[str], specs: dict[str, ToolSpec],
                  allowed: Sequence[str]) -> list[str]:
    """The tool plugins a request's builtin tool types ask for; each must be installed and
    allowed by `serve.builtin_tools`."""
    names = []
    for kind in types:
        name = BUILTIN_TOOLS.get(kind)
        if name is None:
            continue
        if name not in allowed:
            raise APIError(400, f"The tool type {kind!r} is not enabled on this server (its "
                           f"operator can add {name!r} to serve.builtin_tools).", param="tools",
                           code="unsupported_tool")
        if name not in specs:
            raise APIError(400, f"The tool type {kind!r} needs the {name!r} tool plugin, which "
                           f"is not installed on this server.", param="tools",
                           code="unsupported_tool")
        names.append(name)
    return names


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


class Translator(Protocol):
    """Turns one turn's events into what the client receives; runs on the worker thread."""

    @property
    def stopped(self) -> bool:
        """The client wants no more output (a stop string was met)."""
        ...

    def feed(self, events: list[Any]) -> str:
        """Stream text for these events ("" when not streaming)."""
        ...

    def finish(self, messages: list[dict[str, Any]]) -> Any:
        """After the turn: the closing stream text, or (status, body) when not streaming.
        `messages` is the conversation so far, as Harmony message dicts."""
        ...

    def fail(self, message: str) -> Any:
        """The turn raised after output was sent: say so, like `finish`."""
        ...


def coalesce(batch: list[Any]) -> list[Any]:
    """Merge runs of deltas of the same message into one delta (same text, fewer events)."""
    out: list[Any] = []
    run: list[str] = []
    for item in batch:
        if isinstance(item, ContentDelta) and out and isinstance(prev := out[-1], ContentDelta) \
                and (prev.channel, prev.recipient) == (item.channel, item.recipient):
            run.append(item.text)
            continue
        if run:
            out[-1] = _joined(out[-1], run)
            run = []
        out.append(item)
        if isinstance(item, ContentDelta):
            run = [item.text]
    if run:
        out[-1] = _joined(out[-1], run)
    return out


def _joined(delta: ContentDelta, texts: list[str]) -> ContentDelta:
    if len(texts) == 1:
        return delta
    return ContentDelta(delta.role, delta.channel, delta.recipient, "".join(texts))


def sse(data: str, event: str | None = None) -> str:
    return f"event: {event}\ndata: {data}\n\n" if event else f"data: {data}\n\n"
