"""Committed means kept: the commit mark (`journal.mark`) tells a committed batch from a torn
write, so damage to what was committed is refused with a sentence naming the file and the byte,
never dropped; and `gyrosi memory repair` moves damaged files aside and keeps every whole batch
before the damage."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gyrosi_engine.atlas import Atlas
from gyrosi_engine.learn import PathState
from gyrosi_engine.memory import files, store
from gyrosi_engine.memory.errors import MemoryCorruptError
from gyrosi_engine.memory.mark import MARK, Mark, read_mark
from gyrosi_engine.memory.store import JOURNAL, SNAPSHOT, Memory
from gyrosi_engine.vocab import vocab

from .test_learn_cli import one_error

Cli = Any
Kit = Any  # conftest.MemoryKit

BATCH = 24
TEXTS = [
    "The ferryman counted the lanterns on the far bank each evening, writing the number in "
    "chalk on the inside of the cabin door beside the tide table.",
    "A beekeeper in the hills sold amber honey in stoneware jars sealed with wax, and every "
    "jar carried the name of the meadow where the bees had gathered.",
    "The cartographer redrew the coastline after the winter storms, moving three sandbars and "
    "erasing a small island that the sea had quietly taken back.",
    "On the last market day of the year, the baker gave away the loaves left at closing to "
    "whoever waited by the fountain in the square.",
    "The organist practised the same fugue every morning until the sexton, sweeping the nave, "
    "could whistle every voice of it from memory.",
]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(store, "BATCH_TOKENS", BATCH)
    yield


@dataclass
class Learned:
    root: Path
    totals: list[int]  # tokens after the compacted text, then after each journal batch
    starts: list[int]  # the byte offset of each journal batch

    @property
    def journal(self) -> Path:
        return self.root / JOURNAL


def open_memory(root: Path, atlas: Atlas) -> Memory:
    voc = vocab()
    return Memory(root, voc, atlas, depth=6, per_context=64,
                  end_token=voc.encoding.encode_single_token("<|end|>"))


def learn(root: Path, atlas: Atlas) -> Learned:
    """One text compacted into the snapshot, then four committed batches in the journal."""
    voc = vocab()
    end = voc.encoding.encode_single_token("<|end|>")
    memory = open_memory(root, atlas)

    def pieces(texts: list[str]) -> list[tuple[np.ndarray, str | None]]:
        return [(np.asarray(voc.encoding.encode_ordinary(t) + [end], dtype=np.int64), f"d{i}")
                for i, t in enumerate(texts)]

    memory.learn_stream(pieces(TEXTS[:1]))
    memory.compact()
    totals, starts = [memory.tokens_learned], [memory.offset]

    def batch_done(_: int) -> None:
        totals.append(memory.tokens_learned)
        starts.append(memory.offset)

    memory.learn_stream(pieces(TEXTS[1:]), on_batch=batch_done)
    starts.pop()  # the end of the last batch
    assert len(starts) == len(TEXTS) - 1 and memory.journal_batches == len(starts)
    assert read_mark(root / MARK) == Mark(memory.generation, memory.offset, len(starts))
    return Learned(root, totals, starts)


def flip(path: Path, at: int) -> bytes:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    return bytes(data)


def refused(root: Path, atlas: Atlas, *words: str) -> str:
    with pytest.raises(MemoryCorruptError) as caught:
        open_memory(root, atlas)
    message = str(caught.value)
    assert "\n" not in message and message.endswith("."), message
    for word in words:
        assert word in message, message
    return message


BATCH_HEAD = files._batch_head(6).size + 4  # magic, tokens, fresh, path, docs bytes, then crc


@pytest.mark.parametrize("where", ["payload", "token count"])
@pytest.mark.parametrize("which", [-1, 1])  # the last batch, a middle one
def test_a_flipped_byte_in_a_committed_batch_is_refused_and_kept(
    atlas: Atlas, tmp_path: Path, where: str, which: int
) -> None:
    done = learn(tmp_path / "memory", atlas)
    start = done.starts[which]
    damaged = flip(done.journal, start + (BATCH_HEAD + 3 if where == "payload" else 4))
    refused(done.root, atlas, str(done.journal), f"at byte {start}")
    assert done.journal.read_bytes() == damaged  # kept for repair or reset


def test_a_torn_tail_past_the_mark_is_still_dropped(atlas: Atlas, tmp_path: Path) -> None:
    done = learn(tmp_path / "memory", atlas)
    with open(done.journal, "ab") as f:
        f.write(b"GBAT\x09\x00\x00")  # a writer killed mid-append, past the mark
    assert open_memory(done.root, atlas).tokens_learned == done.totals[-1]


def test_a_journal_cut_short_or_missing_is_refused(atlas: Atlas, tmp_path: Path) -> None:
    done = learn(tmp_path / "memory", atlas)
    whole = done.journal.read_bytes()
    done.journal.write_bytes(whole[: done.starts[-1] + 20])  # inside the last batch
    refused(done.root, atlas, str(done.journal), "inside what was committed")
    done.journal.write_bytes(whole[: done.starts[-1]])  # at a batch boundary: still too short
    refused(done.root, atlas, str(done.journal), f"ends at byte {done.starts[-1]}")
    done.journal.unlink()
    refused(done.root, atlas, str(done.journal), "missing", "4 batches")


def test_a_lost_snapshot_is_refused(atlas: Atlas, tmp_path: Path) -> None:
    done = learn(tmp_path / "memory", atlas)
    (done.root / SNAPSHOT).unlink()
    refused(done.root, atlas, str(done.root / MARK), "snapshot")


def test_a_damaged_mark_is_refused(atlas: Atlas, tmp_path: Path) -> None:
    done = learn(tmp_path / "memory", atlas)
    flip(done.root / MARK, 20)
    refused(done.root, atlas, str(done.root / MARK), "damaged")


def test_a_memory_without_a_mark_opens_as_before_and_gets_one_at_its_next_write(
    atlas: Atlas, tmp_path: Path
) -> None:
    done = learn(tmp_path / "memory", atlas)
    (done.root / MARK).unlink()  # as the code before marks wrote it
    memory = open_memory(done.root, atlas)
    assert memory.tokens_learned == done.totals[-1]
    assert not (done.root / MARK).exists()  # reading writes nothing
    memory.learn(np.asarray([1, 2, 3], dtype=np.int64), PathState.start(atlas, 6))
    assert read_mark(done.root / MARK) == Mark(memory.generation, memory.offset, 5)


# --- gyrosi memory repair -----------------------------------------------------------------------


def home_with_memory(kit: Kit, atlas: Atlas, tmp_path: Path) -> tuple[Path, Path, Learned]:
    home, config = kit.home(tmp_path)
    return home, config, learn(home / "memory", atlas)


@pytest.mark.parametrize("which", [1, -1])  # a middle batch, the last one
def test_repair_keeps_the_batches_before_a_damaged_one(
    cli: Cli, kit: Kit, atlas: Atlas, tmp_path: Path, which: int
) -> None:
    home, config, done = home_with_memory(kit, atlas, tmp_path)
    damaged = flip(done.journal, done.starts[which] + BATCH_HEAD + 3)
    stats = cli.run(home, "memory", "stats", "--config", str(config))
    error = one_error(stats.stderr)
    assert "gyrosi memory repair" in error and f"byte {done.starts[which]}" in error
    fixed = cli.run(home, "memory", "repair", "--config", str(config))
    assert fixed.returncode == 0, fixed.stderr
    assert "Traceback" not in fixed.stderr
    kept = which % len(done.starts)  # whole batches before the damaged one
    asides = sorted(done.root.glob(f"{JOURNAL}.damaged-*"))
    assert len(asides) == 1 and asides[0].read_bytes() == damaged  # moved aside, not deleted
    out = fixed.stdout
    assert f"Moved {JOURNAL} aside to {asides[0]}" in out and "checksum" in out, out
    assert f"Kept the journal's {kept} whole batch" in out, out
    assert f"{done.totals[kept]:,} tokens learned" in out, out
    after = kit.stats(home, config)
    assert after["tokens_learned"] == done.totals[kept]
    assert after["stray_files"] == 0
    again = cli.run(home, "memory", "repair", "--config", str(config))
    assert again.returncode == 0 and "intact; nothing was moved" in again.stdout, again.stdout


def test_repair_of_a_lost_journal_keeps_the_snapshot_and_the_mark_aside(
    cli: Cli, kit: Kit, atlas: Atlas, tmp_path: Path
) -> None:
    home, config, done = home_with_memory(kit, atlas, tmp_path)
    done.journal.unlink()
    assert "missing" in one_error(cli.run(home, "memory", "stats", "--config",
                                          str(config)).stderr)
    fixed = cli.run(home, "memory", "repair", "--config", str(config))
    assert fixed.returncode == 0, fixed.stderr
    assert f"Moved {MARK} aside" in fixed.stdout and "4 of them are not kept" in fixed.stdout
    assert kit.stats(home, config)["tokens_learned"] == done.totals[0]


def test_repair_of_a_damaged_snapshot_keeps_the_journal(
    cli: Cli, kit: Kit, atlas: Atlas, tmp_path: Path
) -> None:
    home, config, done = home_with_memory(kit, atlas, tmp_path)
    snapshot = done.root / SNAPSHOT
    flip(snapshot, files.SNAP_HEAD.size + 5)
    fixed = cli.run(home, "memory", "repair", "--config", str(config))
    assert fixed.returncode == 0, fixed.stderr
    assert f"Moved {SNAPSHOT} aside" in fixed.stdout, fixed.stdout
    # what the snapshot held is gone; the journal's four batches are kept
    assert kit.stats(home, config)["tokens_learned"] == done.totals[-1] - done.totals[0]
