"""The turn engine: one pipeline from messages to typed events, shared by every front-end.

    messages → render (openai_harmony) → Backend.generate → StreamableParser → events
             → recipient? → tool → tool messages appended → next round

A conversation commits the messages of a turn only when the turn completes, so an interrupted
or failed turn leaves the history as it was and the front-end stays usable.
"""

import asyncio
import contextlib
import datetime
import logging
import uuid
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpt_oss.tools.tool import Tool
from openai_harmony import (
    Conversation as HarmonyConversation,
)
from openai_harmony import (
    DeveloperContent,
    HarmonyEncoding,
    HarmonyError,
    Message,
    ReasoningEffort,
    Role,
    StreamableParser,
    SystemContent,
    ToolDescription,
)

from .backend import Backend, GenerateRequest, Source, start_generation
from .channels import ChannelHandler, wants
from .config import Config, CoreConfig
from .errors import ContextLengthError, GyrosiError, PluginError
from .events import (
    ContentDelta,
    Event,
    MessageEnd,
    MessageStart,
    RawText,
    SourceCited,
    StopReason,
    TurnEnd,
    TurnError,
    TurnStart,
    Usage,
)
from .harmony import SpecialTokens, message_text
from .specs import BackendSpec, PluginInfo, ToolSpec
from .tools import FunctionTool, dispatch, namespace_config

log = logging.getLogger(__name__)

EFFORTS = {e.value.lower(): e for e in ReasoningEffort}
# A real header (channel, recipient, content type) is a handful of tokens; a "header" this long
# means the parser is swallowing text that was never Harmony (a random-weight model's output).
MAX_HEADER_TOKENS = 64


@dataclass
class Conversation:
    """History plus the tool instances (and their event loop) that live as long as it does.

    A front-end that serves clients (the API server) may set `settings` to override the core
    settings for this conversation (effort, instructions, limits) and `external` to declare
    functions the *client* runs: the model sees them, and a call to one ends the turn with stop
    reason `tool_calls` instead of being dispatched here.
    """

    tools: dict[str, Tool | FunctionTool]
    id: str = field(default_factory=lambda: f"conv_{uuid.uuid4().hex}")
    messages: list[Message] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    settings: CoreConfig | None = None
    external: dict[str, ToolDescription] = field(default_factory=dict)  # by `functions.NAME`

    def close(self) -> None:
        close_all(self.tools.values())
        self.loop.close()


def close_all(objects: Iterable[object]) -> None:
    """Call `close()` on each object that has one (tools, handlers: it is optional for them)."""
    for obj in objects:
        closer = getattr(obj, "close", None)
        if callable(closer):
            closer()


def _role(message: Message) -> str:
    return message.author.role.value


def message_end(message: Message) -> MessageEnd:
    return MessageEnd(
        role=_role(message),
        channel=message.channel,
        recipient=message.recipient,
        text=message_text(message),
        author=message.author.name,
        content_type=message.content_type,
    )


class _ParseTracker:
    """Turns StreamableParser progress into start/delta/end events.

    The parser validates every token; where we are (header, content, between messages) is
    followed here from the special tokens, because `StreamableParser.state` serialises the whole
    parse to JSON on every call, which made a turn quadratic in its length.
    """

    def __init__(self, parser: StreamableParser, special: SpecialTokens) -> None:
        self.parser = parser
        self.message_token = special.message
        self.start_token = special.start
        self.end_tokens = special.message_ends
        self.where = "header"  # the prompt ends with `<|start|>assistant`: a header follows
        self.header_tokens = 0
        self.current: MessageStart | None = None
        self.done = 0

    def feed(self, token: int) -> Iterator[Event]:
        p = self.parser
        p.process(token)
        if self.where == "content":
            if token in self.end_tokens:
                self.where = "between"
                yield from self.finished()
            elif (delta := p.last_content_delta) and self.current is not None:
                cur = self.current
                yield ContentDelta(cur.role, cur.channel, cur.recipient, delta)
            return
        if token == self.message_token:
            self.where, self.header_tokens = "content", 0
            role = p.current_role.value if p.current_role else "assistant"
            if role == "assistant" and not p.current_channel:
                raise HarmonyError("an assistant message has no channel")
            self.current = MessageStart(
                role, p.current_channel, p.current_recipient, p.current_content_type
            )
            yield self.current
            return
        if token == self.start_token or self.where == "header":
            self.where = "header"
            self.header_tokens += 1
            if self.header_tokens > MAX_HEADER_TOKENS:
                raise HarmonyError(f"no message header ended within {MAX_HEADER_TOKENS} tokens")

    @property
    def open(self) -> bool:
        """Inside a header or a message (the output stopped mid-way)."""
        return self.where != "between"

    def finished(self) -> Iterator[Event]:
        messages = self.parser.messages
        for message in messages[self.done :]:
            yield message_end(message)
        self.done = len(messages)
        self.current = None


class TurnEngine:
    """Runs turns for one backend, with a set of enabled tools and channel handlers."""

    def __init__(
        self,
        backend: Backend,
        encoding: HarmonyEncoding,
        *,
        config: Config | None = None,
        tools: dict[str, ToolSpec] | None = None,
        handlers: Sequence[ChannelHandler] = (),
        raw: bool = False,
        backend_name: str = "",
    ) -> None:
        self.backend = backend
        self.backend_name = backend_name or type(backend).__name__  # as registered
        self.raw = raw  # also emit RawText per token
        self.encoding = encoding
        self.config = config or Config()
        self.settings: CoreConfig = self.config.core
        self.tool_specs = tools or {}
        self.handlers = list(handlers)
        self.stop_tokens = encoding.stop_tokens_for_assistant_actions()
        self.special = SpecialTokens.of(encoding)

    # -- conversation ------------------------------------------------------------------------

    def new_conversation(self) -> Conversation:
        tools = {}
        for name, spec in self.tool_specs.items():
            with _starting("tool", name, spec.plugin):
                tools[name] = tool = spec.factory(self.config.tool_section(name))
            if isinstance(tool, FunctionTool) and tool.recipient != name:
                raise PluginError(
                    f"The tool {name!r} from {spec.plugin.distribution} is a function named "
                    f"{tool.recipient!r}; register it as {tool.recipient!r} (or with "
                    f"register(function), which names it once)."
                )
        return Conversation(tools=tools)

    def close(self) -> None:
        """Release the backend and any handler that holds a resource (a trace file)."""
        close_all(self.handlers)
        self.backend.close()

    def end_conversation(self, conv: Conversation) -> None:
        conv.close()
        end_session = getattr(self.backend, "end_session", None)
        if callable(end_session):
            end_session(conv.id)

    def preamble(self, conv: Conversation) -> list[Message]:
        """System message (identity, effort, date, tool namespaces) and developer message."""
        s = conv.settings or self.settings
        system = (
            SystemContent.new()
            .with_model_identity(s.model_identity)
            .with_reasoning_effort(EFFORTS[s.reasoning_effort])
            .with_knowledge_cutoff(s.knowledge_cutoff)
            .with_conversation_start_date(datetime.date.today().isoformat())
        )
        functions = []
        for tool in conv.tools.values():
            if isinstance(tool, FunctionTool):
                functions.append(tool.description_for_model())
            else:
                system = system.with_tools(namespace_config(tool))
        functions.extend(conv.external.values())
        messages = [Message.from_role_and_content(Role.SYSTEM, system)]
        if s.developer_message or functions:
            developer = DeveloperContent.new()
            if s.developer_message:
                developer = developer.with_instructions(s.developer_message)
            if functions:
                developer = developer.with_function_tools(functions)
            messages.append(Message.from_role_and_content(Role.DEVELOPER, developer))
        return messages

    def render(self, conv: Conversation, pending: Sequence[Message] = ()) -> list[int]:
        convo = HarmonyConversation.from_messages([*self.preamble(conv), *conv.messages, *pending])
        return self.encoding.render_conversation_for_completion(convo, Role.ASSISTANT)

    # -- turns -------------------------------------------------------------------------------

    def user_turn(self, conv: Conversation, text: str) -> Generator[Event]:
        return self.turn(conv, [Message.from_role_and_content(Role.USER, text)])

    def turn(self, conv: Conversation, new_messages: Sequence[Message]) -> Generator[Event]:
        """Run one turn; yields events and hands each to the handlers that want it.

        Raises ContextLengthError before generation when the prompt does not fit.
        """
        for event in self._turn(conv, list(new_messages)):
            for handler in self.handlers:
                if wants(handler, event):
                    try:
                        handler.on_event(event)
                    except Exception as exc:  # a broken handler must not break the turn
                        log.warning("channel handler %r failed: %s", handler, exc)
                        log.debug("channel handler failure", exc_info=True)
            yield event

    def _turn(self, conv: Conversation, pending: list[Message]) -> Iterator[Event]:
        settings = conv.settings or self.settings
        usage = Usage()
        rounds = 0
        final_text = ""
        while True:
            prompt = self.render(conv, pending)
            limit = min(settings.context_length, self.backend.context_length)
            room = limit - len(prompt)
            if room <= 0:
                raise ContextLengthError(
                    f"The conversation is {len(prompt)} tokens, which leaves no room in the "
                    f"{limit}-token context; start a new conversation (/reset) or shorten the "
                    f"input."
                )
            max_new = min(settings.max_tokens, room)
            yield TurnStart(conv.id, rounds, len(prompt))
            parser = StreamableParser(self.encoding, role=Role.ASSISTANT)
            tracker = _ParseTracker(parser, self.special)
            count, stop, error = 0, None, None
            tokens = start_generation(self.backend, GenerateRequest(
                tokens=prompt,
                stop_tokens=self.stop_tokens,
                max_tokens=max_new,
                temperature=settings.temperature,
                seed=settings.seed,
                session_id=conv.id,
            ))
            try:
                for token in tokens:
                    if isinstance(token, Source):
                        yield SourceCited(token.name, token.position, tuple(token.terms))
                        continue
                    count += 1
                    if self.raw:
                        yield RawText(self.encoding.decode([token]))
                    yield from tracker.feed(token)
                    if token in self.stop_tokens:
                        stop = token
                        break
                    if count >= max_new:
                        break
                if stop is None and tracker.open:
                    if count < max_new:
                        raise HarmonyError("the output ended without <|return|> or <|call|>")
                    if tracker.where == "content":
                        parser.process_eos()  # keep the truncated message
                        yield from tracker.finished()
            except HarmonyError as exc:
                error = TurnError(
                    "malformed_harmony",
                    f"The backend's output is not valid Harmony ({exc}); the turn was dropped.",
                )
            except Exception as exc:  # reported as an event: the front-end must stay usable
                log.debug("backend failed", exc_info=True)
                error = TurnError(
                    "backend_error", f"The backend failed: {type(exc).__name__}: {exc}"
                )
            finally:
                close = getattr(tokens, "close", None)
                if callable(close):
                    close()
            usage = Usage(usage.prompt_tokens + len(prompt), usage.completion_tokens + count)
            if error is not None:
                yield error
                yield TurnEnd("error", usage, rounds, "")
                return
            produced = parser.messages
            pending.extend(produced)
            for message in produced:
                if message.channel == "final":
                    final_text = message_text(message)
            last = produced[-1] if produced else None
            if stop == self.special.call and last is not None and last.recipient in conv.external:
                conv.messages.extend(pending)  # the client runs it and sends the result back
                yield TurnEnd("tool_calls", usage, rounds, final_text)
                return
            if stop == self.special.call and last is not None and last.recipient:
                if rounds >= settings.max_tool_rounds:
                    yield TurnError(
                        "tool_limit",
                        f"The model made more than {settings.max_tool_rounds} tool calls in "
                        f"one turn (core.max_tool_rounds); the turn was stopped.",
                    )
                    yield TurnEnd("error", usage, rounds, final_text)
                    return
                results = dispatch(conv.tools, last, conv.loop)
                for message in results:
                    yield message_end(message)
                pending.extend(results)
                rounds += 1
                continue
            conv.messages.extend(pending)
            reason: StopReason = "stop" if stop is not None else "length"
            yield TurnEnd(reason, usage, rounds, final_text)
            return


@dataclass(frozen=True)
class EnginePlan:
    """Everything about an engine that is quick to check (backend and tool names), before the
    slow part, starting the backend, which `build` does (a front-end may do it in a thread)."""

    backend: BackendSpec
    config: Config
    tools: dict[str, ToolSpec]
    handlers: Sequence[ChannelHandler] = ()
    raw: bool = False

    def build(self) -> TurnEngine:
        from .encoding import get_encoding

        encoding = get_encoding()
        spec = self.backend
        with _starting("backend", spec.name, spec.plugin):
            backend = spec.factory(self.config.backend_section(spec.name), encoding)
        return TurnEngine(backend, encoding, config=self.config, tools=self.tools,
                          handlers=self.handlers, raw=self.raw, backend_name=spec.name)


def plan_engine(
    host: Any,
    config: Config,
    backend_name: str | None = None,
    *,
    handlers: Sequence[ChannelHandler] = (),
    enable_tools: Sequence[str] = (),
    no_tools: bool = False,
    raw: bool = False,
) -> EnginePlan:
    """Resolve backend and tools from a plugin host; the entry point for front-ends, which
    start the engine with `plan_engine(...).build()`. Unknown backend or tool names fail here,
    in one sentence; with no `backend_name` the default backend is used (see `choose_backend`).
    """
    spec = choose_backend(host, backend_name)
    tools = select_tools(host.tools(), config, enable_tools, no_tools)
    return EnginePlan(spec, config, tools, tuple(handlers), raw)


DEFAULT_BACKEND = "gyrosi"  # the GyroSI engine, when its plugin is installed
INSTALL_HINT = (
    "install the GyroSI engine (`pip install gyrosi-backend`, or `./setup.sh install` in a "
    "checkout) or another backend plugin"
)


def choose_backend(host: Any, backend_name: str | None = None) -> BackendSpec:
    """The backend called `backend_name`; with none, the GyroSI engine when it is installed,
    else the only installed backend. Otherwise one sentence saying what to do."""
    from .errors import UnknownBackendError

    if backend_name:
        return backend_spec(host, backend_name)
    backends = host.backends()
    if DEFAULT_BACKEND in backends:
        return backends[DEFAULT_BACKEND]
    if len(backends) == 1:
        return next(iter(backends.values()))
    if not backends:
        failed = "".join(
            f" (plugin {f.name!r} failed to load: {f.error})" for f in host.failures
        )
        raise UnknownBackendError(f"No backend is installed{failed}; {INSTALL_HINT}.")
    raise UnknownBackendError(
        f"Several backends are installed ({', '.join(sorted(backends))}); choose one with "
        f"--backend NAME or core.backend in the config."
    )


def backend_spec(host: Any, backend_name: str) -> BackendSpec:
    """The registered backend called `backend_name`, or one sentence listing the installed ones
    (and any plugin that failed to load, the likely reason one is missing)."""
    from .errors import UnknownBackendError

    backends = host.backends()
    spec = backends.get(backend_name)
    if spec is None:
        installed = ", ".join(sorted(backends))
        failed = "".join(
            f" (plugin {f.name!r} failed to load: {f.error})" for f in host.failures
        )
        hint = f"installed backends: {installed}" if installed else \
            f"no backend is installed; {INSTALL_HINT}"
        raise UnknownBackendError(f"Unknown backend {backend_name!r}; {hint}{failed}.")
    return spec


@contextlib.contextmanager
def _starting(kind: str, name: str, plugin: PluginInfo) -> Iterator[None]:
    """A plugin's own user errors pass through; anything else becomes one sentence naming it."""
    try:
        yield
    except GyrosiError:
        raise
    except Exception as exc:
        log.debug("starting %s %s failed", kind, name, exc_info=True)
        raise PluginError(
            f"The {kind} {name!r} from {plugin.distribution} failed to start: "
            f"{type(exc).__name__}: {exc}."
        ) from exc


def select_tools(
    specs: dict[str, ToolSpec], config: Config, enable: Sequence[str], no_tools: bool
) -> dict[str, ToolSpec]:
    from .errors import ConfigError

    if no_tools:
        return {}
    wanted = config.core.tools
    names = set(wanted) if wanted is not None else {n for n, s in specs.items() if s.enabled}
    names |= set(enable)
    unknown = sorted(names - set(specs))
    if unknown:
        known = ", ".join(sorted(specs)) or "none"
        raise ConfigError(f"Unknown tool {unknown[0]!r}; installed tools: {known}.")
    return {name: specs[name] for name in sorted(names)}
