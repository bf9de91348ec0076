"""The turn engine against the stub backend: events, tool loop, errors, limits."""

import asyncio
import datetime
import types

import pytest
from gpt_oss.tools.tool import Tool
from openai_harmony import Author, Message, Role, TextContent

from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend
from gyrosi_core.errors import ContextLengthError
from gyrosi_core.events import ContentDelta, MessageEnd, MessageStart, TurnEnd, TurnError
from gyrosi_core.tools import FunctionTool

ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}


TOOLS = ["functions.add", "echo", "counter"]  # a plugin's tools are off until enabled


def _tools_plugin():
    plugin = types.ModuleType("test_tools_plugin")

    @hookimpl
    def register_tools(register):
        register(
            "functions.add",
            lambda cfg: FunctionTool("add", "Add", lambda a, b: str(a + b), ADD_SCHEMA),
        )
        register("echo", lambda cfg: EchoTool())
        register("counter", lambda cfg: CounterTool())

    plugin.register_tools = register_tools
    return plugin


class EchoTool(Tool):
    """A namespace tool in the gpt-oss style: echoes what it is sent."""

    @property
    def name(self) -> str:
        return "echo"

    def instruction(self) -> str:
        return "Echoes the message back. Call echo.say with any text."

    async def _process(self, message: Message):
        text = "".join(c.text for c in message.content)
        yield Message(
            author=Author(role=Role.TOOL, name="echo.say"),
            content=[TextContent(text=f"echo:{text}")],
        ).with_recipient("assistant")


class CounterTool(Tool):
    """A stateful async tool: remembers its calls and the event loop it first ran on."""

    def __init__(self):
        self.calls = 0
        self.loop = None

    @property
    def name(self) -> str:
        return "counter"

    def instruction(self) -> str:
        return "Counts calls."

    async def _process(self, message: Message):
        self.loop = self.loop or asyncio.get_running_loop()
        self.calls += 1
        same = self.loop is asyncio.get_running_loop()
        yield Message(
            author=Author(role=Role.TOOL, name="counter.count"),
            content=[TextContent(text=f"calls={self.calls} same_loop={same}")],
        ).with_recipient("assistant")


def call_rule(match, recipient, args, after="The tool said {tool}"):
    return {
        "match": match,
        "reply": [
            {"channel": "analysis", "text": "I should call a tool."},
            {"channel": "commentary", "recipient": recipient, "content_type": "json", "text": args},
        ],
        "after_tool": [{"channel": "final", "text": after}],
    }


def stub(*rules, **extra):
    return {"backends": {"stub": {"script": list(rules), **extra}}}


def test_plain_turn_events_and_history(make_engine):
    engine = make_engine()
    conv = engine.new_conversation()
    events = list(engine.user_turn(conv, "hello"))
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert [(e.role, e.channel) for e in starts] == [
        ("assistant", "analysis"),
        ("assistant", "final"),
    ]
    final_deltas = "".join(
        e.text for e in events if isinstance(e, ContentDelta) and e.channel == "final"
    )
    assert final_deltas == "You said: hello"
    end = events[-1]
    assert isinstance(end, TurnEnd) and end.stop_reason == "stop"
    assert end.final_text == "You said: hello"
    assert end.usage.prompt_tokens > 0 and end.usage.completion_tokens > 0
    roles = [m.author.role for m in conv.messages]
    assert roles == [Role.USER, Role.ASSISTANT, Role.ASSISTANT]
    # the second turn sees the first: the stub parses the whole prompt
    list(engine.user_turn(conv, "again"))
    assert len(conv.messages) == 6


def test_function_tool_round_trip(make_engine):
    engine = make_engine(
        stub(call_rule("add", "functions.add", '{"a": 2, "b": 40}', "The sum is {tool}")),
        _tools_plugin(),
        enable_tools=TOOLS,
    )
    conv = engine.new_conversation()
    events = list(engine.user_turn(conv, "please add"))
    tool_msgs = [e for e in events if isinstance(e, MessageEnd) and e.role == "tool"]
    assert [(m.author, m.text) for m in tool_msgs] == [("functions.add", "42")]
    end = events[-1]
    assert end.final_text == "The sum is 42" and end.tool_rounds == 1
    assert [m.author.role for m in conv.messages] == [
        Role.USER,
        Role.ASSISTANT,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
    ]


def test_namespace_tool_round_trip(make_engine):
    engine = make_engine(
        stub(call_rule("echo", "echo.say", "ping")), _tools_plugin(), enable_tools=TOOLS
    )
    prompt_text = engine.encoding.decode(engine.render(engine.new_conversation()))
    assert "## echo" in prompt_text and "Echoes the message back" in prompt_text
    end = list(engine.user_turn(engine.new_conversation(), "echo this"))[-1]
    assert end.final_text == "The tool said echo:ping"


@pytest.mark.parametrize(
    ("recipient", "args", "expected"),
    [
        ("functions.nope", "{}", "no tool named 'functions.nope'"),
        ("functions.add", "{not json", "not valid JSON"),
        ("functions.add", '{"a": 1}', "bad arguments"),
        ("functions.add", "[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_tool_calls_go_back_to_the_model(make_engine, recipient, args, expected):
    engine = make_engine(
        stub(call_rule("go", recipient, args)), _tools_plugin(), enable_tools=TOOLS
    )
    events = list(engine.user_turn(engine.new_conversation(), "go"))
    assert not [e for e in events if isinstance(e, TurnError)]
    assert expected in events[-1].final_text
    assert events[-1].stop_reason == "stop"


def test_tool_rounds_are_bounded(make_engine):
    looping = call_rule("loop", "functions.add", '{"a": 1, "b": 1}')
    looping["after_tool"] = looping["reply"]
    raw = stub(looping) | {"core": {"max_tool_rounds": 3}}
    engine = make_engine(raw, _tools_plugin(), enable_tools=TOOLS)
    conv = engine.new_conversation()
    events = list(engine.user_turn(conv, "loop"))
    errors = [e for e in events if isinstance(e, TurnError)]
    assert errors and "more than 3 tool calls" in errors[0].message
    assert sum(isinstance(e, MessageEnd) and e.role == "tool" for e in events) == 3
    assert conv.messages == []  # a failed turn is not committed


def test_context_length_is_checked_before_generation(make_engine):
    engine = make_engine(stub(context_length=40))
    called = []
    original = engine.backend.generate
    engine.backend.generate = lambda *a, **k: called.append(1) or original(*a, **k)
    with pytest.raises(ContextLengthError, match="context"):
        list(engine.user_turn(engine.new_conversation(), "hello"))
    assert called == []


def test_max_tokens_truncates(make_engine):
    engine = make_engine({"core": {"max_tokens": 12}})
    events = list(engine.user_turn(engine.new_conversation(), "a fairly long message here"))
    assert events[-1].stop_reason == "length"
    assert events[-1].usage.completion_tokens == 12


class GarbageBackend(BaseBackend):
    """Emits text with no Harmony structure, like a random-weight model: a few words and an
    early end, or words until `max_tokens` (`config["endless"]`), or a header-less message."""

    def generate(self, tokens, *, stop_tokens, max_tokens, **kw):
        if self.config.get("endless"):
            words = self.encoding.encode(" lorem ipsum" * 1000)
        elif self.config.get("no_channel"):
            words = self.encoding.encode(
                "<|message|>text without a channel<|return|>", allowed_special="all"
            )
        else:
            words = self.encoding.encode("just some words, no header")
        yield from words[:max_tokens]


def _garbage_plugin():
    plugin = types.ModuleType("garbage_plugin")

    @hookimpl
    def register_backends(register):
        register("garbage", GarbageBackend)

    plugin.register_backends = register_backends
    return plugin


@pytest.mark.parametrize(
    "variant",
    [{}, {"endless": True}, {"no_channel": True}],
    ids=["ends-early", "until-max-tokens", "no-channel"],
)
def test_malformed_harmony_ends_turn_with_error(make_engine, variant):
    raw = {"core": {"backend": "garbage", "max_tokens": 200}, "backends": {"garbage": variant}}
    engine = make_engine(raw, _garbage_plugin())
    conv = engine.new_conversation()
    for _ in range(2):  # the engine stays usable
        events = list(engine.user_turn(conv, "hi"))
        errors = [e for e in events if isinstance(e, TurnError)]
        assert len(errors) == 1 and errors[0].kind == "malformed_harmony"
        assert "not valid Harmony" in errors[0].message
        assert events[-1].stop_reason == "error"
    assert conv.messages == []


def test_system_and_developer_messages(make_engine):
    raw = {
        "core": {
            "reasoning_effort": "high",
            "developer_message": "Be terse.",
            "model_identity": "You are TestBot.",
        }
    }
    engine = make_engine(raw, _tools_plugin(), enable_tools=TOOLS)
    text = engine.encoding.decode(engine.render(engine.new_conversation()))
    assert "You are TestBot." in text and "Reasoning: high" in text
    assert datetime.date.today().isoformat() in text
    assert "Be terse." in text and "type add = " in text  # developer message + function tool


def test_handlers_receive_only_their_channels(make_engine):
    class FinalOnly:
        channels = frozenset({"final"})

        def __init__(self):
            self.seen = []

        def on_event(self, event):
            self.seen.append(event)

    handler = FinalOnly()
    engine = make_engine(handlers=[handler])
    list(engine.user_turn(engine.new_conversation(), "hi"))
    kinds = {e.type for e in handler.seen}
    assert {"turn.start", "message.start", "message.delta", "message.end", "turn.end"} <= kinds
    assert {getattr(e, "channel", "final") for e in handler.seen} == {"final"}


def test_stateful_async_tool_keeps_its_loop_across_turns(make_engine):
    engine = make_engine(
        stub(call_rule("count", "counter.count", "")), _tools_plugin(), enable_tools=TOOLS
    )
    conv = engine.new_conversation()
    finals = [list(engine.user_turn(conv, "count"))[-1].final_text for _ in range(3)]
    assert finals == [f"The tool said calls={n} same_loop=True" for n in (1, 2, 3)]
    other = engine.new_conversation()  # a new conversation gets new tool instances
    assert list(engine.user_turn(other, "count"))[-1].final_text.endswith("calls=1 same_loop=True")
    engine.end_conversation(conv)
    assert conv.loop.is_closed()


def test_client_function_ends_the_turn_with_tool_calls(make_engine):
    from openai_harmony import ToolDescription

    engine = make_engine(stub(call_rule("add", "functions.add", '{"a": 2, "b": 40}')))
    conv = engine.new_conversation()
    conv.external = {"functions.add": ToolDescription.new("add", "Add", parameters=ADD_SCHEMA)}
    assert "type add = " in engine.encoding.decode(engine.render(conv))
    events = list(engine.user_turn(conv, "please add"))
    end = events[-1]
    assert isinstance(end, TurnEnd) and end.stop_reason == "tool_calls" and end.tool_rounds == 0
    assert not [e for e in events if isinstance(e, MessageEnd) and e.role == "tool"]
    # the call is history now: the client's result continues the conversation
    assert conv.messages[-1].recipient == "functions.add"
    result = (
        Message.from_author_and_content(
            Author.new(Role.TOOL, "functions.add"), TextContent(text="42")
        )
        .with_recipient("assistant")
        .with_channel("commentary")
    )
    end = list(engine.turn(conv, [result]))[-1]
    assert end.stop_reason == "stop" and end.final_text == "The tool said 42"


def test_conversation_settings_override_the_core(make_engine):
    engine = make_engine()
    conv = engine.new_conversation()
    conv.settings = engine.settings.model_copy(
        update={"max_tokens": 3, "developer_message": "Be terse."}
    )
    assert "Be terse." in engine.encoding.decode(engine.render(conv))
    end = list(engine.user_turn(conv, "hello"))[-1]
    assert end.stop_reason == "length" and end.usage.completion_tokens == 3
    assert list(engine.user_turn(engine.new_conversation(), "hello"))[-1].stop_reason == "stop"


def test_an_async_tool_runs_when_the_caller_is_inside_another_event_loop():
    """A turn driven from code that runs in an event loop (a notebook, an async app, Playwright's
    sync API) cannot run the conversation's loop on its own thread: the call still works."""
    from gyrosi_core.tools import dispatch

    async def double(n: int) -> str:
        await asyncio.sleep(0)
        return str(2 * n)

    tool = FunctionTool.from_function(double)
    call = Message.from_role_and_content(Role.ASSISTANT, '{"n": 21}').with_recipient(
        "functions.double")
    conversation_loop = asyncio.new_event_loop()

    async def inside_a_running_loop() -> list[Message]:
        return dispatch({"functions.double": tool}, call, conversation_loop)

    try:
        [reply] = asyncio.run(inside_a_running_loop())
        assert reply.content[0].text == "42"
        # and, as usual, from plain code on the same conversation loop
        [again] = dispatch({"functions.double": tool}, call, conversation_loop)
        assert again.content[0].text == "42"
    finally:
        conversation_loop.close()
