"""Memory under faults and bad input, through real `gyrosi` processes: kill -9 mid-learn, torn
and damaged journals, foreign or damaged snapshots, two learners at once, odd input files."""

import json
import os
import random
import signal
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from .test_backend import engine_home

QUIET = {"backends": {"gyrosi": {"starter": False}}}
WORDS = ("amber basalt cobalt delta ember fjord garnet harbor iris jasper kelp lumen marble "
         "nimbus onyx pewter quartz russet sable tundra umber velvet willow xenon yarrow zephyr "
         "the of and to in is was for on with as by at from").split()


def story(name: str) -> str:
    return (f"{name} carried nine brass lanterns across the frozen estuary while the pilots "
            f"sang of harbours they had never seen and kept their ledgers dry.")


def filler(seed: int, megabytes: float) -> str:
    rnd = random.Random(seed)
    lines, size = [], 0
    while size < megabytes * 1e6:
        line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))).capitalize() + "."
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


class Home:
    """A home with the session's atlas, a config without the starter corpus, and the CLI."""

    def __init__(self, cli: Any, root: Path, built_home: Path) -> None:
        self.cli, self.root = cli, root
        self.path = engine_home(root / "home", built_home)
        self.config = root / "config.json"
        self.config.write_text(json.dumps(QUIET))

    def run(self, *args: str, config: Path | None = None) -> Any:
        return self.cli.run(self.path, *args, "--config", str(config or self.config))

    def start(self, *args: str) -> Any:
        return self.cli.start(self.path, *args, "--config", str(self.config))

    def stats(self) -> dict[str, Any]:
        out = self.run("memory", "stats", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def generate(self, prompt: str) -> str:
        out = self.run("generate", "--backend", "gyrosi", "--no-learn", prompt)
        assert out.returncode == 0, out.stderr
        return out.stdout

    @property
    def memory(self) -> Path:
        return self.path / "memory"


@pytest.fixture
def home(cli: Any, tmp_path: Path, built_home: Path) -> Home:
    return Home(cli, tmp_path, built_home)


def one_sentence_error(out: Any, *words: str) -> None:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    message = out.stderr.strip()
    assert message.startswith("Error:") and message.count("\n") == 0, message
    for word in words:
        assert word in message, message


def test_kill_9_mid_learn_keeps_committed_batches(home: Home, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text(filler(1, 12))
    proc = home.start("learn", str(big))
    journal = home.memory / "journal.gsj"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.stat().st_size > 100_000:  # a batch is committed
            break
        time.sleep(0.02)
    assert proc.poll() is None, "learning finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    learned = home.stats()["tokens_learned"]
    assert 0 < learned < 3_000_000  # the committed batches, not the whole file
    # A crash mid-append leaves a torn tail: it is dropped, not an error.
    with open(journal, "ab") as f:
        f.write(b"GBAT" + struct.pack("<I", 999_999) + b"\x01" * 17)
    assert home.stats()["tokens_learned"] == learned
    again = home.run("learn", str(tmp_path / "big.txt"))
    assert again.returncode == 0, again.stderr
    assert home.stats()["tokens_learned"] > learned


def test_two_learners_at_once_both_land(home: Home, tmp_path: Path) -> None:
    files = []
    for n, name in enumerate(("Captain Orsolya", "Navigator Bertrand")):
        path = tmp_path / f"learner{n}.txt"
        path.write_text(filler(10 + n, 3) + story(name) + "\n" + filler(20 + n, 1))
        files.append(path)
    procs = [home.start("learn", str(path)) for path in files]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    for name in ("Captain Orsolya", "Navigator Bertrand"):
        answer = home.generate(f"{name} carried nine brass lanterns across the frozen")
        assert answer.startswith(" estuary while the pilots sang of harbours"), answer


def test_bad_input_is_reported_not_fatal(home: Home, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "latin1.txt").write_bytes("Caf\u00e9 cr\u00e8me is sweet.\n".encode("latin-1"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 40)
    (folder / "sub" / "good.md").write_text(story("Quartermaster Ilse") + "\n")
    out = home.run("learn", str(folder))
    assert out.returncode == 0, out.stderr
    assert "Learned" in out.stdout and "from 2 messages" in out.stdout
    assert "1 binary, skipped" in out.stdout and "blob.bin" in out.stdout
    assert "1 empty, skipped" in out.stdout and "empty.txt" in out.stdout
    assert "not valid UTF-8" in out.stdout and "latin1.txt" in out.stdout
    assert home.generate("Quartermaster Ilse carried nine brass lanterns across").startswith(
        " the frozen estuary")


def test_empty_stdin_and_a_huge_line(home: Home, tmp_path: Path, cli: Any) -> None:
    import subprocess

    from .conftest import GYROSI, gyrosi_env

    empty = subprocess.run([*GYROSI, "learn", "-", "--config", str(home.config)], input="",
                           env=gyrosi_env(home.path), capture_output=True, text=True)
    assert empty.returncode == 0, empty.stderr
    assert "Standard input was empty" in empty.stdout
    huge = tmp_path / "huge.txt"
    huge.write_text(" ".join(random.Random(3).choice(WORDS) for _ in range(1_200_000)))
    assert b"\n" not in huge.read_bytes() and huge.stat().st_size > 6_000_000
    out = home.run("learn", str(huge))
    assert out.returncode == 0, out.stderr
    assert home.stats()["tokens_learned"] > 1_000_000


def test_missing_path_and_reset_without_yes(home: Home, tmp_path: Path) -> None:
    missing = home.run("learn", str(tmp_path / "nowhere.txt"))
    one_sentence_error(missing, "does not exist", "nothing was learned")
    one_sentence_error(home.run("memory", "reset"), "--yes")


def learned_home(home: Home, tmp_path: Path) -> bytes:
    text = tmp_path / "t.txt"
    text.write_text(story("Bosun Tamsin") + "\n")
    assert home.run("learn", str(text)).returncode == 0
    return (home.memory / "passive.gsm").read_bytes()


@pytest.mark.parametrize("damage, words", [
    ("version", ("format version", "passive.gsm")),
    ("payload", ("checksum", "passive.gsm")),
])
def test_a_damaged_snapshot_is_refused_and_left_alone(home: Home, tmp_path: Path, damage: str,
                                                     words: tuple[str, ...]) -> None:
    original = bytearray(learned_home(home, tmp_path))
    if damage == "version":
        original[8:12] = struct.pack("<I", 99)
    else:
        original[-5] ^= 0x40
    snapshot = home.memory / "passive.gsm"
    snapshot.write_bytes(bytes(original))
    for args in (("memory", "stats"), ("learn", str(tmp_path / "t.txt")),
                 ("generate", "--backend", "gyrosi", "hello")):
        one_sentence_error(home.run(*args), *words)
    assert snapshot.read_bytes() == bytes(original)  # never overwritten


def test_a_damaged_batch_mid_journal_is_refused(home: Home, tmp_path: Path) -> None:
    import numpy as np

    from gyrosi_engine.memory import files

    learned_home(home, tmp_path)  # compacted: the journal is empty now
    journal = home.memory / "journal.gsj"
    with open(journal, "ab") as f:
        for first in (1000, 2000):  # two committed batches by hand
            f.write(files.encode_batch(files.JournalBatch(
                np.arange(first, first + 50, dtype=np.int64), True, (0,) * 6)))
    data = bytearray(journal.read_bytes())
    data[files.JOURNAL_HEAD.size + 4 + 40] ^= 0xFF  # inside the first batch, not the tail
    journal.write_bytes(bytes(data))
    one_sentence_error(home.run("memory", "stats"), "journal.gsj", "checksum")
    assert journal.read_bytes() == bytes(data)


def test_another_depth_is_refused(home: Home, tmp_path: Path) -> None:
    learned_home(home, tmp_path)
    other = tmp_path / "depth5.json"
    other.write_text(json.dumps({"backends": {"gyrosi": {"starter": False, "depth": 5}}}))
    one_sentence_error(home.run("memory", "stats", config=other), "depth 6", "depth 5")


def test_export_reset_import_round_trip(home: Home, tmp_path: Path) -> None:
    learned_home(home, tmp_path)
    before = home.stats()
    export = tmp_path / "mem.gsm"
    assert home.run("memory", "export", str(export)).returncode == 0
    reset = home.run("memory", "reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert home.stats()["entries"] == 0
    imported = home.run("memory", "import", str(export))
    assert imported.returncode == 0, imported.stderr
    assert home.stats()["entries"] == before["entries"]
    assert home.generate("Bosun Tamsin carried nine brass lanterns across the").startswith(
        " frozen estuary while")
    bogus = tmp_path / "bogus.gsm"
    bogus.write_text("not a memory")
    one_sentence_error(home.run("memory", "import", str(bogus)), "bogus.gsm")


def test_learning_twice_is_deterministic(home: Home, tmp_path: Path, cli: Any,
                                         built_home: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text(filler(5, 0.2) + story("Purser Wenceslas") + "\n")
    other = Home(cli, tmp_path / "other", built_home)
    for h in (home, other):
        for _ in range(2):
            assert h.run("learn", str(text)).returncode == 0
    a, b = home.stats(), other.stats()
    assert (a["entries"], a["tokens_learned"]) == (b["entries"], b["tokens_learned"])
    # the same input learned the same way gives the same file, byte for byte
    assert (home.memory / "passive.gsm").read_bytes() == (other.memory / "passive.gsm").read_bytes()
    assert os.path.getsize(home.memory / "passive.gsm") > 1000
