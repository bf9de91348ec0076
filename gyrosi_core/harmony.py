"""Small Harmony helpers shared by the turn engine, tools and backends."""

from dataclasses import dataclass
from typing import Self

from openai_harmony import HarmonyEncoding, Message, TextContent


def message_text(message: Message) -> str:
    """The text of a message, its text parts joined."""
    return "".join(c.text for c in message.content if isinstance(c, TextContent))


@dataclass(frozen=True)
class SpecialTokens:
    """The ids of the Harmony control tokens, looked up once per encoding."""

    start: int
    message: int
    end: int
    return_: int
    call: int

    @classmethod
    def of(cls, encoding: HarmonyEncoding) -> Self:
        def token(name: str) -> int:
            return encoding.encode(name, allowed_special="all")[0]

        return cls(token("<|start|>"), token("<|message|>"), token("<|end|>"),
                   token("<|return|>"), token("<|call|>"))

    @property
    def message_ends(self) -> frozenset[int]:
        return frozenset((self.end, self.return_, self.call))
