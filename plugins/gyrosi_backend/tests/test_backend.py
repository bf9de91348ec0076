"""The `gyrosi` backend: the core's conformance suite, the Harmony surface, sessions, learning."""

import json
from pathlib import Path
from typing import Any

import pytest
from openai_harmony import Message, Role

from gyrosi_core.config import Config, CoreConfig
from gyrosi_core.testing import BackendConformance
from gyrosi_core.turn import TurnEngine
from gyrosi_engine.backend import GyroBackend
from gyrosi_engine.engine import Engine
from gyrosi_engine.settings import GyroConfig

# Test sentences must not appear in any README: the starter corpus learns the READMEs.
LEARNED = ("Marmalade engines hum softly beneath the violet harbour while seven clockwork herons "
           "count the lanterns one by one until the tide forgets its name.")


def engine_home(root: Path, built_home: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "atlas").exists():
        (root / "atlas").symlink_to(built_home / "atlas")
    return root


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory, built_home: Path) -> Engine:
    from gyrosi_engine.backend import learn_starter

    home = engine_home(tmp_path_factory.mktemp("gyro-backend"), built_home)
    engine = Engine(GyroConfig(), home=home)
    learn_starter(engine)
    engine.learn_texts([LEARNED])
    return engine


class TestConformance(BackendConformance):
    @pytest.fixture(autouse=True)
    def _engine(self, shared_engine: Engine) -> None:
        self.shared = shared_engine

    def make_backend(self, encoding: Any) -> Any:
        return GyroBackend({"learn_from_users": False}, encoding, engine=self.shared)


def turn(backend: GyroBackend, encoding: Any, text: str, conv: Any = None,
         max_tokens: int = 400) -> tuple[Any, list[Any]]:
    engine = TurnEngine(backend, encoding, config=Config(core=CoreConfig(max_tokens=max_tokens)))
    conv = conv or engine.new_conversation()
    events = list(engine.user_turn(conv, text))
    return conv, events


def messages(conv: Any) -> list[Message]:
    return [m for m in conv.messages if m.author.role == Role.ASSISTANT]


def test_answers_in_harmony_with_a_physics_trace(shared_engine: Engine,
                                                 harmony_encoding: Any) -> None:
    backend = GyroBackend({"learn_from_users": False}, harmony_encoding, engine=shared_engine)
    conv, _ = turn(backend, harmony_encoding, "Marmalade engines hum softly beneath the violet")
    analysis, final = messages(conv)[-2:]
    assert analysis.channel == "analysis" and final.channel == "final"
    trace = analysis.content[0].text
    for word in ("plan: the prompt continues learned text", "state 0x", "orbit", "theta"):
        assert word in trace
    assert final.content[0].text.startswith(" harbour while seven clockwork herons count")


def test_prompt_tokens_end_in_return(shared_engine: Engine, harmony_encoding: Any) -> None:
    backend = GyroBackend({"learn_from_users": False}, harmony_encoding, engine=shared_engine)
    engine = TurnEngine(backend, harmony_encoding)
    conv = engine.new_conversation()
    conv.messages.append(Message.from_role_and_content(Role.USER, "The cat"))
    prompt = engine.render(conv)
    out = list(backend.generate(prompt, stop_tokens=engine.stop_tokens, max_tokens=500))
    assert out[-1] == harmony_encoding.encode("<|return|>", allowed_special="all")[0]


def test_sessions_read_only_new_tokens(shared_engine: Engine, harmony_encoding: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    backend = GyroBackend({"learn_from_users": False}, harmony_encoding, engine=shared_engine)
    seen: list[int] = []
    original = backend._user_messages

    def spy(tokens: Any, start: int) -> Any:
        seen.append(start)
        return original(tokens, start)

    monkeypatch.setattr(backend, "_user_messages", spy)
    engine = TurnEngine(backend, harmony_encoding, config=Config(core=CoreConfig(max_tokens=60)))
    conv = engine.new_conversation()
    list(engine.user_turn(conv, "The cat sat"))
    list(engine.user_turn(conv, "Marmalade engines hum softly beneath the violet"))
    assert seen[0] == 0 and seen[1] > 0  # the second turn starts where the first prompt ended
    assert messages(conv)[-1].content[0].text.startswith(" harbour while seven")


def test_learns_user_messages_when_asked(tmp_path: Path, built_home: Path,
                                          harmony_encoding: Any) -> None:
    home = engine_home(tmp_path / "home", built_home)
    engine = Engine(GyroConfig(starter=False), home=home)
    quiet = GyroBackend({"starter": False, "learn_from_users": False}, harmony_encoding,
                        engine=engine)
    turn(quiet, harmony_encoding, "Zebras wearing velvet hats dance the quadrille at noon")
    assert engine.memory.tokens_learned == 0
    learning = GyroBackend({"starter": False, "cli": True}, harmony_encoding, engine=engine)
    turn(learning, harmony_encoding, "Zebras wearing velvet hats dance the quadrille at noon")
    assert engine.memory.tokens_learned > 0
    conv, _ = turn(quiet, harmony_encoding, "Zebras wearing velvet hats dance the")
    assert messages(conv)[-1].content[0].text.startswith(" quadrille at noon")


def test_empty_memory_says_so(tmp_path: Path, built_home: Path, harmony_encoding: Any) -> None:
    home = engine_home(tmp_path / "home", built_home)
    engine = Engine(GyroConfig(starter=False), home=home)
    backend = GyroBackend({"starter": False}, harmony_encoding, engine=engine)
    conv, events = turn(backend, harmony_encoding, "Hello?")
    assert messages(conv)[-1].content[0].text == 'I have learned nothing about "hello".'
    assert "nothing learned matches" in messages(conv)[-2].content[0].text


def test_generate_cli_continues_learned_text_deterministically(cli: Any, tmp_path: Path,
                                                               built_home: Path) -> None:
    home = engine_home(tmp_path / "home", built_home)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"backends": {"gyrosi": {"starter": False}}}))
    text = tmp_path / "story.txt"
    text.write_text(LEARNED + "\n")
    learned = cli.run(home, "learn", str(text), "--config", str(config))
    assert learned.returncode == 0, learned.stderr
    assert "Learned" in learned.stdout
    answers = [cli.run(home, "generate", "--backend", "gyrosi", "--no-learn", "--config",
                       str(config), "Marmalade engines hum softly beneath the violet harbour")
               for _ in range(2)]
    for answer in answers:
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.startswith(" while seven clockwork herons count the lanterns")
    assert answers[0].stdout == answers[1].stdout


def test_a_loop_in_learned_text_halts(tmp_path: Path, built_home: Path) -> None:
    home = engine_home(tmp_path / "home", built_home)
    engine = Engine(GyroConfig(starter=False), home=home)
    # Learned without an end (as a conversation message is), text that leads back into itself.
    cycle = " north wind, south wind, east wind, west wind," * 3
    engine.learn_prompts([engine.encode(cycle.strip())])
    from gyrosi_engine.generate import Trace

    at = engine.generator.walk(engine.start(), engine.encode("north wind, south wind, east"))
    trace = Trace()
    out = list(engine.generator.emit(at, 1000, trace))
    assert trace.halted == "loop"
    assert 5 < len(out) < 60


@pytest.mark.parametrize("prompt, expected", [
    ("the violet harbour while", " seven clockwork herons count the lanterns"),
    ("clockwork herons count the lanterns", " one by one until the tide"),
])
def test_a_prompt_from_mid_sentence_continues_learned_text(
        shared_engine: Engine, harmony_encoding: Any, prompt: str, expected: str) -> None:
    backend = GyroBackend({"learn_from_users": False}, harmony_encoding, engine=shared_engine)
    # Token contexts: the prompt's own last tokens are the context, wherever it starts (format
    # 2's state paths needed the state the learned text had there). Mid-line text was learned
    # with the space before its first word, which the backend tries too (`_read`).
    tokens = shared_engine.encode(" " + prompt)
    at = shared_engine.generator.walk(shared_engine.start(), tokens)
    assert shared_engine.generator.depth_matched(at, 6) == min(len(tokens), 6)
    conv, _ = turn(backend, harmony_encoding, prompt)
    analysis, final = messages(conv)[-2:]
    assert final.content[0].text.startswith(expected)
    assert "the prompt continues learned text" in analysis.content[0].text


def test_the_ladder_is_climbed_in_order(tmp_path: Path, built_home: Path) -> None:
    from gyrosi_engine import context

    home = engine_home(tmp_path / "home", built_home)
    engine = Engine(GyroConfig(starter=False), home=home)
    engine.learn_texts([LEARNED])
    gen, atlas = engine.generator, engine.atlas
    levels = set()
    for prompt in ["Zzyzx qwerty", "QQQQ", "xyzzy plugh", "12345 !!!", "\n\n\n", LEARNED[:40]]:
        at = gen.walk(engine.start(), engine.encode(prompt))
        step = gen.propose(at)
        state = at.state
        keys = context.path_keys(at.tokens, int(atlas.phenomenology[state]))
        path_hit = any(gen._lookup(k) for k in keys[1:])
        orbit_hit = bool(gen._lookup(keys[0]))
        if step is None:
            levels.add("exhausted")
            assert not path_hit and not orbit_hit
            continue
        levels.add(step.level)
        # the evidence rule weighs every context up to the deepest, so the token comes from one
        if step.level <= 1:
            assert any(step.token in gen._lookup(k) for k in keys[: step.depth + 1])
        if step.level >= 1:
            assert not path_hit
        if step.level >= 2:
            assert not orbit_hit
            assert any(gen._lookup(context.path_keys((), o)[0])
                       for o in atlas.neighbour_orbits(state))
    assert {0, 1, 2, "exhausted"} <= levels
