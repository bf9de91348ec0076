"""Answering from learned documents: the right passage, its source, follow-ups, honest refusals,
cut answers, determinism across processes, the format upgrade, parallel sessions."""

import json
import shutil
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from gyrosi_core.config import Config, CoreConfig
from gyrosi_core.events import SourceCited, TurnEnd
from gyrosi_core.turn import TurnEngine
from gyrosi_engine.backend import GyroBackend
from gyrosi_engine.engine import Engine
from gyrosi_engine.settings import GyroConfig

from .test_backend import engine_home

# Made-up documents (not in any README: the starter corpus learns the READMEs), each about one
# subject; questions name the subject, not a sentence of the text.
DOCS = {
    "zephyrine.txt": (
        "Zephyrine Lamps\n\nA zephyrine lamp burns powdered moonstone and gives a cold green "
        "light that lasts nine nights. Keepers trim the wick with silver shears and never with "
        "iron, which snuffs the flame.\n\nRefilling a zephyrine lamp takes a spoonful of "
        "moonstone dust for every night of light wanted.\n"),
    "quorble.txt": (
        "The Quorble Dance\n\nThe quorble is a circle dance of the river towns in which every "
        "dancer hops twice to the left and once to the right while humming a falling tune.\n\n"
        "A quorble ends when the eldest dancer claps three times and everyone bows to the "
        "water.\n"),
    "brasswick.txt": (
        "Brasswick Clocks\n\nA brasswick clock keeps time with a pendulum of braided copper "
        "and must be wound with a left-handed key at every new moon.\n\nWhen a brasswick clock "
        "runs slow its owner whistles into the case until the pendulum catches up.\n"),
}


@pytest.fixture(scope="module")
def docs_home(tmp_path_factory: pytest.TempPathFactory, built_home: Path, cli: Any) -> Path:
    """A home that learned DOCS with `gyrosi learn` (a folder), no starter corpus."""
    root = tmp_path_factory.mktemp("answers")
    home = engine_home(root / "home", built_home)
    folder = root / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    (root / "config.json").write_text(json.dumps({"backends": {"gyrosi": {"starter": False}}}))
    done = cli.run(home, "learn", str(folder), "--config", str(root / "config.json"))
    assert done.returncode == 0, done.stderr
    return home


def config_of(home: Path) -> str:
    return str(home.parent / "config.json")


def ask(cli: Any, home: Path, question: str, *extra: str) -> dict[str, Any]:
    done = cli.run(home, "generate", "--backend", "gyrosi", "--no-learn", "--json", "--config",
                   config_of(home), *extra, question)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_question_is_answered_from_its_document_with_the_source(cli: Any,
                                                                  docs_home: Path) -> None:
    out = ask(cli, docs_home, "How do I refill a zephyrine lamp?")
    assert "moonstone dust" in out["final"]
    assert "quorble" not in out["final"].lower() and "brasswick" not in out["final"].lower()
    [source] = out["sources"]
    assert source["name"].endswith("zephyrine.txt") and "zephyrine" in source["terms"]
    analysis = out["messages"][0]["text"]
    assert "zephyrine.txt" in analysis and "matched terms: " in analysis
    other = ask(cli, docs_home, "What is the quorble?")
    assert "The quorble is a circle dance of the river towns" in other["final"]
    assert other["sources"][0]["name"].endswith("quorble.txt")


def test_nothing_learned_is_said_honestly(cli: Any, docs_home: Path) -> None:
    out = ask(cli, docs_home, "What is the capital of Mongolia?")
    assert out["final"].strip() == 'I have learned nothing about "capital" or "mongolia".'
    assert out["sources"] == []


def test_learned_text_is_still_continued(cli: Any, docs_home: Path) -> None:
    out = ask(cli, docs_home, "A brasswick clock keeps time with a pendulum of")
    assert out["final"].startswith(" braided copper and must be wound with a left-handed key")


def test_answers_are_identical_across_processes(cli: Any, docs_home: Path) -> None:
    first = ask(cli, docs_home, "Tell me about brasswick clocks")
    second = ask(cli, docs_home, "Tell me about brasswick clocks")
    assert first["final"] == second["final"] and "pendulum" in first["final"]
    assert first["messages"] == second["messages"]


def backend_for(home: Path, encoding: Any, **section: Any) -> GyroBackend:
    engine = Engine(GyroConfig(starter=False), home=home)
    return GyroBackend({"starter": False, "learn_from_users": False, **section}, encoding,
                       engine=engine)


def test_follow_up_goes_on_where_the_answer_stopped(docs_home: Path,
                                                   harmony_encoding: Any) -> None:
    # no plan in the analysis: the token budget is the answer's alone, whatever the paths
    backend = backend_for(docs_home, harmony_encoding, trace=False)
    turns = TurnEngine(backend, harmony_encoding,
                       config=Config(core=CoreConfig(max_tokens=40)))
    conv = turns.new_conversation()
    first = list(turns.user_turn(conv, "What is the quorble dance?"))[-1]
    assert isinstance(first, TurnEnd) and first.stop_reason == "length"
    assert "circle dance" in first.final_text and "bows to the water" not in first.final_text
    more = list(turns.user_turn(conv, "go on"))[-1].final_text
    assert "everyone bows to the water" in more
    assert "circle dance" not in more
    done = list(turns.user_turn(conv, "tell me more"))[-1].final_text
    assert done.startswith("That is all I learned there:") and "quorble.txt" in done


def test_a_cut_answer_is_reported_as_cut(docs_home: Path, harmony_encoding: Any) -> None:
    backend = backend_for(docs_home, harmony_encoding)
    turns = TurnEngine(backend, harmony_encoding, config=Config(core=CoreConfig(max_tokens=60)))
    events = list(turns.user_turn(turns.new_conversation(), "What is a zephyrine lamp?"))
    end = events[-1]
    assert isinstance(end, TurnEnd) and end.stop_reason == "length"
    assert end.usage.completion_tokens == 60
    assert any(isinstance(e, SourceCited) for e in events)
    whole = TurnEngine(backend, harmony_encoding, config=Config(core=CoreConfig(max_tokens=400)))
    assert list(whole.user_turn(whole.new_conversation(),
                                "What is a zephyrine lamp?"))[-1].stop_reason == "stop"


def test_two_sessions_generate_while_another_process_learns(docs_home: Path, tmp_path: Path,
                                                           cli: Any,
                                                           harmony_encoding: Any) -> None:
    home = tmp_path / "home"
    shutil.copytree(docs_home, home, symlinks=True)
    (tmp_path / "config.json").write_text(config_of_text())
    big = tmp_path / "big.txt"
    big.write_text("Filler about nothing in particular, line %d.\n" * 1 + "".join(
        f"Filler line {i} about nothing in particular.\n" for i in range(60000)))
    learner = cli.start(home, "learn", str(big), "--config", str(tmp_path / "config.json"))
    backend = backend_for(home, harmony_encoding)
    assert backend.parallel_sessions > 1
    answers: dict[str, str] = {}

    def converse(name: str, question: str) -> None:
        turns = TurnEngine(backend, harmony_encoding,
                           config=Config(core=CoreConfig(max_tokens=200)))
        conv = turns.new_conversation()
        answers[name] = list(turns.user_turn(conv, question))[-1].final_text

    threads = [threading.Thread(target=converse, args=(n, q)) for n, q in
               (("lamp", "How do I refill a zephyrine lamp?"),
                ("clock", "What does a brasswick clock need at every new moon?"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert learner.wait(timeout=300) == 0, learner.communicate()[1]
    assert "moonstone dust" in answers["lamp"]
    assert "left-handed key" in answers["clock"]


def config_of_text() -> str:
    return json.dumps({"backends": {"gyrosi": {"starter": False}}})


def test_an_old_format_memory_is_refused_and_reset_moves_it_aside(
        docs_home: Path, tmp_path: Path, cli: Any) -> None:
    home = tmp_path / "home"
    shutil.copytree(docs_home, home, symlinks=True)
    (tmp_path / "config.json").write_text(config_of_text())
    cfg = str(tmp_path / "config.json")
    snap_path = home / "memory" / "passive.gsm"
    # format 2 keyed entries by paths of boundary states: its version field says so
    raw = bytearray(snap_path.read_bytes())
    struct.pack_into("<I", raw, 8, 2)
    snap_path.write_bytes(bytes(raw))
    for command in (["memory", "stats"], ["learn", str(snap_path)]):
        refused = cli.run(home, *command, "--config", cfg)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert "memory format 2" in refused.stderr
        assert "gyrosi memory reset --yes" in refused.stderr
    assert snap_path.read_bytes() == bytes(raw)  # refused, never overwritten
    reset = cli.run(home, "memory", "reset", "--yes", "--config", cfg)
    assert reset.returncode == 0, reset.stderr
    aside = list((home / "memory").glob("passive.gsm.old-format-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bytes(raw)
    assert f"Moved the old-format passive.gsm aside to {aside[0]}." in reset.stdout
    stats = cli.run(home, "memory", "stats", "--json", "--config", cfg)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["entries"] == 0
    # a memory from a newer GyroSI is refused with one sentence
    raw = bytearray(snap_path.read_bytes())
    struct.pack_into("<I", raw, 8, 99)
    snap_path.write_bytes(bytes(raw))
    refused = cli.run(home, "memory", "stats", "--config", cfg)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "format version 99" in refused.stderr


def test_the_answer_streams_as_it_is_walked(docs_home: Path, harmony_encoding: Any) -> None:
    """Each answer token is yielded as soon as it is chosen: when the first one arrives, the
    walk has taken one step, not the whole answer."""
    backend = backend_for(docs_home, harmony_encoding)
    generator = backend.engine.generator
    steps: list[int] = []
    walk = generator._addressed

    def counted(*args: Any) -> Any:
        steps.append(1)
        return walk(*args)

    generator._addressed = counted  # type: ignore[method-assign]
    turns = TurnEngine(backend, harmony_encoding)
    conv = turns.new_conversation()
    seen_at_first_delta = None
    for event in turns.user_turn(conv, "How do I refill a zephyrine lamp?"):
        if getattr(event, "channel", None) == "final" and type(event).__name__ == "ContentDelta":
            if seen_at_first_delta is None:
                seen_at_first_delta = len(steps)
    assert seen_at_first_delta is not None and seen_at_first_delta <= 1
    assert len(steps) > 10
