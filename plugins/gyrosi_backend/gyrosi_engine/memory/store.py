"""`Memory`: passive memory on disk (`GYROSI_HOME/memory/`), shared safely between processes.

Every write happens under `memory.lock` (filelock), one batch at a time: the writer first catches
up with what other processes appended to the journal, then folds its batch in RAM, appends it to
the journal and fsyncs. Two learners therefore interleave batch by batch and both are kept; the
entries' recency follows the journal's order, which every process replays identically.
"""

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from filelock import FileLock, Timeout

from .. import context, fsio
from ..ahead import ahead
from ..atlas import Atlas
from ..context import KEY_BITS
from ..learn import Paths, PathState, Plan, Stream
from ..vocab import Vocab
from . import files, heap
from .errors import MemoryAccessError, MemoryBusyError, MemoryCorruptError, MemoryVersionError
from .index import ContentIndex
from .mark import MARK, Mark, read_mark, write_mark
from .passive import MAX_BATCH_RECORDS, NO_LOWER, Batch, Columns, Passive, group

if TYPE_CHECKING:
    from ..learn_map import Mapper

#: A learned piece: tokens, and the name of the document that starts at its first token (None:
#: it continues the document before it).
type Piece = tuple[npt.NDArray[np.int64], str | None]
CONVERSATION = "conversation"  # the document name of a learned conversation message
#: What `_locked` is asked to do that only reads: on a memory this process cannot write (a
#: read-only home or mount), these go ahead without the lock, since no writer can be there.
READING = frozenset({"open", "read", "export"})


def describe_os_error(exc: OSError) -> str:
    """`strerror` and the file, as a user reads them."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or type(exc).__name__}{where}"


def stray_files(root: Path) -> list[Path]:
    """Temporary files left by writers that were killed mid-write (`.NAME.PID.tmp`)."""
    try:
        return sorted(p for p in root.glob(".*.tmp") if p.is_file())
    except OSError:
        return []

SNAPSHOT = "passive.gsm"
JOURNAL = "journal.gsj"
LOCK = "memory.lock"
LOCK_WAIT_S = 600.0
#: A snapshot up to this size has its digest checked when it is opened; a larger one in a
#: background thread (the memory answers meanwhile; a write waits for the check, and damage
#: found is refused from then on), so opening stays quick however large the memory.
VERIFY_NOW_BYTES = 256 << 20
#: Delta rows that trigger a fold into a new base: a quarter of the base (so a row is rewritten
#: a bounded number of times), at least 8M rows (small memories fold rarely: 30 MB of docs
#: learned 6% faster than with 4M, two folds fewer) and at most 12M (the delta, rewritten by
#: every batch, stays small: 192 MB).
FOLD_MIN_ROWS, FOLD_MAX_ROWS = 1 << 23, 12 << 20


def fold_rows(base: int) -> int:
    return min(max(base // 4, FOLD_MIN_ROWS), FOLD_MAX_ROWS)


#: Tokens per committed batch: what a `kill -9` can lose at most, and with two batches in flight
#: (one folded while the next is prepared) most of learning's working memory. Where batches end
#: changes nothing the memory holds (the caps apply at compaction), but it is fixed all the same,
#: so a journal's batches never depend on timing.
BATCH_TOKENS = 1 << 17


def _batches(
    pieces: Iterable[Piece | npt.NDArray[np.int64]], target: int, most: int
) -> Iterator[tuple[npt.NDArray[np.int64], list[tuple[int, str]]]]:
    """Token arrays regrouped into batches of about `target` tokens, never more than `most`,
    each with the (offset, name) of the documents that start in it."""
    pending: list[npt.NDArray[np.int64]] = []
    docs: list[tuple[int, str]] = []
    size = 0

    def flush() -> Iterator[tuple[npt.NDArray[np.int64], list[tuple[int, str]]]]:
        whole = np.concatenate(pending)
        for i in range(0, len(whole), most):
            yield whole[i : i + most], [(o - i, n) for o, n in docs if i <= o < i + most]

    for piece in pieces:
        tokens, name = piece if isinstance(piece, tuple) else (piece, None)
        if name is not None:
            docs.append((size, name))
        pending.append(tokens)
        size += len(tokens)
        if size >= target:
            yield from flush()
            pending, docs, size = [], [], 0
    if size:
        yield from flush()


@dataclass
class MemoryStats:
    entries: int
    contexts: int
    tokens_learned: int
    depth: int
    per_context: int
    per_token: int
    snapshot_bytes: int
    journal_bytes: int
    journal_batches: int
    stray_files: int = 0  # left by writers killed mid-write; the next writer removes them
    stray_bytes: int = 0
    documents: int = 0
    passages: int = 0
    postings: int = 0

    @property
    def bytes_per_entry(self) -> float:
        return (self.snapshot_bytes - files.SNAP_HEAD.size) / self.entries if self.entries else 0.0


class Memory:
    """Passive memory of one home, kept current with the files on every write."""

    def __init__(
        self, root: Path, vocab: Vocab, atlas: Atlas, *, depth: int, per_context: int,
        per_token: int = 0, end_token: int,
    ) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise MemoryAccessError(
                f"The memory folder {root} is a file; move it aside or set GYROSI_HOME to "
                f"another folder.") from None
        except OSError as exc:
            raise MemoryAccessError(
                f"Cannot create the memory folder {root}: {describe_os_error(exc)}.") from None
        if not root.is_dir():
            raise MemoryAccessError(
                f"The memory folder {root} is not a folder; move it aside or set GYROSI_HOME "
                f"to another folder.")
        self.vocab, self.atlas, self.depth = vocab, atlas, depth
        self.levels = context.levels(depth)  # the keyed context lengths
        self.per_token = per_token
        self.stream = Stream(vocab, atlas, depth, end_token)
        self.passive = Passive(zero_fold=vocab.zero_streak, per_context=per_context)
        self.index = ContentIndex(vocab, depth, end_token, atlas.archetype_index)
        self.lock = FileLock(str(root / LOCK))
        self.generation = -1  # nothing loaded yet
        self.mark: Mark | None = None  # the commit mark as last read or written
        self.offset = 0
        self.tokens_learned = 0
        self.next_seq = 0
        self.journal_batches = 0
        self.learned_here = 0
        self._held = False  # whether this process holds the lock now (and so may upgrade)
        self._indexer = ThreadPoolExecutor(1, thread_name_prefix="gyrosi-index")
        self._check: Future[None] | None = None  # a background check of the snapshot in use
        with self._locked("open"):
            pass

    # --- files ------------------------------------------------------------------------------

    @property
    def snapshot_path(self) -> Path:
        return self.root / SNAPSHOT

    @property
    def journal_path(self) -> Path:
        return self.root / JOURNAL

    @property
    def mark_path(self) -> Path:
        return self.root / MARK

    @contextlib.contextmanager
    def _locked(self, doing: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the lock, with RAM caught up with the files first. Reading a memory this
        process cannot write goes ahead without the lock; writing to it is one sentence."""
        try:
            held = self._acquire(doing, on_wait)
        except OSError as exc:
            if doing not in READING:
                raise MemoryAccessError(
                    f"Cannot {doing} the memory in {self.root}: {describe_os_error(exc)}. Make "
                    f"it writable, or set GYROSI_HOME to another folder.") from None
            held = False
        self._held = held
        try:
            self._catch_up()
            # damage the snapshot's check found is refused from then on; a write waits for the
            # check first, so damage is never overwritten
            self._verified(wait=held and doing not in READING)
            if held and doing not in READING:
                self._sweep()
                self._settle()
            yield
        except OSError as exc:
            self.generation = -1  # RAM may be ahead of the files now: reload at the next use
            raise MemoryAccessError(
                f"Could not {doing} the memory in {self.root}: {describe_os_error(exc)}. "
                f"Every committed batch is kept; learn again when the problem is fixed.") from None
        finally:
            self._held = False
            if held:
                self.lock.release()

    def _verify_in_background(self, check: Callable[[], None]) -> None:
        found: Future[None] = Future()

        def run() -> None:
            try:
                check()
                found.set_result(None)
            except MemoryCorruptError as exc:
                found.set_exception(exc)

        self._check = found  # the snapshot now in use: a new one replaces the check
        threading.Thread(target=run, name="gyrosi-verify", daemon=True).start()

    def _verified(self, wait: bool = False) -> None:
        """Raise what the background check of the snapshot in use found, waiting for it first
        with `wait` (before a write)."""
        if self._check is not None and (wait or self._check.done()):
            self._check.result()

    def _sweep(self) -> None:
        """Remove what writers killed mid-write left behind (the lock is held: no writer of
        this memory is running, so every temporary file in it is a leftover)."""
        for path in stray_files(self.root):
            fsio.unlink(path)

    def _settle(self) -> None:
        """Before a write: give the memory a journal of its generation and a commit mark that
        covers what was read (a memory from before marks, a writer that stopped between its
        batch and its mark, a compaction that stopped part-way). The lock is held."""
        if files.journal_generation(self.journal_path) != self.generation:
            self._start_journal()  # missing, or older than the snapshot: already folded in
        elif self.mark != self._current_mark():
            # adopted batches may sit in the page cache only (their writer stopped before its
            # fsync): make them durable before the mark calls them committed
            fsio.fsync_path(self.journal_path)
            self._write_mark()

    def _current_mark(self) -> Mark:
        return Mark(self.generation, self.offset, self.journal_batches)

    def _write_mark(self) -> None:
        mark = self._current_mark()
        write_mark(self.mark_path, mark)
        self.mark = mark

    def _committed(self, generation: int) -> int:
        """The journal bytes committed on top of the snapshot of `generation` (0: none marked).
        Refuses a memory whose mark says more was committed than its files hold."""
        found = self.mark = read_mark(self.mark_path)
        if found is None or found.generation < generation:
            return 0  # a memory from before marks, or a compaction that stopped part-way
        repair = ("run `gyrosi memory repair` to keep what the files hold, or start again with "
                  "`gyrosi memory reset --yes`")
        if found.generation > generation:
            raise MemoryCorruptError(
                f"The memory's commit mark {self.mark_path} is of generation "
                f"{found.generation}, newer than the snapshot {self.snapshot_path} "
                f"({'missing' if generation == 0 else f'generation {generation}'}): the snapshot "
                f"was lost or replaced by an older copy; restore it, or {repair}.")
        journal = files.journal_generation(self.journal_path)
        if found.batches and journal != generation and \
                not (journal is None and self.journal_path.exists()):  # unreadable: read says
            raise MemoryCorruptError(
                f"The memory journal {self.journal_path} is "
                f"{'missing' if journal is None else 'of another generation'}, but "
                f"{found.batches:,} batches ({found.offset:,} bytes) were committed to it; "
                f"restore it, or {repair}.")
        return found.offset if found.batches else 0  # an empty journal holds nothing to lose

    def _acquire(self, doing: str, on_wait: Callable[[], None] | None) -> bool:
        try:
            self.lock.acquire(timeout=0.5)
        except Timeout:
            if on_wait:
                on_wait()
            try:
                self.lock.acquire(timeout=LOCK_WAIT_S)
            except Timeout:
                raise MemoryBusyError(
                    f"Could not {doing} the memory in {self.root}: another GyroSI process has "
                    f"held {LOCK} for {LOCK_WAIT_S:.0f} s."
                ) from None
        return True

    def _catch_up(self) -> None:
        """Bring RAM up to date with the files (the lock is held)."""
        generation = self._snapshot_generation()
        if generation != self.generation:
            self._reload()
            return
        committed = self._committed(generation)
        size = self.journal_path.stat().st_size if self.journal_path.is_file() else 0
        if size > self.offset or committed > self.offset:
            read = files.read_journal(self.journal_path, self.depth, self.offset,
                                      committed=committed)
            if read.generation != self.generation:
                self._reload()
                return
            self._replay(read)

    def _snapshot_generation(self) -> int:
        try:
            with open(self.snapshot_path, "rb") as f:
                head = f.read(files.SNAP_HEAD_3.size)
        except FileNotFoundError:
            return 0
        except OSError:
            return -2  # a folder, unreadable: the reload says which
        if len(head) < files.SNAP_HEAD_3.size or head[:8] != files.SNAP_MAGIC:
            return -2  # forces a reload, which reports the damage
        return int(files.SNAP_HEAD_3.unpack(head)[5])  # the same place in formats 3 and 4

    def _reload(self) -> None:
        self._check = None  # the snapshot in use is about to change
        if self.snapshot_path.exists():
            path = self.snapshot_path
            snap = files.read_snapshot(path, verify=path.stat().st_size <= VERIFY_NOW_BYTES,
                                       index="later")
            if snap.depth != self.depth or snap.key_bits != KEY_BITS:
                raise MemoryCorruptError(
                    f"The memory in {self.root} was learned with context depth {snap.depth}; this "
                    f"configuration uses depth {self.depth}. Set `backends.gyrosi.depth` back to "
                    f"{snap.depth}, or start again with `gyrosi memory reset --yes`."
                )
            self.passive.replace(snap.entries, snap.counts, snap.contexts)
            if snap.index_later is not None:
                self.index.load_later(snap.index_later)  # decoded in a thread meanwhile
            else:
                self.index.load(snap.index)
            self.generation, self.tokens_learned, self.next_seq = (
                snap.generation, snap.tokens_learned, snap.next_seq)
            if snap.check is not None:
                self._verify_in_background(snap.check)
            if snap.format != files.FORMAT and self._held:
                # upgraded in place: the same entries, generation and journal, a new layout
                # (atomic: a crash leaves the old file, read and upgraded again next time)
                self._write_snapshot(path, self.generation)
        else:
            self.passive.replace(Columns.empty())
            self.index.clear()
            self.generation, self.tokens_learned, self.next_seq = 0, 0, 0
        self.offset, self.journal_batches = 0, 0
        committed = self._committed(self.generation)
        if self.journal_path.exists():
            read = files.read_journal(self.journal_path, self.depth, committed=committed)
            if read.generation > self.generation:
                raise MemoryCorruptError(
                    f"The memory journal {self.journal_path} is newer than its snapshot "
                    f"{self.snapshot_path} (the snapshot was replaced or lost); restore both "
                    f"files, or start again with `gyrosi memory reset --yes`."
                )
            if read.generation == self.generation:
                self._replay(read)
            # an older journal was folded into the snapshot by a compaction that crashed before
            # replacing it: ignored here, replaced by the next write

    def _replay(self, read: files.JournalRead) -> None:
        for batch in read.batches:
            self._fold(batch.tokens, PathState.unpack(batch.path, batch.fresh), batch.docs)
        self.offset = read.end
        self.journal_batches += len(read.batches)

    # --- learning ---------------------------------------------------------------------------

    def _fold(self, tokens: npt.NDArray[np.int64], at: PathState,
              docs: list[tuple[int, str]]) -> PathState:
        keys, after, path_at = self.stream.walk(tokens, at)
        self.index.add(tokens, self.next_seq, path_at, docs)
        self._merge(tokens, group(keys, tokens, 0))
        return after

    def _merge(self, tokens: npt.NDArray[np.int64], batch: Batch) -> int:
        """Fold a grouped batch in; its `seq` counts from 0 and becomes the journal position.
        Returns the tokens learned (`<|end|>` is not counted)."""
        batch.seq += np.uint32(self.next_seq)
        self.passive.merge(batch)
        self.next_seq += len(tokens)
        learned = int(np.count_nonzero(tokens != self.stream.end_token))
        self.tokens_learned += learned
        return learned

    def learn(self, tokens: npt.NDArray[np.int64], at: PathState, *,
              name: str | None = None,
              on_wait: Callable[[], None] | None = None) -> PathState:
        """Fold one batch in and commit it to the journal; returns the path after it. A batch
        that starts a message starts a document (`name`; by default a conversation message)."""
        keys, after, path_at = self.stream.walk(tokens, at)
        docs = [(0, name or CONVERSATION)] if at.fresh else []
        self._commit(tokens, at, group(keys, tokens, 0), docs, path_at, on_wait)
        return after

    def _commit(self, tokens: npt.NDArray[np.int64], at: PathState, batch: Batch,
                docs: list[tuple[int, str]], path_at: Paths,
                on_wait: Callable[[], None] | None) -> None:
        with self._locked("write to", on_wait):
            # the content index (Python over passages) beside the merge (numpy, which lets go
            # of the GIL): they touch nothing in common
            indexed = self._indexer.submit(self.index.add, tokens, self.next_seq, path_at, docs)
            try:
                # what this process learned, as opposed to what it replayed from others
                self.learned_here += self._merge(tokens, batch)
            finally:
                indexed.result()
            self._append(files.JournalBatch(tokens, at.fresh, at.packed(), docs))
            if len(self.passive.delta.ident) > fold_rows(len(self.passive.base.ident)):
                self._next_generation(cap=False)

    def learn_stream(
        self, pieces: Iterable[Piece | npt.NDArray[np.int64]], at: PathState | None = None, *,
        on_wait: Callable[[], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
        mapper: "Mapper | None" = None,
    ) -> PathState:
        """Learn token arrays in order, committing a batch at a time (see `BATCH_TOKENS`). The
        next batch's entries are computed in a worker thread while this one is folded in; with a
        `mapper` (`learn_map`), by its workers, several batches ahead (the same bytes)."""
        heap.release_large_arrays()  # else the batches' freed arrays stay in the heap (heap.py)
        start = at or PathState.start(self.atlas, self.depth)
        final = [start]

        def prepared() -> Iterator[tuple[npt.NDArray[np.int64], PathState, Batch,
                                         list[tuple[int, str]], Paths]]:
            here = start
            # A fixed batch size: batch boundaries must not depend on timing or memory size
            # (they decide where the per-context cap applies).
            for tokens, docs in self.batches(pieces):
                keys, after, path_at = self.stream.walk(tokens, here)
                yield tokens, here, group(keys, tokens, 0), docs, path_at
                here = final[0] = after

        if mapper is not None:
            work = self._mapped(self.batches(pieces), start, final, mapper)
        else:
            work = ahead(prepared(), size=1, name="gyrosi-fold")
        for tokens, before, batch, docs, path_at in work:
            self._commit(tokens, before, batch, docs, path_at, on_wait)
            if on_batch:
                on_batch(len(tokens))
        return final[0]

    def batches(self, pieces: Iterable[Piece | npt.NDArray[np.int64]]
                ) -> Iterator[tuple[npt.NDArray[np.int64], list[tuple[int, str]]]]:
        """The batches learning cuts `pieces` into: about `BATCH_TOKENS` tokens each, never more
        records than a batch holds at this memory's depth."""
        return _batches(pieces, BATCH_TOKENS, MAX_BATCH_RECORDS // (len(self.levels) + 1))

    def _mapped(
        self, batches: Iterable[tuple[npt.NDArray[np.int64], list[tuple[int, str]]]],
        start: PathState, final: list[PathState], mapper: "Mapper",
    ) -> Iterator[tuple[npt.NDArray[np.int64], PathState, Batch, list[tuple[int, str]],
                        Paths]]:
        """`learn_stream`'s batches with their entries computed by `mapper`'s workers: the path
        along the stream (one prefix scan) here, the keys and the grouping there."""
        from ..learn_map import batch_entries

        orbit_of, end, depth = self.stream.orbit_of, self.stream.end_token, self.depth

        def planned() -> Iterator[tuple[npt.NDArray[np.int64], PathState,
                                        list[tuple[int, str]], Plan]]:
            here = start
            for tokens, docs in batches:
                plan = self.stream.plan(tokens, here)
                yield tokens, here, docs, plan
                here = final[0] = plan.final

        def args(item: tuple[npt.NDArray[np.int64], PathState, list[tuple[int, str]], Plan]
                 ) -> tuple[object, ...]:
            tokens, here, _, plan = item
            return (tokens.astype(np.int32), orbit_of[plan.before].astype(np.int32),
                    tuple(int(t) for t in plan.ext[:depth]), here.fresh, end, depth)

        for (tokens, here, docs, plan), batch in mapper.imap(batch_entries, planned(), args):
            yield tokens, here, batch, docs, plan.path_at

    def _append(self, batch: files.JournalBatch) -> None:
        path = self.journal_path
        if files.journal_generation(path) != self.generation:
            self._start_journal()
        with fsio.open_file(path, "r+b") as f:
            f.truncate(self.offset)  # a torn batch left by a crashed writer goes
            f.seek(self.offset)
            f.write(files.encode_batch(batch))
            f.fsync()  # committed
            self.offset = f.tell()
        self.journal_batches += 1
        self._write_mark()  # and marked: from now on, damage to it is refused, never dropped

    # --- maintenance ------------------------------------------------------------------------

    def compact(self) -> None:
        """Fold the journal into a new snapshot (atomic), then start an empty journal."""
        with self._locked("compact"):
            self._next_generation(cap=True)

    def _next_generation(self, *, cap: bool) -> None:
        """Write RAM as the snapshot of the next generation, then that generation's empty
        journal and its mark (in this order: see `files` and `mark`). The lock is held. With
        `cap`, a compaction (the caps apply); without, a fold of the delta into the base that
        leaves what the memory holds as it was."""
        self._write_snapshot(self.snapshot_path, self.generation + 1, cap=cap)
        self.generation += 1
        self._start_journal()

    def _start_journal(self) -> None:
        files.write_journal(self.journal_path, self.depth, self.generation)
        self.offset = files.JOURNAL_HEADER_SIZE
        self.journal_batches = 0
        self._write_mark()

    def _write_snapshot(self, path: Path, generation: int, *, cap: bool = False) -> None:
        """Write the memory as a snapshot, streamed from its two tiers (`Passive.rows`); with
        `cap`, as compaction leaves it. The memory's own snapshot becomes the new base."""
        snap = files.Snapshot(self.depth, KEY_BITS, generation, self.tokens_learned,
                              self.next_seq, Columns.empty(), self.index.arrays())
        if cap and self.per_token:  # the token cap needs every context at once
            snap.entries = self.passive.cap_tokens(self.passive.whole(cap=True), self.per_token)
            files.write_snapshot(path, snap)
        else:
            # every live entry, which the memory counts, or as many as the caps leave
            rows = self.passive.capped_len() if cap else len(self.passive)
            files.write_snapshot(path, snap, self.passive.rows(cap=cap), rows=rows)
        if path == self.snapshot_path:
            # its digest was just computed, and its index is the one in RAM
            written = files.read_snapshot(path, verify=False, index="no")
            self.passive.replace(written.entries, written.counts, written.contexts)

    def export(self, path: Path) -> MemoryStats:
        if not path.parent.is_dir():
            raise MemoryAccessError(f"Cannot write the export {path}: the folder {path.parent} "
                                    f"does not exist.")
        with self._locked("export"):
            try:
                self._write_snapshot(path, 0)
            except OSError as exc:
                raise MemoryAccessError(
                    f"Cannot write the export {path}: {describe_os_error(exc)}.") from None
        return self.stats()

    def import_(self, path: Path) -> int:
        """Fold an exported memory in, as if learned now (its recency order kept); returns the
        number of entries read."""
        snap = files.read_snapshot(path, what="memory export")
        if snap.depth != self.depth or snap.key_bits != KEY_BITS:
            raise MemoryCorruptError(
                f"{path} was exported from a memory with context depth {snap.depth}; this one "
                f"uses depth {self.depth}, so its contexts cannot be matched."
            )
        with self._locked("import into"):
            # addresses move past this memory's: recency order and the content index's
            # addresses (consecutive tokens have consecutive addresses) are both kept
            got = snap.entries
            seq = (got.meta >> np.uint32(1)).astype(np.int64)
            self.passive.merge(Batch(np.asarray(got.ident),
                                     (self.next_seq + seq).astype(np.uint32),
                                     (got.meta & 1).astype(bool), got.count.astype(np.uint32),
                                     np.full(len(seq), NO_LOWER)))
            self.passive.add_spread(np.asarray(got.ident), np.asarray(got.spread))
            self.index.absorb(snap.index, self.next_seq)
            self.next_seq += snap.next_seq
            self.tokens_learned += snap.tokens_learned
            self._next_generation(cap=True)  # an import ends as a compaction does
        return len(seq)

    def refresh(self) -> None:
        """Pick up what other processes learned since (cheap when nothing changed)."""
        with self._locked("read"):
            pass

    def stats(self) -> MemoryStats:
        def size(p: Path) -> int:
            return p.stat().st_size if p.is_file() else 0

        strays = stray_files(self.root)
        return MemoryStats(
            entries=len(self.passive), contexts=self.passive.contexts(),
            tokens_learned=self.tokens_learned, depth=self.depth,
            per_context=self.passive.per_context, per_token=self.per_token,
            snapshot_bytes=size(self.snapshot_path), journal_bytes=size(self.journal_path),
            journal_batches=self.journal_batches, stray_files=len(strays),
            stray_bytes=sum(size(p) for p in strays), documents=self.index.documents,
            passages=self.index.passages, postings=self.index.postings(),
        )


def memory_depth(root: Path, configured: int, chosen: bool) -> int:
    """The context depth to open the memory in `root` with: the configured one when it was
    chosen in the configuration, else the one the memory was learned with (a memory learned
    before the default changed keeps working), else the configured default."""
    if chosen:
        return configured
    return files.recorded_depth(root / SNAPSHOT, root / JOURNAL) or configured


def aside_path(path: Path, why: str = "damaged") -> Path:
    """Where a damaged (or old-format) file is moved to, never over another."""
    stamp = time.strftime('%Y%m%d-%H%M%S')
    aside, n = path.with_name(f"{path.name}.{why}-{stamp}"), 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}.{why}-{stamp}-{n}"), n + 1
    return aside


def reset_memory(root: Path, depth: int) -> list[Path]:
    """Empty the memory in `root` without reading it, so a damaged memory can be reset too (the
    refusal messages advise it). Files that cannot be read are moved aside, never deleted;
    returns where they went. Other processes see the new generation and reload."""
    try:
        return _reset(root, depth)
    except OSError as exc:
        raise MemoryAccessError(f"Cannot reset the memory in {root}: {describe_os_error(exc)}. "
                                f"Make it writable, or set GYROSI_HOME to another folder.") \
            from None


def _reset(root: Path, depth: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    moved: list[Path] = []
    with FileLock(str(root / LOCK)):
        for stray in stray_files(root):
            fsio.unlink(stray)
        generation, committed = 0, 0
        with contextlib.suppress(MemoryCorruptError):  # a damaged mark is simply replaced
            found = read_mark(root / MARK)
            if found is not None:
                generation = found.generation
                if files.journal_generation(root / JOURNAL) == found.generation:
                    committed = found.offset  # damage in it is moved aside, not overwritten
        for name in (SNAPSHOT, JOURNAL):
            path = root / name
            if not path.exists():
                continue
            try:
                if name == SNAPSHOT:
                    generation = max(generation, files.read_snapshot(path).generation)
                else:
                    files.read_journal(path, depth, committed=committed)
                    generation = max(generation, files.journal_generation(path) or 0)
            except MemoryCorruptError as exc:
                why = "old-format" if isinstance(exc, MemoryVersionError) else "damaged"
                aside = aside_path(path, why)
                fsio.replace(path, aside)
                moved.append(aside)
        generation += 1
        files.write_snapshot(root / SNAPSHOT, files.Snapshot(
            depth, KEY_BITS, generation, 0, 0, Columns.empty()))
        files.write_journal(root / JOURNAL, depth, generation)
        write_mark(root / MARK, Mark(generation, files.JOURNAL_HEADER_SIZE, 0))
    return moved
