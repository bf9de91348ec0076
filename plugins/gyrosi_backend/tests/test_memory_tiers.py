"""The two-tier store (issue 16): a memory-mapped base and a delta of what batches touched since.

Folding the delta into a new base is representation only: a memory folded after every few
batches holds, reads, answers and compacts exactly like one never folded. A format-3 memory is
upgraded in place, or read as it is where it cannot be written.
"""

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from gyrosi_engine import kernels
from gyrosi_engine.engine import Engine
from gyrosi_engine.generate import Trace
from gyrosi_engine.memory import files, store
from gyrosi_engine.memory.passive import Columns, Passive, group
from gyrosi_engine.settings import GyroConfig

from .test_learn_determinism import stdlib_texts
from .test_memory_io import mounted

PROMPTS = ("def read(self, size=-1):", "The Python Software Foundation", "import os\n",
           "class Queue:", "Return the number of")


def engine_at(home: Path, built_home: Path) -> Engine:
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "atlas").exists():
        (home / "atlas").symlink_to(built_home / "atlas")
    return Engine(GyroConfig(starter=False), home=home)


def answers(engine: Engine) -> list[list[int]]:
    gen = engine.generator
    return [list(gen.emit(gen.walk(engine.start(), engine.encode(p)), 60, Trace()))
            for p in PROMPTS]


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str]]:
    return stdlib_texts(1_500_000)


def test_folding_changes_nothing_the_memory_holds(
        tmp_path: Path, built_home: Path, texts: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "BATCH_TOKENS", 1 << 15)
    never = engine_at(tmp_path / "never", built_home)
    never.learn_texts(texts)
    # now one that folds its delta into a new base every time it passes 20,000 rows
    monkeypatch.setattr(store, "FOLD_MIN_ROWS", 20_000)
    monkeypatch.setattr(store, "FOLD_MAX_ROWS", 20_000)
    folded = engine_at(tmp_path / "folded", built_home)
    folded.learn_texts(texts)
    assert folded.memory.generation > never.memory.generation + 5  # it did fold, often
    monkeypatch.undo()  # then both learn more without folding
    for engine in (never, folded):
        engine.learn_texts(texts[:3])
    a, b = never.memory.passive, folded.memory.passive
    assert len(b.delta.ident) and len(b.base.ident)  # and reads below see both tiers
    assert not len(a.base.ident)  # while this one read its delta alone
    for mine, theirs in zip(a.whole(cap=False), b.whole(cap=False), strict=True):
        assert np.array_equal(mine, theirs)
    assert (len(a), a.contexts(), a.discounts()) == (len(b), b.contexts(), b.discounts())
    # what a compaction counts before writing: the rows its caps leave, in one tier or two
    for passive in (a, b):
        assert passive.capped_len() == \
            sum(len(part.ident) for part in passive.rows(cap=True)) < len(passive)
    # every context read through the kernels' two-tier gather equals the one-tier reading
    whole = a.whole(cap=False)
    contexts = np.unique(whole.ident >> np.uint64(18))
    for ctx in np.random.default_rng(5).choice(contexts, 2000, replace=False).tolist():
        assert [x.tolist() for x in a.evidence(ctx)] == [x.tolist() for x in b.evidence(ctx)]
    assert answers(never) == answers(folded)
    never.memory.compact()
    folded.memory.compact()
    assert answers(never) == answers(folded)
    for engine in (never, folded):
        engine.memory.export(engine.memory.root / "export.gsm")
    assert (never.memory.root / "export.gsm").read_bytes() == \
        (folded.memory.root / "export.gsm").read_bytes()


def test_a_delta_row_overrides_and_deletes_the_base_row() -> None:
    """`kernels.gather` and `find` on a hand-made pair of tiers."""
    def cols(rows: list[tuple[int, int, int, int]]) -> Columns:
        ident, meta, count, spread = zip(*rows, strict=True) if rows else ((), (), (), ())
        return Columns(np.asarray(ident, np.uint64), np.asarray(meta, np.uint32),
                       np.asarray(count, np.uint16), np.asarray(spread, np.uint16))

    ctx = 5 << 18
    base = cols([(ctx | 1, 10, 1, 0), (ctx | 2, 20, 1, 0), (ctx | 3, 30, 2, 1),
                 ((6 << 18) | 1, 40, 1, 0)])
    delta = cols([(ctx | 2, 51, 2, 0), (ctx | 3, 60, 0, 0), (ctx | 4, 71, 1, 0)])
    view = (*base, *delta)
    ident, meta, count, _ = kernels.gather(view, np.uint64(5))
    assert (ident & np.uint64((1 << 18) - 1)).tolist() == [1, 2, 4]  # 3 was deleted
    assert meta.tolist() == [10, 51, 71] and count.tolist() == [1, 2, 1]
    assert kernels.find(view, np.uint64(ctx | 3)) == -1
    assert kernels.find(view, np.uint64(ctx | 2)) == 51
    assert kernels.find(view, np.uint64(ctx | 1)) == 10
    assert kernels.gather(view, np.uint64(6))[1].tolist() == [40]  # the base alone: a view
    # the rows a compaction will write: context 5 holds 1, 2 and 4 (recency 5, 25, 35), and 6
    # its 1; with a cap of two a context keeps its two most recent
    assert [kernels.capped_rows(view, cap) for cap in (64, 3, 2, 1)] == [4, 4, 3, 2]
    passive = Passive(zero_fold=np.zeros(1 << 18, bool), per_context=2)
    passive.base, passive.delta, passive.size = base, delta, 4
    kept = passive.whole(cap=True)
    assert (kept.ident & np.uint64((1 << 18) - 1)).tolist() == [2, 4, 1]


def test_a_batch_writes_the_delta_in_place_unless_a_reader_holds_it() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(1, 1 << 40, (3000, 4), dtype=np.uint64)
    tokens = rng.integers(0, 5000, 3000)
    passive, alone = Passive(zero_fold=np.zeros(1 << 18, bool)), Passive(zero_fold=np.zeros(
        1 << 18, bool))

    def merge(k: int, into: Passive = passive) -> int:
        # the same entries again (the delta keeps its size), each time more recent
        into.merge(group(keys, tokens, 3000 * k))
        return int(into.delta.ident.ctypes.data)

    where = [merge(k) for k in range(4)]
    assert where[1] == where[2] == where[3]  # in place, once it had its columns
    k = 4

    def whole_view() -> object:
        return passive.view()

    def one_column() -> object:
        return passive.view()[4]  # the delta's idents alone

    def rows_part_way() -> object:
        rows = passive.rows(cap=False)
        next(rows)  # a pass over the rows, left part-way
        return rows

    for reader in (whole_view, one_column, rows_part_way):
        kept = [np.array(col) for col in passive.view()[4:]]
        held = reader()
        assert where[-1] not in (merge(k), merge(k + 1)), reader.__name__  # not written over
        if reader is whole_view:
            assert all(np.array_equal(a, b)  # type: ignore[index]
                       for a, b in zip(held[4:], kept, strict=True))
        elif reader is one_column:
            assert np.array_equal(held, kept[0])  # type: ignore[arg-type]
        del held
        where = [merge(k + 2), merge(k + 3)]
        assert where[0] == where[1], reader.__name__  # in place again once let go
        k += 4
    # and the same rows as a memory whose delta was never shared
    for j in range(k):
        merge(j, alone)
    for mine, theirs in zip(passive.whole(cap=False), alone.whole(cap=False), strict=True):
        assert np.array_equal(mine, theirs)


def test_a_snapshot_written_in_parts_is_the_one_written_whole(tmp_path: Path) -> None:
    """Parts (a fold's, a compaction's) have each column written at its place, from the count
    given: the same bytes as the entries written whole, whatever the parts; a count that is
    wrong either way is refused and leaves the file as it was."""
    rng = np.random.default_rng(7)
    n = 50_000
    ident = np.unique(rng.integers(0, 1 << 58, n, dtype=np.uint64))
    whole = Columns(ident, rng.integers(0, 1 << 31, len(ident), dtype=np.uint32),
                    rng.integers(1, 9, len(ident), dtype=np.uint16),
                    rng.integers(0, 3, len(ident), dtype=np.uint16))
    parts = [whole.take(np.arange(a, min(a + 7_000, len(ident))))
             for a in range(0, len(ident), 7_000)]
    snap = files.Snapshot(16, 24, 3, 99, 123, whole, {"x": np.arange(10)})
    files.write_snapshot(tmp_path / "whole.gsm", snap)
    files.write_snapshot(tmp_path / "parts.gsm", snap, parts, rows=len(ident))
    assert (tmp_path / "whole.gsm").read_bytes() == (tmp_path / "parts.gsm").read_bytes()
    back = files.read_snapshot(tmp_path / "parts.gsm")  # the digest holds
    assert all(np.array_equal(a, b) for a, b in zip(back.entries, whole, strict=True))
    for wrong in (len(ident) + 1, len(ident) - 1):
        with pytest.raises(RuntimeError):  # a wrong count is a bug, never a damaged memory
            files.write_snapshot(tmp_path / "parts.gsm", snap, parts, rows=wrong)
        assert (tmp_path / "whole.gsm").read_bytes() == (tmp_path / "parts.gsm").read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def write_format_3(path: Path, snap: files.Snapshot) -> None:
    """A snapshot as GyroSI 0.x wrote memory format 3 (the layout `files` still reads)."""
    index = zlib.compress(files.encode_arrays(snap.index), 6) if snap.index else b""
    e = snap.entries
    head = [files.SNAP_MAGIC, 3, snap.depth, snap.key_bits, len(index), snap.generation,
            snap.tokens_learned, snap.next_seq, len(e.ident)]
    payload = b"".join(np.ascontiguousarray(c).tobytes() for c in e) + index
    digest = hashlib.sha256(files.SNAP_HEAD_3.pack(*head, bytes(32)) + payload).digest()
    tmp = path.with_name(".old-writer.tmp")  # replaced, as every GyroSI writes its snapshot
    tmp.write_bytes(files.SNAP_HEAD_3.pack(*head, digest) + payload)
    os.replace(tmp, path)


def test_a_format_3_memory_is_upgraded_in_place(
        tmp_path: Path, built_home: Path, texts: list[tuple[str, str]]) -> None:
    engine = engine_at(tmp_path / "home", built_home)
    engine.learn_texts(texts[:40])
    engine.memory.compact()
    before = answers(engine)
    root = engine.memory.root
    snap = files.read_snapshot(root / store.SNAPSHOT)
    write_format_3(root / store.SNAPSHOT, snap)
    assert struct.unpack_from("<I", (root / store.SNAPSHOT).read_bytes(), 8) == (3,)
    # on a read-only mount it cannot be upgraded: it is read as it is and answers the same
    with mounted(["--bind", str(root)], root):
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(root)],
                                 capture_output=True, text=True)
        if remount.returncode:
            pytest.skip(f"cannot remount read-only ({remount.stderr.strip()})")
        assert answers(engine_at(tmp_path / "home", built_home)) == before
    assert struct.unpack_from("<I", (root / store.SNAPSHOT).read_bytes(), 8) == (3,)
    again = engine_at(tmp_path / "home", built_home)  # a writable one is upgraded on open
    assert struct.unpack_from("<I", (root / store.SNAPSHOT).read_bytes(), 8) == (files.FORMAT,)
    assert answers(again) == before
    upgraded = files.read_snapshot(root / store.SNAPSHOT)
    for mine, theirs in zip(upgraded.entries, snap.entries, strict=True):
        assert np.array_equal(mine, theirs)
    assert (upgraded.generation, upgraded.tokens_learned) == (snap.generation,
                                                                snap.tokens_learned)


def test_a_large_snapshot_is_checked_in_the_background_and_damage_refused(
        tmp_path: Path, built_home: Path, texts: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_at(tmp_path / "home", built_home)
    engine.learn_texts(texts[:40])
    engine.memory.compact()
    path = engine.memory.snapshot_path
    data = bytearray(path.read_bytes())
    data[files.SNAP_HEAD.size + 3] ^= 0x10  # a flipped bit in the first column
    path.write_bytes(bytes(data))
    monkeypatch.setattr(store, "VERIFY_NOW_BYTES", 0)  # every snapshot counts as large
    damaged = engine_at(tmp_path / "home", built_home)  # opens at once
    with pytest.raises(files.MemoryCorruptError, match="fails its checksum"):
        damaged.memory.learn_stream([np.asarray(engine.encode("more text"), np.int64)])
    assert path.read_bytes() == bytes(data)  # never overwritten


LEARNER = """
import sys
import threading
from pathlib import Path
from gyrosi_engine.engine import Engine
from gyrosi_engine.memory import store
from gyrosi_engine.settings import GyroConfig
from tests_texts import texts
texts = [tuple(t) for t in texts]
store.BATCH_TOKENS = 1 << 14
store.FOLD_MIN_ROWS = store.FOLD_MAX_ROWS = 30_000
engine = Engine(GyroConfig(starter=False), home=Path(sys.argv[1]))
def batch(n):
    print(engine.memory.tokens_learned, engine.memory.journal_batches, flush=True)
engine.learn_texts(texts, on_batch=batch)
print("done", flush=True)
"""


def test_kill_9_during_a_fold_loses_nothing_committed(
        tmp_path: Path, built_home: Path, texts: list[tuple[str, str]]) -> None:
    """A learner is killed while it writes a fold's new base (its temporary snapshot is
    there): every batch it reported committed is in the memory, which opens."""
    home = tmp_path / "home"
    engine_at(home, built_home).close()
    (tmp_path / "tests_texts.py").write_text(f"texts = {json.dumps(texts[:60])}\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    script = tmp_path / "learner.py"
    script.write_text(LEARNER)
    memory = home / "memory"
    killed_in_fold = 0
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(home)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        committed = 0
        deadline = time.monotonic() + 300
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            if list(memory.glob(".passive.gsm.*.tmp")):  # a fold is writing its new base
                os.kill(proc.pid, signal.SIGKILL)
                killed_in_fold += 1
                break
            if proc.poll() is not None:
                break
            time.sleep(0.001)
        proc.wait()
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read() if proc.stderr else ""
        out = proc.stdout.read().split()
        numbers = [int(x) for x in out if x.isdigit()]
        committed = max(numbers[::2], default=0)
        reopened = engine_at(home, built_home)
        assert reopened.memory.tokens_learned >= committed, (attempt, out[-4:])
        reopened.close()
        if "done" in out:
            break
    assert killed_in_fold, "no fold was caught mid-write"


ANSWERER = """
import json, resource, sys
from pathlib import Path
from gyrosi_engine.engine import Engine
from gyrosi_engine.generate import Trace
from gyrosi_engine.settings import GyroConfig
engine = Engine(GyroConfig(starter=False), home=Path(sys.argv[1]))
gen = engine.generator
out = [list(gen.emit(gen.walk(engine.start(), engine.encode(p)), 60, Trace()))
       for p in json.loads(sys.argv[2])]
engine.memory._verified(wait=True)  # the whole snapshot read once more by its digest check
anon = [int(x.split()[1]) * 1024 for x in Path("/proc/self/status").read_text().splitlines()
        if x.startswith("RssAnon:")][0]
print(json.dumps({"answers": out, "anon": anon}))
"""
CGROUP = Path("/sys/fs/cgroup/memory")


def test_a_memory_larger_than_the_memory_limit_still_answers(
        tmp_path: Path, built_home: Path, texts: list[tuple[str, str]]) -> None:
    """The snapshot is memory-mapped, not read into RAM: a process whose memory cgroup allows
    less than the snapshot's size (page cache included) opens it and answers as without one."""
    if not (CGROUP / "memory.limit_in_bytes").exists() or not os.access(CGROUP, os.W_OK):
        pytest.skip("no writable cgroup-v1 memory controller here; CI runs as root and has one")
    home = tmp_path / "home"
    engine = engine_at(home, built_home)
    engine.learn_texts(texts[:60])
    engine.memory.compact()
    engine.close()
    # grown past any limit that leaves the process room to run: 45M more entries in contexts
    # no prompt reaches (random 40-bit keys), 720 MB more snapshot
    path = home / "memory" / store.SNAPSHOT
    snap = files.read_snapshot(path)
    rng = np.random.default_rng(16)
    pad = np.sort(rng.integers(0, 1 << 58, 45_000_000, dtype=np.uint64))
    pad = pad[np.concatenate(([True], pad[1:] != pad[:-1]))]  # np.unique hashes: 100 s here
    ident = np.concatenate([np.asarray(snap.entries.ident), pad])
    order = np.argsort(ident, kind="stable")
    ones = np.ones(len(pad), np.uint16)
    snap.entries = Columns(*(np.concatenate([np.asarray(mine), extra])[order] for mine, extra in
                             zip(snap.entries, (pad, ones.astype(np.uint32), ones, ones),
                                 strict=True)))
    del order, ident, pad
    files.write_snapshot(path, snap)
    del snap
    size = path.stat().st_size
    script = tmp_path / "answer.py"
    script.write_text(ANSWERER)
    args = [sys.executable, str(script), str(home), json.dumps(PROMPTS)]
    free = subprocess.run(args, capture_output=True, text=True, check=True)
    expected = json.loads(free.stdout)
    limit = expected["anon"] + (200 << 20)
    assert size > limit + (100 << 20), (size, limit)  # the memory is larger than the limit
    # out of the page cache, so the held process reads it from disk and its pages count
    # against its own limit (cached pages stay charged to whoever read them first)
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    group = CGROUP / f"gyrosi-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit))
        if (group / "memory.memsw.limit_in_bytes").exists():
            (group / "memory.memsw.limit_in_bytes").write_text(str(limit))
        held = subprocess.run(["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"',
                               "sh", *args], capture_output=True, text=True)
        assert held.returncode == 0, held.stderr[-2000:]
        assert json.loads(held.stdout)["answers"] == expected["answers"]
        peak = int((group / "memory.max_usage_in_bytes").read_text())
        # it ran at the limit, below the memory's size: pages read were dropped and read again
        assert limit - (8 << 20) <= peak <= limit < size
    finally:
        group.rmdir()


def test_an_open_leaves_the_content_index_to_a_thread_and_its_first_use_waits(
        tmp_path: Path, built_home: Path, texts: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_at(tmp_path / "home", built_home)
    engine.learn_texts(texts)
    engine.memory.compact()
    questions = ("How do I read a file?", "What does a queue do?", "json decode error")
    memory = engine.memory
    want = [memory.index.search(q, memory.next_seq) for q in questions]
    assert all(want)
    before = memory.stats()
    engine.close()
    # decoding the index is held back: the open must not wait for it
    gate = threading.Event()
    decode = files._index
    monkeypatch.setattr(files, "_index", lambda *a: gate.wait(60) and decode(*a))
    reopened = engine_at(tmp_path / "home", built_home)
    again = reopened.memory
    loading = again.index._loading
    assert loading is not None and not loading.done()
    gate.set()
    assert [again.index.search(q, again.next_seq) for q in questions] == want
    after = again.stats()
    assert (after.entries, after.documents, after.passages, after.postings) == \
        (before.entries, before.documents, before.passages, before.postings)
    # and learning goes on from it, as from the memory that wrote it
    reopened.learn_texts([("extra.txt", "one more line")])
    assert (again.index.documents, again.index.passages) == \
        (before.documents + 1, before.passages + 1)
