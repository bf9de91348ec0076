"""A backend with no model: it reads the conversation and answers from its script."""

from collections.abc import Iterator, Sequence
from typing import Any

from openai_harmony import HarmonyEncoding, Message, Role

from gyrosi_core.backend import BaseBackend
from gyrosi_core.config import validate_section
from gyrosi_core.harmony import SpecialTokens, message_text

from .script import Step, StubConfig


class StubBackend(BaseBackend):
    """Deterministic scripted Harmony backend (no model)."""

    speaks_harmony = True
    # Stateless, so any number of threads could generate at once; but it is pure CPU, and
    # more threads than a few only queue for the GIL in front of the server's event loop.
    parallel_sessions = 4

    def __init__(self, config: dict[str, Any], encoding: HarmonyEncoding) -> None:
        super().__init__(config, encoding)
        self.settings = validate_section(StubConfig, config, "backends.stub")
        self.context_length = self.settings.context_length
        self.special = SpecialTokens.of(encoding)

    def describe(self) -> str:
        rules = len(self.settings.script)
        return f"Deterministic scripted Harmony backend ({rules} script rules)"

    def _history(self, tokens: Sequence[int]) -> list[Message]:
        """The messages before the open `<|start|>assistant` the prompt ends with."""
        start = self.special.start
        cut = len(tokens) - 1 - list(reversed(tokens)).index(start) if start in tokens else 0
        if cut <= 0:
            return []
        try:
            return self.encoding.parse_messages_from_completion_tokens(list(tokens[:cut]), None)
        except Exception:
            return []  # not a Harmony prompt: answer as if to an empty message

    def completion(self, tokens: Sequence[int]) -> list[int]:
        """The full completion the stub would give for this prompt, stop token included."""
        history = self._history(tokens)
        users = [m for m in history if m.author.role == Role.USER]
        user = message_text(users[-1]) if users else ""
        last = history[-1] if history else None
        after_tool = last is not None and last.author.role == Role.TOOL
        tool = message_text(last) if after_tool and last is not None else ""
        steps = self.settings.reply_for(user, after_tool)
        out: list[int] = []
        for step in steps:
            out.extend(self._render(step, user, tool))
        out = out[2:]  # the prompt already holds `<|start|>assistant`
        out[-1] = self.special.call if steps[-1].recipient else self.special.return_
        return out

    def _render(self, step: Step, user: str, tool: str) -> list[int]:
        text = step.text.replace("{user}", user).replace("{tool}", tool)
        msg = Message.from_role_and_content(Role.ASSISTANT, text).with_channel(step.channel)
        if step.recipient:
            msg = msg.with_recipient(step.recipient)
        if step.content_type:
            msg = msg.with_content_type(step.content_type)
        return self.encoding.render(msg)

    def generate(
        self,
        tokens: Sequence[int],
        *,
        stop_tokens: Sequence[int],
        max_tokens: int,
        temperature: float = 0.0,
        seed: int | None = None,
        session_id: str | None = None,
    ) -> Iterator[int]:
        stops = set(stop_tokens)
        for token in self.completion(tokens)[:max_tokens]:
            yield token
            if token in stops:
                return
