"""The selection rule's parts, each on a small hand-made memory where it changes the choice."""

from pathlib import Path

import numpy as np
import pytest

from gyrosi_engine.engine import Engine
from gyrosi_engine.learn import PathState
from gyrosi_engine.memory.passive import TOKEN_BITS, TOKEN_MASK, Columns
from gyrosi_engine.settings import GyroConfig


@pytest.fixture
def engine(tmp_path: Path, built_home: Path) -> Engine:
    home = tmp_path / "home"
    home.mkdir()
    (home / "atlas").symlink_to(built_home / "atlas")
    return Engine(GyroConfig(starter=False, depth=2), home=home)


def after(engine: Engine, text: str) -> PathState:
    return engine.generator.walk(engine.start(), engine.encode(text))


def choice(engine: Engine, text: str) -> str:
    step = engine.generator.propose(after(engine, text))
    assert step is not None
    return engine.vocab.encoding.decode([step.token])


def test_counts_outweigh_recency(engine: Engine) -> None:
    engine.learn_texts(["the cat sat", "the cat sat", "the cat ran"])
    assert choice(engine, "the cat") == " sat"  # followed twice, against once
    engine.generator.rule = "recent"
    assert choice(engine, "the cat") == " ran"  # the latest


def test_a_tie_in_the_deepest_context_goes_to_the_shorter_contexts_evidence(
        engine: Engine) -> None:
    # after "the cat": " ran" once (learned first), " sat" once; after " cat" alone, " ran"
    # three times: interpolation hands the tie to " ran", recency would say " sat"
    engine.learn_texts(["the cat ran", "a cat ran", "my cat ran", "the cat sat"])
    assert choice(engine, "the cat") == " ran"
    engine.generator.rule = "recent"
    assert choice(engine, "the cat") == " sat"


def test_only_the_deepest_contexts_tokens_are_chosen(engine: Engine) -> None:
    # " cat" alone is followed by " ran" five times, but after "the cat" only " sat" ever came
    engine.learn_texts(["a cat ran"] * 5 + ["the cat sat"])
    assert choice(engine, "the cat") == " sat"


def test_an_exact_tie_goes_to_the_admissible_token(engine: Engine) -> None:
    gen = engine.generator
    at = after(engine, "one dog")
    admissible = [t for t in range(256, 60000) if gen.admissible(at.state, t)]
    assert admissible, "some token is admissible from this state"
    good, bad = admissible[0], next(t for t in range(256, 60000) if not gen.admissible(at.state, t))
    # a hand-made memory: both tokens once after this context, the inadmissible one later
    key = gen.keys(at)[2]
    ident = np.asarray(sorted([(key << TOKEN_BITS) | good, (key << TOKEN_BITS) | bad]), np.uint64)
    seq = {good: 10, bad: 20}
    meta = np.asarray([seq[int(i) & TOKEN_MASK] << 1 | 1 for i in ident], np.uint32)
    ones = np.ones(2, np.uint16)
    engine.memory.passive.replace(Columns(ident, meta, ones, ones))
    assert gen.propose(at).token == good  # equal evidence: the physics decides
    gen.physics_ties = False
    assert gen.propose(at).token == bad  # without it, the most recent


def test_the_address_chain_follows_the_learned_stream_past_the_depth(engine: Engine) -> None:
    # after " lay the" (depth 2) " moon" follows twice and " sun" once, so the counts say
    # " moon"; but a walk that has agreed with the first text for more than twice the depth
    # goes on with it: the chain knows a longer context than the contexts do
    first = "over hills and rivers far away lay the"
    engine.learn_texts([first + " sun", "below lay the moon", "above lay the moon"])
    gen = engine.generator
    at = engine.start()
    for token in engine.encode(first):
        at = gen.advance(at, token)
    assert at.run >= 2 * gen.depth
    assert engine.vocab.encoding.decode([gen.propose(at).token]) == " sun"
    gen.chain = False
    assert choice(engine, "below lay the") == " moon"
    at = engine.start()
    for token in engine.encode(first):
        at = gen.advance(at, token)
    assert engine.vocab.encoding.decode([gen.propose(at).token]) == " moon"
