"""Fault injection for the memory, in the manner of SQLite's I/O-error and crash tests and
LevelDB's FaultInjectionTestEnv: a learn of three batches plus a compaction is run once to
number its file operations (`fsio`: every open for writing, write, fsync, truncate, rename,
unlink and folder fsync), then again for EACH operation in turn failing with ENOSPC, with EIO,
as a crash followed by a power loss (what was not durable is dropped) and as a killed process
(nothing dropped). After each: the memory opens in a fresh `Memory`; its token count is the count
after a whole batch, never less than what was committed before the fault; the next writer leaves
no stray file, and what it wrote reopens identically. Then the same through real `gyrosi`
processes (`GYROSI_FAULT`), a real full disk (tmpfs, as root) and a real `kill -9` at chosen
points of a compaction."""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gyrosi_engine import fsio
from gyrosi_engine.atlas import Atlas
from gyrosi_engine.memory import store
from gyrosi_engine.memory.errors import MemoryAccessError
from gyrosi_engine.memory.mark import MARK, Mark, read_mark
from gyrosi_engine.memory.store import JOURNAL, SNAPSHOT, Memory, stray_files
from gyrosi_engine.vocab import Vocab, vocab

from .conftest import gyrosi_env
from .test_learn_cli import learned, one_error
from .test_memory_io import mounted

Cli = Any
Kit = Any  # conftest.MemoryKit

BATCH = 32  # tokens per batch here (BATCH_TOKENS), so a few sentences make several batches
BASE = ["The harbour master logged nine grey ships arriving through the fog before the bell of "
        "the old chapel rang twice over the water and the gulls went quiet.",
        "In the valley below the mill, the miller's daughter kept a ledger of every sack of "
        "barley weighed on the brass scale, and the numbers never once disagreed."]
TEXTS = ["A lantern swung from the mast while the crew counted coils of rope, tarred and "
         "dry, stacked in the hold beside barrels of salted fish from the northern banks.",
         "The clockmaker replaced a worn brass gear in the tower clock, oiled its pivots, "
         "and set the hands by the noon gun fired from the fortress on the hill above.",
         "Two hundred swallows gathered on the telegraph wires at dusk, restless, facing "
         "south, while the farmer's children guessed which morning they would finally go."]
MORE = "One more line, learned by the next writer after the fault."
KINDS = ("enospc", "eio", "crash", "kill")  # kill: a crash with nothing dropped (kill -9)


@pytest.fixture(scope="module", autouse=True)
def small_batches() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "BATCH_TOKENS", BATCH)
        yield


@pytest.fixture(scope="module")
def voc() -> Vocab:
    return vocab()


@dataclass
class Rig:
    voc: Vocab
    atlas: Atlas
    base: Path  # a memory with a snapshot and one committed batch in its journal

    def open(self, root: Path) -> Memory:
        end = self.voc.encoding.encode_single_token("<|end|>")
        return Memory(root, self.voc, self.atlas, depth=6, per_context=64, end_token=end)

    def pieces(self, texts: list[str], prefix: str) -> list[tuple[np.ndarray, str | None]]:
        end = self.voc.encoding.encode_single_token("<|end|>")
        return [(np.asarray(self.voc.encoding.encode_ordinary(t) + [end], dtype=np.int64),
                 f"{prefix}{i}") for i, t in enumerate(texts)]

    def copy(self, root: Path) -> Path:
        shutil.copytree(self.base, root)
        return root


@pytest.fixture(scope="module")
def rig(voc: Vocab, atlas: Atlas, tmp_path_factory: pytest.TempPathFactory) -> Rig:
    base = tmp_path_factory.mktemp("fault-base") / "memory"
    r = Rig(voc, atlas, base)
    memory = r.open(base)
    memory.learn_stream(r.pieces(BASE[:1], "base"))
    memory.compact()
    memory.learn_stream(r.pieces(BASE[1:], "journal"))  # committed, not compacted
    assert memory.journal_batches >= 1
    return r


@dataclass
class Counted:
    ops: list[tuple[str, str]]
    totals: list[int]  # tokens learned before the learn, then after each batch

    def committed_before(self, k: int) -> int:
        """Batches whose journal fsync returned before operation k (1-based)."""
        return sum(1 for name, path in self.ops[: k - 1]
                   if name == "fsync" and Path(path).name == JOURNAL)


def learn_and_compact(rig: Rig, memory: Memory, totals: list[int] | None = None) -> None:
    def batch_done(_: int) -> None:
        if totals is not None:
            totals.append(memory.tokens_learned)

    memory.learn_stream(rig.pieces(TEXTS, "doc"), on_batch=batch_done)
    memory.compact()


@pytest.fixture(scope="module")
def counted(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Counted:
    root = rig.copy(tmp_path_factory.mktemp("fault-count") / "memory")
    memory = rig.open(root)
    totals = [memory.tokens_learned]
    with fsio.installed(fsio.FaultPlan(root=root)) as plan:
        learn_and_compact(rig, memory, totals)
    assert len(totals) == len(TEXTS) + 1 and totals[0] < totals[1] < totals[-1]
    names = {Path(p).name for _, p in plan.ops}
    assert {JOURNAL, SNAPSHOT, MARK} <= names
    return Counted(plan.ops, totals)


def inject(rig: Rig, root: Path, at: int, kind: str) -> tuple[Memory, str]:
    """Learn and compact with operation `at` failing as `kind`; returns the memory object and
    what happened ("sentence", "crash" or "completed")."""
    memory = rig.open(root)
    plan = fsio.FaultPlan(at, "crash" if kind == "kill" else kind, root)
    try:
        with fsio.installed(plan):
            learn_and_compact(rig, memory)
    except MemoryAccessError as exc:
        message = str(exc)
        assert "\n" not in message and message.endswith("."), message
        assert str(root) in message, message
        return memory, "sentence"
    except fsio.Crash:
        if kind == "crash":
            plan.power_loss()
        return memory, "crash"
    return memory, "completed"


def check_after(rig: Rig, root: Path, counted: Counted, at: int, kind: str) -> str:
    """The promises after a fault at operation `at`; returns the outcome, as the README says."""
    memory, what = inject(rig, root, at, kind)
    assert what == ("crash" if kind in ("crash", "kill") else "sentence"), (at, kind, what)
    reopened = rig.open(root)  # it opens
    tokens = reopened.tokens_learned
    c = counted.committed_before(at)
    allowed = counted.totals[c : c + 2]  # before or after the batch in flight
    assert tokens in allowed, (at, kind, counted.ops[at - 1], tokens, counted.totals)
    name = Path(counted.ops[at - 1][1]).name
    if c == len(TEXTS):
        kept = "after the last batch's fsync (its mark, the compaction): every batch kept"
    elif name == JOURNAL:  # open, truncate, write or fsync of the batch being appended
        kept = "appending a batch: " + ("dropped" if tokens == counted.totals[c] else
                                        "kept (it was whole)")
    else:  # the batch's fsync returned: it is committed, whatever happens to its mark
        assert tokens == counted.totals[c], (at, kind, counted.ops[at - 1])
        kept = "marking a committed batch: kept"
    # the next writer: the failed process itself after an error (its RAM reloads), a fresh one
    # after a crash; it removes every leftover and writes a consistent memory
    writer = memory if what == "sentence" else reopened
    writer.learn_stream(rig.pieces([MORE], "more"))
    assert writer.tokens_learned > tokens
    assert stray_files(root) == [], (at, kind, stray_files(root))
    assert read_mark(root / MARK) == Mark(writer.generation, writer.offset,
                                          writer.journal_batches)
    again = rig.open(root)
    assert again.tokens_learned == writer.tokens_learned
    mine, theirs = again.passive.whole(cap=False), writer.passive.whole(cap=False)
    assert np.array_equal(mine.ident, theirs.ident)
    assert np.array_equal(mine.meta, theirs.meta)
    return kept


@pytest.mark.parametrize("kind", KINDS)
def test_every_operation_of_a_learn_and_compaction_fails_safely(
    rig: Rig, counted: Counted, tmp_path: Path, kind: str
) -> None:
    outcomes: Counter[str] = Counter()
    for at in range(1, len(counted.ops) + 1):
        outcomes[check_after(rig, rig.copy(tmp_path / f"{at}" / "memory"), counted, at, kind)] \
            += 1
        shutil.rmtree(tmp_path / f"{at}")
    assert sum(outcomes.values()) == len(counted.ops) > 40
    ops = Counter(name for name, _ in counted.ops)
    print(f"\nfault injection, {kind}: {len(counted.ops)} operations "
          f"({', '.join(f'{n} {o}' for o, n in sorted(ops.items()))}); tokens after reopening: "
          f"{', '.join(f'{n} {o}' for o, n in sorted(outcomes.items()))}")


def find(counted: Counted, name: str, file: str, nth: int = 1) -> int:
    """The 1-based number of the nth operation `name` on `file`."""
    hits = [i + 1 for i, (n, p) in enumerate(counted.ops) if n == name and Path(p).name == file]
    return hits[nth - 1]


def test_crash_windows_of_a_batch(rig: Rig, counted: Counted, tmp_path: Path) -> None:
    """The batch is committed at its journal fsync; the mark follows."""
    # before the fsync: the batch is not durable, the power cut drops it
    root = rig.copy(tmp_path / "a" / "memory")
    inject(rig, root, find(counted, "fsync", JOURNAL, 2), "crash")
    assert rig.open(root).tokens_learned == counted.totals[1]
    # fsynced, the mark's rename not durable yet: the batch lies past the old mark, whole: kept
    root = rig.copy(tmp_path / "b" / "memory")
    inject(rig, root, find(counted, "fsync_dir", "memory", 2), "crash")
    before = read_mark(root / MARK)
    assert before is not None and before.offset < (root / JOURNAL).stat().st_size
    memory = rig.open(root)
    assert memory.tokens_learned == counted.totals[2]
    memory.learn_stream(rig.pieces([MORE], "more"))  # the next writer moves the mark over it
    after = read_mark(root / MARK)
    assert after is not None and after.offset == (root / JOURNAL).stat().st_size
    assert after.batches == before.batches + 2


def test_crash_windows_of_a_compaction(rig: Rig, counted: Counted, tmp_path: Path) -> None:
    """Compaction: the snapshot of generation g + 1, then its journal, then its mark."""
    full = counted.totals[-1]
    generation = rig.open(rig.base).generation
    # the new snapshot renamed but its folder not fsynced: the power cut undoes the rename
    root = rig.copy(tmp_path / "a" / "memory")
    inject(rig, root, find(counted, "rename", SNAPSHOT) + 1, "crash")
    memory = rig.open(root)
    assert (memory.generation, memory.tokens_learned) == (generation, full)  # from the journal
    # snapshot durable, journal not replaced: a stale journal, ignored, not replayed twice
    root = rig.copy(tmp_path / "b" / "memory")
    inject(rig, root, find(counted, "open", f".{JOURNAL}.{os.getpid()}.tmp", 1), "crash")
    mark = read_mark(root / MARK)
    assert mark is not None and mark.generation == generation and mark.batches == 4
    memory = rig.open(root)
    assert (memory.generation, memory.tokens_learned, memory.journal_batches) == \
        (generation + 1, full, 0)
    # journal replaced, mark not yet: the mark is stale and marks nothing
    root = rig.copy(tmp_path / "c" / "memory")
    inject(rig, root, find(counted, "rename", MARK, len(TEXTS) + 1), "kill")
    mark = read_mark(root / MARK)
    assert mark is not None and mark.generation == generation
    memory = rig.open(root)
    assert (memory.generation, memory.tokens_learned) == (generation + 1, full)
    memory.learn_stream(rig.pieces([MORE], "more"))
    assert read_mark(root / MARK) == Mark(generation + 1, memory.offset, 1)


# --- through real processes -------------------------------------------------------------------


def fault_env(home: Path, spec: str, log: Path | None = None) -> dict[str, str]:
    env = gyrosi_env(home) | {"GYROSI_FAULT": spec, "GYROSI_FAULT_ROOT": str(home / "memory")}
    return env | ({"GYROSI_FAULT_LOG": str(log)} if log else {})


def gyrosi(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    from .conftest import GYROSI

    return subprocess.run([*GYROSI, *args], env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def cli_ops(kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """The operations of `gyrosi learn` of one small file into an empty memory."""
    root = tmp_path_factory.mktemp("cli-count")
    home, config = kit.home(root)
    text = root / "a.txt"
    text.write_text(TEXTS[0] + "\n", encoding="utf-8")
    log = root / "ops.log"
    done = gyrosi(fault_env(home, "0:eio", log), "learn", "--config", str(config), str(text))
    assert done.returncode == 0, done.stderr
    ops = [tuple(line.split(" ", 2)[1:]) for line in log.read_text().splitlines()]
    return [(name, Path(path).name) for name, path in ops]


def cli_point(ops: list[tuple[str, str]], name: str, file: str, nth: int = 1) -> int:
    hits = [i + 1 for i, op in enumerate(ops) if op[0] == name and file in op[1]]
    return hits[nth - 1]


@pytest.mark.parametrize(("op", "file", "nth", "kind"), [
    ("write", JOURNAL, 2, "enospc"),  # the batch's append (the first write is the new journal)
    ("fsync", MARK, 2, "eio"),  # the batch is committed, its mark fails
    ("fsync_dir", "memory", 4, "eio"),  # compaction: the snapshot renamed, not yet durable
    ("rename", JOURNAL, 2, "exit"),  # a process killed there
])
def test_a_cli_learn_with_a_fault_says_one_sentence_and_keeps_whole_batches(
    cli: Cli, kit: Kit, tmp_path: Path, cli_ops: list[tuple[str, str]],
    op: str, file: str, nth: int, kind: str,
) -> None:
    home, config = kit.home(tmp_path)
    text = tmp_path / "a.txt"
    text.write_text(TEXTS[0] + "\n", encoding="utf-8")
    at = cli_point(cli_ops, op, file, nth)
    done = gyrosi(fault_env(home, f"{at}:{kind}"), "learn", "--config", str(config), str(text))
    assert done.returncode != 0
    if kind == "exit":
        assert done.returncode == 137 and "Traceback" not in done.stderr
    else:
        error = one_error(done.stderr)
        assert ("No space left on device" if kind == "enospc" else "Input/output error") in error
    tokens = kit.stats(home, config)["tokens_learned"]  # it opens; whole batches only
    again = cli.run(home, "learn", "--config", str(config), str(text))
    assert again.returncode == 0, again.stderr
    fed = learned(again.stdout)
    assert tokens in (0, fed)
    stats = kit.stats(home, config)
    assert stats["tokens_learned"] == tokens + fed and stats["stray_files"] == 0


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.parametrize(("op", "file", "nth"), [
    ("write", SNAPSHOT, 1), ("rename", SNAPSHOT, 1), ("rename", MARK, 3),
])
def test_a_real_kill_9_inside_a_compaction_keeps_every_batch(
    cli: Cli, kit: Kit, tmp_path: Path, cli_ops: list[tuple[str, str]], op: str, file: str,
    nth: int,
) -> None:
    """`gyrosi learn` stops itself (SIGSTOP) at an operation of its compaction, and the test
    sends it a real SIGKILL there."""
    home, config = kit.home(tmp_path)
    text = tmp_path / "a.txt"
    text.write_text(TEXTS[0] + "\n", encoding="utf-8")
    at = cli_point(cli_ops, op, file, nth)
    from .conftest import GYROSI

    proc = subprocess.Popen([*GYROSI, "learn", "--config", str(config), str(text)],
                            env=fault_env(home, f"{at}:stop"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None and not stopped(proc.pid):
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    memory = home / "memory"
    stats = kit.stats(home, config)
    assert stats["tokens_learned"] > 0  # the batch was committed before the compaction
    again = cli.run(home, "learn", "--config", str(config), str(text))
    assert again.returncode == 0, again.stderr
    final = kit.stats(home, config)
    assert final["tokens_learned"] == stats["tokens_learned"] + learned(again.stdout)
    assert final["stray_files"] == 0 and not stray_files(memory)


# --- a real full disk ---------------------------------------------------------------------------


def test_a_real_full_disk_at_every_page_keeps_whole_batches(
    rig: Rig, counted: Counted, tmp_path: Path
) -> None:
    """A tmpfs (mounted as root) filled to leave 0, 1, 2, ... pages free before a learn and a
    compaction: each run fails in a sentence at another operation or completes."""
    disk = tmp_path / "disk"
    seen: Counter[str] = Counter()
    where: set[str] = set()
    with mounted(["-t", "tmpfs", "-o", "size=2m", "tmpfs"], disk):
        for free in range(0, 10):
            root = disk / "memory"
            shutil.rmtree(root, ignore_errors=True)
            (disk / "filler").unlink(missing_ok=True)
            rig.copy(root)
            fill(disk / "filler", free)
            memory = rig.open(root)
            try:
                learn_and_compact(rig, memory)
                seen["completed"] += 1
            except MemoryAccessError as exc:
                assert "No space left on device" in str(exc), exc
                seen["sentence"] += 1
                where.add(str(exc).rsplit("(", 1)[-1].split(")")[0].rsplit("/", 1)[-1])
            tokens = rig.open(root).tokens_learned
            assert tokens in counted.totals, (free, tokens, counted.totals)
            (disk / "filler").unlink()  # space comes back
            memory.learn_stream(rig.pieces([MORE], "more"))
            assert stray_files(root) == []
            assert rig.open(root).tokens_learned == memory.tokens_learned > tokens
    assert seen["sentence"] >= 3 and seen["completed"] >= 1 and len(where) >= 2, (seen, where)
    print(f"\nreal full disk: {sum(seen.values())} runs, {seen['sentence']} refused in a "
          f"sentence (full while writing {', '.join(sorted(where))}), {seen['completed']} "
          f"completed")


def fill(path: Path, free_pages: int) -> None:
    """Fill the file system of `path` until `free_pages` pages are left."""
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(bytes(4096))
    stat = os.statvfs(path.parent)
    if free_pages:
        with open(path, "r+b") as f:
            f.truncate(max(0, os.path.getsize(path) - free_pages * stat.f_frsize))
