"""Reciting a document by its addresses where its own entries moved on: the same page learned
under two names, and a token whose every context was learned again later with another token
after it. Each case fails when the step that handles it is taken out."""

from pathlib import Path
from typing import Any

import pytest

from gyrosi_core.config import Config, CoreConfig
from gyrosi_core.turn import TurnEngine
from gyrosi_engine import generate
from gyrosi_engine.backend import GyroBackend
from gyrosi_engine.engine import Engine
from gyrosi_engine.settings import GyroConfig

from .test_backend import engine_home

PAGE = ("Frobnicator Handbook\n\nThe frobnicator folds quilted parchment into seven cranes, "
        "then paints each crane with saffron ink and releases it over the harbour at dawn so "
        "that the gulls carry the tidings to the lighthouse keepers of the northern isles.\n")

# The first sentence of each "Notes" ends alike, and the later documents say something else
# after "details": in the first, its every context moved on to theirs.
BOILER = ("Notes on the {} are kept in the great ledger of the guild of clockmakers in the "
          "old town hall, see it for details")  # longer than the deepest context (16 tokens)
NOTES = {
    "alpha.txt": f"Alpha Notes\n\n{BOILER.format('alpha')}. Alpha gears need whale oil twice "
                 "a year and a song sung backwards.\n",
    "beta.txt": f"Beta Notes of the Old Guild Hall\n\n{BOILER.format('beta')}, which the "
                "clerk copies out by hand for every visitor.\n",
    "gamma.txt": f"Gamma Notes for Winter\n\n{BOILER.format('gamma')}. Gamma springs must be "
                 "wound by moonlight.\n",
}


def answer(engine: Engine, encoding: Any, question: str) -> str:
    backend = GyroBackend({"starter": False, "learn_from_users": False, "trace": False},
                          encoding, engine=engine)
    turns = TurnEngine(backend, encoding, config=Config(core=CoreConfig(max_tokens=300)))
    return str(list(turns.user_turn(turns.new_conversation(), question))[-1].final_text)


@pytest.fixture
def engine(tmp_path: Path, built_home: Path) -> Engine:
    return Engine(GyroConfig(starter=False), home=engine_home(tmp_path / "home", built_home))


def test_a_page_learned_again_under_another_name_is_recited_whole(
        engine: Engine, harmony_encoding: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # the frobnicator page twice, the second copy last: every entry of the first moved on to it
    engine.learn_texts([("frobnicator.txt", PAGE), ("other.txt", NOTES["beta.txt"]),
                        ("frobnicator-copy.txt", PAGE)])
    said = answer(engine, harmony_encoding, "What does frobnicator.txt do?")
    assert "lighthouse keepers of the northern isles" in said
    # without following the copy, the walk stops as lost a few tokens in
    monkeypatch.setattr(generate.Generator, "_aligned", lambda self, a, b: False)
    assert "lighthouse" not in answer(engine, harmony_encoding, "What does frobnicator.txt do?")


def test_a_token_whose_contexts_moved_on_is_found_from_the_token_after_it(
        engine: Engine, harmony_encoding: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.learn_texts(list(NOTES.items()))
    said = answer(engine, harmony_encoding, "What do alpha gears need?")
    assert "see it for details. Alpha gears need whale oil" in said
    # without it, the nearest later occurrence (beta's ",") is said and the walk strays
    monkeypatch.setattr(generate.Generator, "_verified_among", lambda self, at, k, a: (-1, 0, 0))
    assert "for details. Alpha gears" not in answer(engine, harmony_encoding,
                                                    "What do alpha gears need?")
