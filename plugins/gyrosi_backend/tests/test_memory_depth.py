"""The context depth: a memory keeps the depth it was learned with when the configuration does
not choose one (the default changed from 6 to 16 tokens), and a chosen depth that differs from
the memory's is refused with one sentence."""

from pathlib import Path

import pytest

from gyrosi_engine.engine import Engine
from gyrosi_engine.memory.errors import MemoryCorruptError
from gyrosi_engine.settings import GyroConfig

from .test_backend import engine_home

TEXT = "The brass orrery of Tellwick turns once for every tide and chimes at the neap.\n"


def continuation(engine: Engine, prompt: str, n: int = 6) -> str:
    at, _ = engine.generator.read(engine.encode(prompt))
    step_tokens = []
    for _ in range(n):
        step = engine.generator.propose(at)
        assert step is not None
        step_tokens.append(step.token)
        at = engine.generator.advance(at, step.token)
    return engine.vocab.encoding.decode(step_tokens)


def test_a_memory_learned_at_another_depth_opens_at_its_own(tmp_path: Path,
                                                            built_home: Path) -> None:
    home = engine_home(tmp_path / "home", built_home)
    old = Engine(GyroConfig(starter=False, depth=6), home=home)
    old.learn_texts([TEXT])
    old.close()

    engine = Engine(GyroConfig(starter=False), home=home)  # no depth chosen: the memory's
    assert engine.depth == 6 and engine.memory.stats().depth == 6
    assert continuation(engine, "The brass orrery of Tellwick").startswith(" turns once")
    engine.learn_texts(["A second text learned at the memory's own depth.\n"])
    engine.close()
    assert Engine(GyroConfig(starter=False), home=home).memory.stats().tokens_learned > 20

    with pytest.raises(MemoryCorruptError) as refused:
        Engine(GyroConfig(starter=False, depth=16), home=home)
    said = str(refused.value)
    assert "depth 6" in said and "depth 16" in said and "memory reset" in said


def test_a_new_memory_takes_the_default_depth(tmp_path: Path, built_home: Path) -> None:
    engine = Engine(GyroConfig(starter=False), home=engine_home(tmp_path / "home", built_home))
    assert engine.depth == GyroConfig().depth == 16
    assert engine.generator.levels == (1, 2, 3, 4, 5, 6, 8, 11, 16)
    engine.learn_texts([TEXT])
    assert continuation(engine, "The brass orrery of Tellwick").startswith(" turns once")
