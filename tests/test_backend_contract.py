"""`Backend.generate` takes one `GenerateRequest`; a backend written to the older keyword
contract keeps working unchanged."""

import dataclasses

import pytest

from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend, GenerateRequest, takes_request
from gyrosi_core.events import TurnEnd
from gyrosi_core.testing import harmony_reply

SEEN: list[object] = []


class RequestBackend(BaseBackend):
    """Written to the request contract."""

    speaks_harmony = True

    def generate(self, request: GenerateRequest):
        SEEN.append(request)
        yield from harmony_reply(self.encoding, f"seed {request.seed}")[: request.max_tokens]


class KeywordBackend(BaseBackend):
    """Written to the older keyword contract."""

    speaks_harmony = True

    def generate(self, tokens, *, stop_tokens, max_tokens, temperature=0.0, seed=None,
                 session_id=None):
        SEEN.append((len(tokens), max_tokens, seed, session_id))
        yield from harmony_reply(self.encoding, "keywords")[:max_tokens]


class Plugin:
    @hookimpl
    def register_backends(self, register):
        register("request", RequestBackend)
        register("keywords", KeywordBackend)


def test_each_contract_is_recognised():
    assert takes_request(RequestBackend) and not takes_request(KeywordBackend)


def test_both_kinds_answer_through_the_engine(make_engine):
    SEEN.clear()
    for name, answer in (("request", "seed 7"), ("keywords", "keywords")):
        engine = make_engine({"core": {"backend": name, "seed": 7, "max_tokens": 50}}, Plugin())
        conv = engine.new_conversation()
        end = list(engine.user_turn(conv, "hi"))[-1]
        assert isinstance(end, TurnEnd) and end.final_text == answer
        engine.end_conversation(conv)
        engine.close()
    request, keywords = SEEN
    assert isinstance(request, GenerateRequest)
    assert request.seed == 7 and request.max_tokens == 50 and request.session_id.startswith("conv_")
    assert list(request.tokens)[-2:] == engine.encoding.encode("<|start|>assistant",
                                                               allowed_special="all")
    assert keywords[1:3] == (50, 7) and keywords[3].startswith("conv_")


def test_the_request_is_frozen():
    request = GenerateRequest(tokens=[1, 2], stop_tokens=[3], max_tokens=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.max_tokens = 5  # type: ignore[misc]
    assert request.as_keywords() == {"stop_tokens": [3], "max_tokens": 4, "temperature": 0.0,
                                     "seed": None, "session_id": None}
