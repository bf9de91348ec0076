"""Passive memory under faults, through real `gyrosi` processes: `kill -9` mid-learn, torn and
damaged journals, snapshots from another format version or with a flipped byte, a memory opened
with another context depth. Damaged files are refused with one sentence and never overwritten."""

import contextlib
import signal
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gyrosi_engine.memory import files
from gyrosi_engine.memory.errors import MemoryCorruptError
from gyrosi_engine.memory.mark import MARK, Mark, read_mark
from gyrosi_engine.memory.store import BATCH_TOKENS, JOURNAL, SNAPSHOT
from gyrosi_engine.settings import GyroConfig

from .test_learn_cli import learned, one_error

Cli = Any
Kit = Any  # conftest.MemoryKit

SENTENCE = ("The lighthouse keeper on the northern cliff counted seventeen copper gulls before the "
            "violet storm arrived over the harbour at dawn.\n")
HEADER = files.JOURNAL_HEADER_SIZE


def learn_sentence(cli: Cli, home: Path, config: Path, tmp_path: Path) -> Path:
    text = tmp_path / "lighthouse.txt"
    text.write_text(SENTENCE, encoding="utf-8")
    done = cli.run(home, "learn", "--config", str(config), str(text))
    assert done.returncode == 0, done.stderr
    return text


def batch(tokens: np.ndarray, depth: int = GyroConfig().depth) -> bytes:
    # the path: `depth` tokens and the boundary state (`PathState.packed()`)
    return files.encode_batch(files.JournalBatch(tokens.astype(np.int64), True, (0,) * (depth + 1)))


def test_kill_9_mid_learn_keeps_the_committed_batches(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    parts = kit.corpus(tmp_path / "corpus", 3, 3)
    mark = home / "memory" / MARK
    proc = cli.start(home, "learn", "--config", str(config), *map(str, parts))
    try:
        while proc.poll() is None:
            # the mark moves once a batch is committed (written and fsynced); a journal merely
            # longer than its header may hold half a batch still being written
            with contextlib.suppress(MemoryCorruptError):
                if mark.exists() and (read_mark(mark) or Mark(0, 0, 0)).batches >= 1:
                    break
            time.sleep(0.01)
        assert proc.poll() is None, "learning ended before a batch was committed; grow the corpus"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()

    partial = kit.stats(home, config)
    tokens = partial["tokens_learned"]
    # Whole batches only: the first holds BATCH_TOKENS tokens, at most one `<|end|>` per file.
    assert tokens >= BATCH_TOKENS - len(parts)
    assert partial["journal_batches"] >= 1
    # the content index is committed with its batches: the documents begun in them, no more
    assert 1 <= partial["documents"] <= len(parts) and partial["passages"] >= 1

    again = cli.run(home, "learn", "--config", str(config), *map(str, parts))
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    fed = learned(again.stdout)  # the whole input, learned this time
    assert tokens <= fed
    final = kit.stats(home, config)
    assert final["tokens_learned"] == tokens + fed
    assert final["documents"] == partial["documents"] + len(parts)


def test_a_torn_journal_tail_is_dropped_and_cut_off_by_the_next_learn(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    learn_sentence(cli, home, config, tmp_path)
    base = kit.stats(home, config)["tokens_learned"]
    journal = home / "memory" / JOURNAL
    assert journal.stat().st_size == HEADER  # learn compacts: all is in the snapshot
    whole = batch(np.arange(1000, 1500))
    torn = batch(np.arange(2000, 2600))
    with open(journal, "ab") as f:
        f.write(whole)  # a committed batch: replayed
        f.write(torn[: len(torn) // 2])  # a crash mid-write: dropped
    stats = kit.stats(home, config)
    assert stats["tokens_learned"] == base + 500
    assert stats["journal_batches"] == 1

    # A few stray bytes after the last whole batch are a torn tail too.
    with open(journal, "ab") as f:
        f.write(b"GBAT\x07\x00")
    assert kit.stats(home, config)["tokens_learned"] == base + 500

    more = tmp_path / "more.txt"
    more.write_text("A second message about the quiet orchard behind the mill.\n", encoding="utf-8")
    done = cli.run(home, "learn", "--config", str(config), str(more))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    after = kit.stats(home, config)
    assert after["tokens_learned"] == base + 500 + learned(done.stdout)
    assert journal.stat().st_size == HEADER  # compacted; the torn bytes are gone


def test_a_zero_filled_torn_tail_is_dropped(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    learn_sentence(cli, home, config, tmp_path)
    journal = home / "memory" / JOURNAL
    with open(journal, "ab") as f:
        f.write(batch(np.arange(1000, 1300)))
        f.write(bytes(4096))  # ext4 data=writeback, XFS: the size landed, the data did not
    base = kit.stats(home, config)["tokens_learned"]
    more = tmp_path / "more.txt"
    more.write_text("A second message about the quiet orchard behind the mill.\n", encoding="utf-8")
    done = cli.run(home, "learn", "--config", str(config), str(more))
    assert done.returncode == 0, done.stderr
    assert kit.stats(home, config)["tokens_learned"] == base + learned(done.stdout)
    assert journal.stat().st_size == HEADER  # compacted; the zeros are gone


def test_a_torn_last_batch_with_a_bad_checksum_is_dropped(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    learn_sentence(cli, home, config, tmp_path)
    base = kit.stats(home, config)["tokens_learned"]
    journal = home / "memory" / JOURNAL
    last = bytearray(batch(np.arange(3000, 3400)))
    last[-3] ^= 0xFF  # its last page never reached the disk
    with open(journal, "ab") as f:
        f.write(batch(np.arange(1000, 1300)))
        f.write(last)
    assert kit.stats(home, config)["tokens_learned"] == base + 300


def test_a_damaged_batch_in_the_middle_of_the_journal_is_refused(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    text = learn_sentence(cli, home, config, tmp_path)
    journal = home / "memory" / JOURNAL
    first = bytearray(batch(np.arange(1000, 1300)))
    first[-5] ^= 0x01  # a flipped payload bit, with a whole batch after it
    with open(journal, "ab") as f:
        f.write(first)
        f.write(batch(np.arange(2000, 2300)))
    before = journal.read_bytes()
    for args in (["memory", "stats"], ["learn", str(text)]):
        done = cli.run(home, *args, "--config", str(config))
        assert done.returncode != 0
        error = one_error(done.stderr)
        assert str(journal) in error and "checksum" in error, error
        assert journal.read_bytes() == before


def patch_format(path: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, files.FORMAT + 1)
    path.write_bytes(bytes(data))


def flip_payload(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[files.SNAP_HEAD.size + 3] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "words"), [(patch_format, "format version"),
                                               (flip_payload, "checksum")])
def test_a_damaged_snapshot_is_refused_and_never_overwritten(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path,
    damage: Callable[[Path], None], words: str,
) -> None:
    home, config = home_cfg
    text = learn_sentence(cli, home, config, tmp_path)
    snapshot = home / "memory" / SNAPSHOT
    damage(snapshot)
    before = snapshot.read_bytes()
    out = tmp_path / "export.gsm"
    for args in (["memory", "stats", "--json"], ["memory", "export", str(out)],
                 ["learn", str(text)]):
        done = cli.run(home, *args, "--config", str(config))
        assert done.returncode != 0, args
        error = one_error(done.stderr)
        assert str(snapshot) in error and words in error, error
        assert snapshot.read_bytes() == before
    assert not out.exists()


def test_reset_recovers_a_damaged_memory_as_the_error_advises(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    learn_sentence(cli, home, config, tmp_path)
    flip_payload(home / "memory" / SNAPSHOT)
    stats = cli.run(home, "memory", "stats", "--config", str(config))
    assert "gyrosi memory reset --yes" in one_error(stats.stderr)
    done = cli.run(home, "memory", "reset", "--yes", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert kit.stats(home, config)["entries"] == 0


def test_a_memory_learned_at_the_default_depth_is_refused_at_depth_5(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    learn_sentence(cli, home, config, tmp_path)
    _, shallow = kit.home(tmp_path / "shallow", depth=5)
    snapshot = home / "memory" / SNAPSHOT
    before = snapshot.read_bytes()
    done = cli.run(home, "memory", "stats", "--config", str(shallow))
    assert done.returncode != 0
    error = one_error(done.stderr)
    default = GyroConfig().depth
    assert f"depth {default}" in error and "depth 5" in error, error
    assert snapshot.read_bytes() == before
    assert kit.stats(home, config)["depth"] == default  # still opens as learned
