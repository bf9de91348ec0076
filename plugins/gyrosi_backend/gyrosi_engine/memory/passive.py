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

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .. import kernels

TOKEN_BITS = 18
TOKEN_MASK = (1 << TOKEN_BITS) - 1
RECORD_BITS = 23  # records per batch: position * (depth + 1) + depth < 2**23
MAX_BATCH_RECORDS = 1 << RECORD_BITS
MAX_COUNT = (1 << 16) - 1  # occurrence counts saturate here (two bytes per entry)
NO_LOWER = np.uint64((1 << 64) - 1)  # no ident is this (idents have 58 bits)
#: Discounts until the memory has counts enough to estimate its own (`Passive.discounts`).
DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)


def _saturate(count: npt.NDArray[np.int64]) -> npt.NDArray[np.uint16]:
    return np.minimum(count, MAX_COUNT).astype(np.uint16)


@dataclass
class Batch:
    """Folded entries of one learning batch, sorted by ident, one per (context, token)."""

    ident: npt.NDArray[np.uint64]
    seq: npt.NDArray[np.uint32]
    odd: npt.NDArray[np.bool_]  # the parity this batch adds (an odd number of occurrences)
    count: npt.NDArray[np.int64]  # occurrences in this batch
    #: the entry one token shallower at the same position (its spread grows when this entry is
    #: new to the memory); `NO_LOWER` for the orbit's entries
    lower: npt.NDArray[np.uint64]


def group(keys: npt.NDArray[np.uint64], tokens: npt.NDArray[np.int64], seq0: int) -> Batch:
    """Fold a batch of occurrences: `keys` (n, depth + 1) are the contexts before `tokens` (n).

    Two `np.sort` calls on packed 64-bit words do the grouping (numpy's SIMD sort is four times
    faster than an argsort here): first by context with the newest record first, then by
    (context run, token) with the sorted position riding along in the low bits; compiled loops
    (`kernels`) pack between the sorts and read the groups off after them.
    """
    n, width = keys.shape
    total = n * width
    if total > MAX_BATCH_RECORDS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_RECORDS // width} tokens")
    if total == 0:
        return Batch(np.empty(0, np.uint64), np.empty(0, np.uint32), np.empty(0, bool),
                     np.empty(0, np.int64), np.empty(0, np.uint64))
    v = kernels.pack_records(keys)
    v.sort()
    w = kernels.runs_and_tokens(v, tokens, width)
    w.sort()
    ident, pos, count, depth, oldest = kernels.firsts(w, v, width)
    token = ident & np.uint64(TOKEN_MASK)
    # the entry a token shallower where this one first occurred in the batch (for the orbit
    # level it depends on the position: the state's orbit is not a suffix of the tokens)
    lower = (keys[oldest, np.maximum(depth - 1, 0)] << np.uint64(TOKEN_BITS)) | token
    lower[depth == 0] = NO_LOWER
    return Batch(ident, (pos + seq0).astype(np.uint32), (count & 1).astype(bool), count, lower)


class Passive:
    """The sorted entry arrays, with merge, lookup and caps."""

    def __init__(self, *, zero_fold: npt.NDArray[np.bool_], per_context: int = 64) -> None:
        self.ident = np.empty(0, np.uint64)
        self.meta = np.empty(0, np.uint32)
        self.count = np.empty(0, np.uint16)
        self.spread = np.empty(0, np.uint16)
        self._discounts: tuple[npt.NDArray[np.uint16], tuple[float, float, float]] = (
            self.count, DEFAULT_DISCOUNTS)
        # Writers (one at a time: the memory's lock) swap in new arrays under `swap`; readers
        # in other threads (sessions generating) take both arrays under it, so they never see
        # the new `ident` with the old `meta`.
        self.swap = threading.Lock()
        self.zero_fold = zero_fold  # token -> both its masks are 0 (`vocab.Vocab.zero_streak`)
        self.per_context = per_context

    def __len__(self) -> int:
        return len(self.ident)

    def replace(self, ident: npt.NDArray[np.uint64], meta: npt.NDArray[np.uint32],
                count: npt.NDArray[np.uint16], spread: npt.NDArray[np.uint16]) -> None:
        with self.swap:
            self.ident, self.meta, self.count, self.spread = ident, meta, count, spread

    def _keep(self, keep: npt.NDArray[np.bool_]) -> None:
        self.ident, self.meta = self.ident[keep], self.meta[keep]
        self.count, self.spread = self.count[keep], self.spread[keep]

    def merge(self, batch: Batch) -> None:
        with self.swap:
            self._merge(batch)

    def _merge(self, batch: Batch) -> None:
        """Fold a batch in: parities add mod 2, counts add, recency moves forward, zero streaks
        delete; an entry new to the memory adds one to its lower entry's spread."""
        if not len(batch.ident):
            return
        tok = (batch.ident & np.uint64(TOKEN_MASK)).astype(np.intp)
        odd = batch.odd
        # a zero-streak token's entry is deleted at every even occurrence, so a live one has
        # been seen once since it was last (re)created
        zero = self.zero_fold[tok]
        count = np.where(zero, 1, batch.count)
        if not len(self.ident):
            live = odd | ~zero
            self.ident = batch.ident[live]
            self.meta = (batch.seq[live] << np.uint32(1)) | odd[live]
            self.count = _saturate(count[live])
            self.spread = zero[live].astype(np.uint16)  # a zero-streak token's spread is 1
            new_lower = batch.lower
        else:
            pos = np.searchsorted(self.ident, batch.ident)
            hit = pos < len(self.ident)
            hit[hit] = self.ident[pos[hit]] == batch.ident[hit]
            at = pos[hit]
            parity = (self.meta[at] & 1).astype(bool) ^ odd[hit]
            self.meta[at] = (batch.seq[hit] << np.uint32(1)) | parity
            self.count[at] = np.where(zero[hit], 1, _saturate(self.count[at].astype(np.int64)
                                                              + count[hit]))
            dead = at[~parity & zero[hit]]
            new = ~hit & (odd | ~zero)
            meta_new = (batch.seq[new] << np.uint32(1)) | odd[new]
            ident, meta, kept, spread = self.ident, self.meta, self.count, self.spread
            if len(dead):
                ident, meta = np.delete(ident, dead), np.delete(meta, dead)
                kept, spread = np.delete(kept, dead), np.delete(spread, dead)
                pos = np.searchsorted(ident, batch.ident)
            self.ident = np.insert(ident, pos[new], batch.ident[new])
            self.meta = np.insert(meta, pos[new], meta_new)
            self.count = np.insert(kept, pos[new], _saturate(count[new]))
            self.spread = np.insert(spread, pos[new], zero[new].astype(np.uint16))
            new_lower = batch.lower[~hit]
        self._spread(new_lower[new_lower != NO_LOWER])

    def add_spread(self, ident: npt.NDArray[np.uint64], spread: npt.NDArray[np.uint16]) -> None:
        """Add another memory's spreads to these entries (an import)."""
        with self.swap:
            self.spread = self.spread.copy()  # readers may hold the current array
            self._spread(ident, spread.astype(np.int64))

    def _spread(self, lower: npt.NDArray[np.uint64],
                by: npt.NDArray[np.int64] | int = 1) -> None:
        """`by` more distinct longer contexts for each of these entries (repeats add up), in
        place: only the entries named are touched (a zero-streak token's stays 1), so a batch
        costs what it names, not the memory's size."""
        pos = np.searchsorted(self.ident, lower)
        found = pos < len(self.ident)
        found[found] = self.ident[pos[found]] == lower[found]
        at = pos[found]
        if not len(at):
            return
        rows, slot = np.unique(at, return_inverse=True)
        added = np.zeros(len(rows), np.int64)
        np.add.at(added, slot, by if isinstance(by, int) else by[found])
        tok = (self.ident[rows] & np.uint64(TOKEN_MASK)).astype(np.intp)
        grown = self.spread[rows].astype(np.int64) + added
        self.spread[rows] = np.where(self.zero_fold[tok], 1, _saturate(grown))

    def _cap_contexts(self) -> None:
        """Keep the `per_context` most recent tokens of every context (one compiled pass)."""
        drop = kernels.over_cap(self.ident, self.meta, self.per_context)
        if drop.any():
            self._keep(~drop)

    def candidates(self, context: int) -> list[int]:
        """The tokens stored at a context, most recent first."""
        return self.entries(context)[0]

    def _span(self, context: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32],
                                           npt.NDArray[np.uint16], int, int]:
        """A consistent set of arrays and the rows of a context in them."""
        with self.swap:
            ident, meta, count = self.ident, self.meta, self.count
        # numpy scalars: a Python int would make searchsorted convert the whole array first
        base = np.uint64(context << TOKEN_BITS)
        lo = int(ident.searchsorted(base))
        hi = int(ident.searchsorted(base + np.uint64(1 << TOKEN_BITS)))
        return ident, meta, count, lo, hi

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
        with self.swap:
            ident, meta, count, spread = self.ident, self.meta, self.count, self.spread
        base = np.uint64(context << TOKEN_BITS)
        lo = int(ident.searchsorted(base))
        hi = int(ident.searchsorted(base + np.uint64(1 << TOKEN_BITS)))
        tokens = (ident[lo:hi] & np.uint64(TOKEN_MASK)).astype(np.int64)
        seqs = (meta[lo:hi] >> np.uint32(1)).astype(np.int64)
        counts, spreads = count[lo:hi].astype(np.int64), spread[lo:hi].astype(np.int64)
        if hi - lo > self.per_context:
            # read as the cap will leave it: between compactions a context may hold more
            keep = np.sort(np.argsort(-seqs, kind="stable")[: self.per_context])
            tokens, seqs, counts, spreads = tokens[keep], seqs[keep], counts[keep], spreads[keep]
        return tokens, seqs, counts, spreads

    def address_of(self, context: int, token: int) -> int:
        """The address of the latest occurrence of `token` after `context`; -1: never."""
        with self.swap:
            ident, meta = self.ident, self.meta
        want = np.uint64(context << TOKEN_BITS | token)
        at = int(ident.searchsorted(want))
        return int(meta[at] >> np.uint32(1)) if at < len(ident) and ident[at] == want else -1

    def learned_at(self, context: int, address: int) -> tuple[int, int]:
        """The token stored at a context whose latest occurrence is `address` (-1: none), and
        how many tokens the context holds. No sorting: the fast path of reciting by address."""
        ident, meta, _, lo, hi = self._span(context)
        if lo == hi:
            return -1, 0
        hit = np.flatnonzero((meta[lo:hi] >> np.uint32(1)) == np.uint32(address))
        if not len(hit):
            return -1, hi - lo
        return int(ident[lo + int(hit[0])] & np.uint64(TOKEN_MASK)), hi - lo

    def discounts(self) -> tuple[float, float, float]:
        """Modified Kneser-Ney's three discounts (for counts 1, 2 and 3 or more) from the counts
        of counts over all entries (Chen & Goodman 1998), recomputed when the arrays change."""
        with self.swap:
            count = self.count
        if self._discounts[0] is count:
            return self._discounts[1]
        # n1..n4: how many entries were seen exactly 1, 2, 3 and 4 times (5 and more lumped apart)
        n = np.bincount(np.minimum(count, 5), minlength=6)[1:5].astype(float)
        found = DEFAULT_DISCOUNTS
        if n.all():
            y = n[0] / (n[0] + 2 * n[1])
            d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
            if all(0 < x < k + 1 for k, x in enumerate(d)):
                found = (float(d[0]), float(d[1]), float(d[2]))
        self._discounts = (count, found)
        return found

    def contexts(self) -> int:
        if not len(self.ident):
            return 0
        ctx = self.ident >> np.uint64(TOKEN_BITS)
        return int(np.count_nonzero(ctx[1:] != ctx[:-1])) + 1

    def cap(self, per_token: int) -> None:
        """The caps (module docstring), at compaction: each context's `per_context` most recent
        tokens, then each token's `per_token` most recent entries (0: no token cap)."""
        with self.swap:
            self._cap_contexts()
            self._cap_tokens(per_token)

    def _cap_tokens(self, per_token: int) -> None:
        if per_token <= 0 or not len(self.ident):
            return
        tok = (self.ident & np.uint64(TOKEN_MASK)).astype(np.int64)
        seq = (self.meta >> np.uint32(1)).astype(np.int64)
        order = np.lexsort((-seq, tok))
        sorted_tok = tok[order]
        starts = np.flatnonzero(np.concatenate([[True], sorted_tok[1:] != sorted_tok[:-1]]))
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
        keep = np.ones(len(order), dtype=bool)
        keep[order[rank >= per_token]] = False
        self._keep(keep)

