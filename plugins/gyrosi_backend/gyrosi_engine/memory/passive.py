"""Passive memory in RAM: (context, token) -> folded mask, as two sorted numpy arrays.

An entry is `ident = key << 18 | token` (58 bits, `ident` array, sorted), `meta = seq << 1 |
parity` (`meta` array): `seq` is the stream position of the entry's latest occurrence (recency),
`parity` how the Monodromic Fold left its mask; and `count` (`count` array): how many times the
token followed the context, saturating at 65,535, and `spread` (`spread` array): in how many
distinct longer contexts it followed this one — how many entries one token deeper, ending in this
context, were ever created for the token (Kneser-Ney's continuation count; saturating too). These
are the occurrence evidence generation weighs. A zero-streak token's entry lives for one
occurrence at a time (below), so its count and spread are 1.

Why a parity bit is the whole mask: folding a token's introns into a mask is the map
`m -> (m & A) ^ X` (`vocab.Vocab.fold_*`), and applying it twice is `m -> (m & A) ^ (X & ~A)`,
so applying it three times equals applying it once. A new entry's previous mask is GENE_Mic_S
(0xAA), so an entry holds `vocab.mask_odd` after an odd number of occurrences and
`vocab.mask_even` after an even one: the parity is the mask. A mask that folds to 0 twice in a row
(the zero streak) is deleted; that happens exactly for tokens whose two masks are both 0
(`vocab.zero_streak`), on every even occurrence, so such an entry lives only while its parity is
odd. `tests/test_memory.py` checks all of this against a literal fold, byte by byte.

Caps, applied at compaction (a whole-memory pass each): a context keeps its `per_context` most
recent tokens; with `per_token` set, a token keeps its `per_token` most recent entries. Not at
every merge: where batches end would then decide which entries a context dropped (and so their
counts and spreads when they came back), and the same input learned in batches of another size,
or by another number of workers, must give the same bytes.
"""

import mmap
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .. import kernels
from . import merging

TOKEN_BITS = 18
TOKEN_MASK = (1 << TOKEN_BITS) - 1
RECORD_BITS = 23  # records per batch: position * (depth + 1) + depth < 2**23
MAX_BATCH_RECORDS = 1 << RECORD_BITS
MAX_COUNT = merging.MAX_COUNT
NO_LOWER = np.uint32(kernels.NO_LOWER_ROW)  # an entry with no lower entry (`Batch.lower`)
#: Discounts until the memory has counts enough to estimate its own (`Passive.discounts`).
DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)


@dataclass
class Batch:
    """Folded entries of one learning batch, sorted by ident, one per (context, token)."""

    ident: npt.NDArray[np.uint64]
    seq: npt.NDArray[np.uint32]
    odd: npt.NDArray[np.bool_]  # the parity this batch adds (an odd number of occurrences)
    count: npt.NDArray[np.uint32]  # occurrences in this batch
    #: the row in this batch of the entry one token shallower at the same position (its spread
    #: grows when this entry is new to the memory); `NO_LOWER` for the orbit's entries. A row,
    #: not an ident: four bytes instead of eight, a batch's largest cost on a cluster's wire.
    lower: npt.NDArray[np.uint32]


def group(keys: npt.NDArray[np.uint64], tokens: npt.NDArray[np.int64], seq0: int) -> Batch:
    """Fold a batch of occurrences: `keys` (n, depth + 1) are the contexts before `tokens` (n).

    Two `np.sort` calls on packed 64-bit words do the grouping (numpy's SIMD sort is four times
    faster than an argsort here): first by context with the newest record first, then by
    (context run, token) with the record riding along in the low bits; compiled loops
    (`kernels`) pack between the sorts and read the groups off after them.
    """
    n, width = keys.shape
    total = n * width
    if total > MAX_BATCH_RECORDS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_RECORDS // width} tokens")
    if total == 0:
        return Batch(np.empty(0, np.uint64), np.empty(0, np.uint32), np.empty(0, bool),
                     np.empty(0, np.uint32), np.empty(0, np.uint32))
    v = kernels.pack_records(keys)
    v.sort()
    w, run_key = kernels.runs_and_tokens(v, tokens, width)
    del v  # 8 bytes a record: the keys are in `run_key` now
    w.sort()
    # the lower entry is the one a token shallower where this one first occurred in the batch
    # (for the orbit level it depends on the position: the state's orbit is not a suffix of
    # the tokens)
    return Batch(*kernels.firsts(w, run_key, width, seq0))


class Columns(NamedTuple):
    """Entries as four parallel arrays, sorted by ident."""

    ident: npt.NDArray[Any]  # u64, sorted
    meta: npt.NDArray[Any]  # u32: seq << 1 | parity
    count: npt.NDArray[Any]  # type: ignore[assignment]  # u16 (shadows tuple.count)
    spread: npt.NDArray[Any]  # u16

    @classmethod
    def empty(cls) -> "Columns":
        return cls(np.empty(0, np.uint64), np.empty(0, np.uint32), np.empty(0, np.uint16),
                   np.empty(0, np.uint16))

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> "Columns":
        return Columns(self.ident[rows], self.meta[rows], self.count[rows], self.spread[rows])


#: One kernel argument for the whole store: the base's four columns, then the delta's.
type View = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint16],
                  npt.NDArray[np.uint16], npt.NDArray[np.uint64], npt.NDArray[np.uint32],
                  npt.NDArray[np.uint16], npt.NDArray[np.uint16]]


def histogram(count: npt.NDArray[np.uint16]) -> npt.NDArray[np.int64]:
    """Entries by count (0 to 4, then 5 and more): what the discounts are estimated from."""
    return kernels.count_histogram(np.asarray(count, dtype=np.uint16))


class Passive:
    """The entries in two tiers: `base`, the last snapshot's columns (memory-mapped, never
    written), and `delta`, the current value of every entry a batch touched since (count 0: the
    entry was deleted), which overrides the base's row. A batch costs a binary search per entry
    it names and an insertion into the delta, not a rewrite of the memory: the delta is folded
    into a new base (`Memory`, a new snapshot generation) when it grows past a bound."""

    def __init__(self, *, zero_fold: npt.NDArray[np.bool_], per_context: int = 64) -> None:
        self.base = Columns.empty()
        self.delta = Columns.empty()
        self.size = 0  # live entries
        self.counts = np.zeros(6, np.int64)  # live entries by count (`histogram`)
        self.base_contexts = 0
        self._discounts: tuple[bytes, tuple[float, float, float]] = (b"", DEFAULT_DISCOUNTS)
        # Writers (one at a time: the memory's lock) swap in new arrays under `swap`; readers
        # in other threads (sessions generating) take all of them under it (`view`), so they
        # never see a new `ident` with an old `meta`.
        self.swap = threading.Lock()
        # the delta's rows are the first ones of `columns`, which have room for more
        self.columns: tuple[npt.NDArray[Any], ...] | None = None
        self.zero_fold = zero_fold  # token -> both its masks are 0 (`vocab.Vocab.zero_streak`)
        self.per_context = per_context

    def __len__(self) -> int:
        return self.size

    def view(self) -> View:
        with self.swap:
            return (*self.base, *self.delta)  # type: ignore[return-value]

    def replace(self, base: Columns, counts: npt.NDArray[np.int64] | None = None,
                contexts: int | None = None) -> None:
        """Make `base` the whole memory (a snapshot loaded or written), with its histogram and
        context count when known (a snapshot's header holds them)."""
        with self.swap:
            self.base, self.delta = base, Columns.empty()
            self.columns = None
            self.size = len(base.ident)
            self.counts = histogram(base.count) if counts is None else counts.copy()
            self.base_contexts = contexts_in(base.ident) if contexts is None else contexts

    def _store(self) -> View:
        return (*self.base, *self.delta)  # type: ignore[return-value]

    def merge(self, batch: Batch) -> None:
        with self.swap:
            self._merge(batch)

    def _merge(self, batch: Batch) -> None:
        """Fold a batch in: parities add mod 2, counts add, recency moves forward, zero streaks
        delete; an entry new to the memory adds one to its lower entry's spread (`merging`)."""
        if not len(batch.ident):
            return
        alone = self._alone()
        store = self._store()
        meta, count, spread, dpos, dhit, exists, change = merging.fold(
            store, batch.ident, batch.seq, batch.odd, batch.count, self.zero_fold)
        self.counts += change
        self.size += int(change[1:].sum())
        rows = batch.lower[~exists]
        lower = batch.ident[np.sort(rows[rows != NO_LOWER])]  # rows in order: idents in order
        extra = merging.spread(store, lower, np.ones(len(lower), np.int64), batch.ident, count,
                               spread, self.zero_fold)
        # an entry that never was and is not now (a zero-streak token's even occurrence) is left
        # out; one of the base's that died stays as a tombstone (count 0) over it
        written = dhit | exists | (count > 0)
        self._rewrite((batch.ident, meta, count, spread), dpos, dhit, written, extra, alone)

    def add_spread(self, ident: npt.NDArray[np.uint64], spread: npt.NDArray[np.uint16]) -> None:
        """Add another memory's spreads to these entries (sorted; an import)."""
        with self.swap:
            none = Columns.empty()
            alone = self._alone()
            extra = merging.spread(self._store(), ident, spread.astype(np.int64), none.ident,
                                   none.count, none.spread, self.zero_fold)
            self._rewrite(tuple(none), np.empty(0, np.int64), np.empty(0, bool),
                          np.empty(0, bool), extra, alone)

    def _rewrite(self, rows: tuple[npt.NDArray[Any], ...], dpos: npt.NDArray[np.int64],
                 dhit: npt.NDArray[np.bool_], written: npt.NDArray[np.bool_],
                 extra: tuple[npt.NDArray[Any], ...], alone: bool) -> None:
        if not written.any() and not len(extra[0]):
            return
        # In place where no reader holds the delta (`alone`) and its columns have room: fresh
        # columns, up to 200 MB a batch, are pages the kernel must fault in and zero, and the
        # old and the new delta were both held while it was written.
        room = self.columns if alone and self.columns is not None else tuple(Columns.empty())
        columns, size = merging.rewrite(tuple(self.delta), rows, dpos, dhit, written,
                                        extra[:4], extra[4], extra[5], room)
        self.columns = columns
        self.delta = Columns(*(col[:size] for col in columns))

    def _alone(self) -> bool:
        """Whether nothing but this object refers to the delta: no reader holds its arrays or
        views of them (`view`, `rows`), so it may be written in place. Counted before the
        merge takes references of its own; `tests/test_memory_tiers.py` checks both ways."""
        if self.columns is None:
            return False
        delta = self.delta
        # the references counted: the attribute's, the name's, the count's own argument; a
        # column's view once more, for the view's reference to it
        return sys.getrefcount(delta) <= 3 \
            and all(sys.getrefcount(view) <= 3 for view in delta) \
            and all(sys.getrefcount(col) <= 4 for col in self.columns)

    def rows(self, *, cap: bool, chunk: int = 1 << 20) -> Iterator[Columns]:
        """The whole memory in ident order, a few million rows at a time (each chunk ends at a
        context's end): the base's rows overridden by the delta's, the dead left out, and with
        `cap` each context's `per_context` most recent tokens only. What a new snapshot is
        written from, without holding the memory in RAM twice."""
        with self.swap:
            b, d = self.base, self.delta
        n, dn, at, dat = len(b.ident), len(d.ident), 0, 0
        while at < n or dat < dn:
            # a chunk of whichever tier has more left, on to the end of its last row's context
            tier, last = (b.ident, at + chunk - 1) if n - at >= dn - dat else (d.ident,
                                                                              dat + chunk - 1)
            if last < len(tier):
                bound = ((tier[last] >> np.uint64(TOKEN_BITS)) + np.uint64(1)) \
                    << np.uint64(TOKEN_BITS)
                end = int(np.searchsorted(b.ident, bound))
                dend = int(np.searchsorted(d.ident, bound))
            else:
                end, dend = n, dn
            part = Columns(*(np.asarray(col[at:end]) for col in b))
            if dend > dat:
                part = Columns(*kernels.overlay(tuple(part), tuple(col[dat:dend] for col in d)))
            if cap:
                drop = kernels.over_cap(part.ident, part.meta, self.per_context)
                if drop.any():
                    part = part.take(~drop)
            yield part
            for col in b:
                _release(col, at, end)
            at, dat = end, dend

    def capped_len(self) -> int:
        """How many rows `rows(cap=True)` gives, counted without making them: the size of a
        compaction's snapshot, known before it is written."""
        return int(kernels.capped_rows(self.view(), self.per_context))

    def whole(self, *, cap: bool) -> Columns:
        """`rows` as one set of arrays (the token cap and small memories)."""
        parts = list(self.rows(cap=cap))
        if not parts:
            return Columns.empty()
        return Columns(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))

    def candidates(self, context: int) -> list[int]:
        """The tokens stored at a context, most recent first."""
        return self.entries(context)[0]

    def entries(self, context: int) -> tuple[list[int], list[int]]:
        """The tokens stored at a context and their addresses (the stream position of their
        latest occurrence), most recent first."""
        tokens, seqs, _, _ = self.evidence(context)
        order = np.argsort(-seqs, kind="stable")
        return tokens[order].tolist(), seqs[order].tolist()

    def evidence(self, context: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                              npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The tokens stored at a context (in token order), the address of each one's latest
        occurrence, how many times each followed it, and in how many distinct longer contexts."""
        ident, meta, count, spread = kernels.gather(self.view(), np.uint64(context))
        tokens = (ident & np.uint64(TOKEN_MASK)).astype(np.int64)
        seqs = (meta >> np.uint32(1)).astype(np.int64)
        counts, spreads = count.astype(np.int64), spread.astype(np.int64)
        if len(tokens) > self.per_context:
            # read as the cap will leave it: between compactions a context may hold more
            keep = np.sort(np.argsort(-seqs, kind="stable")[: self.per_context])
            tokens, seqs, counts, spreads = tokens[keep], seqs[keep], counts[keep], spreads[keep]
        return tokens, seqs, counts, spreads

    def address_of(self, context: int, token: int) -> int:
        """The address of the latest occurrence of `token` after `context`; -1: never."""
        meta = kernels.find(self.view(), np.uint64(context << TOKEN_BITS | token))
        return int(meta >> 1) if meta >= 0 else -1

    def learned_at(self, context: int, address: int) -> tuple[int, int]:
        """The token stored at a context whose latest occurrence is `address` (-1: none), and
        how many tokens the context holds. No sorting: the fast path of reciting by address."""
        ident, meta, _, _ = kernels.gather(self.view(), np.uint64(context))
        hit = np.flatnonzero((meta >> np.uint32(1)) == np.uint32(address))
        if not len(hit):
            return -1, len(ident)
        return int(ident[int(hit[0])] & np.uint64(TOKEN_MASK)), len(ident)

    def discounts(self) -> tuple[float, float, float]:
        """Modified Kneser-Ney's three discounts (for counts 1, 2 and 3 or more) from the counts
        of counts over all entries (Chen & Goodman 1998), kept current by every merge."""
        with self.swap:
            counts = self.counts.tobytes()
        if self._discounts[0] == counts:
            return self._discounts[1]
        # n1..n4: how many entries were seen exactly 1, 2, 3 and 4 times (5 and more apart)
        n = np.frombuffer(counts, np.int64)[1:5].astype(float)
        found = DEFAULT_DISCOUNTS
        if n.all():
            y = n[0] / (n[0] + 2 * n[1])
            d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
            if all(0 < x < k + 1 for k, x in enumerate(d)):
                found = (float(d[0]), float(d[1]), float(d[2]))
        self._discounts = (counts, found)
        return found

    def contexts(self) -> int:
        """How many contexts hold a token (a pass over the memory while a delta is held)."""
        with self.swap:
            if not len(self.delta.ident):
                return self.base_contexts
        return sum(contexts_in(part.ident) for part in self.rows(cap=False))

    def cap_tokens(self, whole: Columns, per_token: int) -> Columns:
        """Each token's `per_token` most recent entries of `whole` (0: all of them)."""
        if per_token <= 0 or not len(whole.ident):
            return whole
        tok = (whole.ident & np.uint64(TOKEN_MASK)).astype(np.int64)
        seq = (whole.meta >> np.uint32(1)).astype(np.int64)
        order = np.lexsort((-seq, tok))
        sorted_tok = tok[order]
        starts = np.flatnonzero(np.concatenate([[True], sorted_tok[1:] != sorted_tok[:-1]]))
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
        keep = np.ones(len(order), dtype=bool)
        keep[order[rank >= per_token]] = False
        return whole.take(keep)


def _release(col: npt.NDArray[Any], lo: int, hi: int) -> None:
    """Drop the pages of rows [lo, hi) of a memory-mapped column from this process (they are
    clean: read again from the file if wanted), so a pass over the whole base, as a fold makes,
    does not leave it all resident."""
    view = col.base
    mapped = view.obj if isinstance(view, memoryview) else None
    if not isinstance(mapped, mmap.mmap) or hi <= lo:
        return
    start = np.frombuffer(mapped, np.uint8, count=1).ctypes.data
    first = col.ctypes.data + lo * col.itemsize - start
    last = col.ctypes.data + hi * col.itemsize - start
    first = -(-first // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the rows only
    last = last // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        mapped.madvise(mmap.MADV_DONTNEED, first, last - first)


def contexts_in(ident: npt.NDArray[np.uint64]) -> int:
    """How many distinct contexts sorted idents hold."""
    return int(kernels.distinct_contexts(np.asarray(ident, dtype=np.uint64)))
