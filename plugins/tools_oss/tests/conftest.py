"""Engines on the stub backend with the tools_oss plugin, driven by stub scripts."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gyrosi_core.config import Config
from gyrosi_core.events import Event, MessageEnd, TurnEnd
from gyrosi_core.plugins import PluginHost
from gyrosi_core.turn import Conversation, TurnEngine, plan_engine


def call(match: str, recipient: str, text: str | dict[str, Any], *,
         channel: str = "analysis") -> dict[str, Any]:
    """A stub rule: a user message matching `match` makes the model call `recipient` with
    `text` (a dict is sent as JSON), then answer with exactly what the tool said."""
    step: dict[str, Any] = {"channel": channel, "recipient": recipient,
                            "text": text if isinstance(text, str) else json.dumps(text)}
    if not isinstance(text, str) or recipient.startswith(("browser.", "functions.")):
        step["content_type"] = "json"
    return {"match": f"^{match}$", "reply": [step],
            "after_tool": [{"channel": "final", "text": "{tool}"}]}


def build(rules: list[dict[str, Any]], tools: dict[str, dict[str, Any]],
          enable: list[str]) -> TurnEngine:
    from gyrosi_stub import plugin as stub
    from gyrosi_tools_oss import plugin as tools_oss

    host = PluginHost(entry_points=False)
    host.register(stub)
    host.register(tools_oss)
    config = Config.model_validate({"backends": {"stub": {"script": rules}}, "tools": tools})
    return plan_engine(host, config, "stub", enable_tools=enable).build()


class Chat:
    """One conversation; `ask` runs a user turn and returns the tool's answer."""

    def __init__(self, engine: TurnEngine) -> None:
        self.engine = engine
        self.conv: Conversation = engine.new_conversation()
        self.events: list[Event] = []

    def ask(self, text: str) -> str:
        self.events = list(self.engine.user_turn(self.conv, text))
        end = self.events[-1]
        assert isinstance(end, TurnEnd) and end.stop_reason == "stop", self.events
        return end.final_text

    def tool_messages(self) -> list[MessageEnd]:
        return [e for e in self.events if isinstance(e, MessageEnd) and e.role == "tool"]

    def close(self) -> None:
        self.engine.end_conversation(self.conv)
        self.engine.close()


@pytest.fixture
def chat(gyrosi_home, harmony_encoding) -> Iterator[Callable[..., Chat]]:
    opened: list[Chat] = []

    def make(rules, tools=None, enable=()) -> Chat:
        session = Chat(build(rules, tools or {}, list(enable)))
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()
