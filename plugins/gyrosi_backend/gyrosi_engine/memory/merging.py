"""The compiled loops of a batch's merge into `Passive`'s delta.

A batch names a few hundred thousand entries, sorted; the base and the delta it looks them up in
hold millions. Its idents rise, so each lookup gallops on from where the one before ended, which
touches a few cache lines near the last instead of a binary search's pages across the whole
array; and every new row goes into the delta in one pass over it, all four columns at once. The
loops hold no GIL: the content index (Python) is built in another thread meanwhile.

`Passive._merge` says what a merge means; these loops are how.
"""

import numba
import numpy as np
import numpy.typing as npt

from ..kernels import TOKEN_BITS

MAX_COUNT = (1 << 16) - 1  # counts and spreads saturate here (two bytes per entry)
TOKEN_MASK = np.uint64((1 << TOKEN_BITS) - 1)


@numba.njit(cache=True, nogil=True, inline="always")
def saturated(x: int | np.integer) -> int | np.integer:
    return x if x < MAX_COUNT else MAX_COUNT


@numba.njit(cache=True, nogil=True, inline="always")
def gallop(ident: npt.NDArray[np.uint64], want: np.uint64, lo: int) -> int:
    """The first row at or after `lo` whose ident is not below `want` (`ident` sorted; no row
    before `lo` is at or above it)."""
    n = ident.shape[0]
    if lo >= n or ident[lo] >= want:
        return lo
    step = 1  # ident[lo] < want throughout
    while lo + step < n and ident[lo + step] < want:
        lo += step
        step *= 2
    hi = min(lo + step, n)
    lo += 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if ident[mid] < want:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, inline="always")
def lookup(b_ident: npt.NDArray[np.uint64], d_ident: npt.NDArray[np.uint64], want: np.uint64,
           bi: int, di: int) -> tuple[int, int, int]:
    """Where `want` is or goes in each tier (galloping on from `bi`, `di`), and which holds it
    (1: the delta, whose row is its current value; 2: the base; 0: neither)."""
    di = gallop(d_ident, want, di)
    if di < d_ident.shape[0] and d_ident[di] == want:
        return bi, di, 1
    bi = gallop(b_ident, want, bi)
    if bi < b_ident.shape[0] and b_ident[bi] == want:
        return bi, di, 2
    return bi, di, 0


@numba.njit(cache=True, nogil=True, inline="always")
def _changed(n: int) -> tuple:
    """Room for `n` changed entries: meta, count, spread, where in the delta, whether there."""
    return (np.empty(n, np.uint32), np.empty(n, np.uint16), np.empty(n, np.uint16),
            np.empty(n, np.int64), np.empty(n, np.bool_))


@numba.njit(cache=True, nogil=True)
def fold(store: tuple, ident: npt.NDArray[np.uint64], seq: npt.NDArray[np.uint32],
         odd: npt.NDArray[np.bool_], count: npt.NDArray[np.uint32],
         zero_fold: npt.NDArray[np.bool_]) -> tuple:
    """A batch's entries (sorted, distinct) folded onto their current values: the new meta,
    count and spread of each; where each is or goes in the delta and whether it is there;
    whether it existed; and the entries-by-count histogram's change (`passive.histogram`)."""
    b_ident, b_meta, b_count, b_spread, d_ident, d_meta, d_count, d_spread = store
    n = ident.shape[0]
    meta, new_count, spread, dpos, dhit = _changed(n)
    exists = np.empty(n, np.bool_)
    change = np.zeros(6, np.int64)
    bi = di = 0
    for i in range(n):
        bi, di, tier = lookup(b_ident, d_ident, ident[i], bi, di)
        old_meta, old_count, old_spread = np.uint32(0), np.uint16(0), np.uint16(0)
        if tier == 1:
            old_meta, old_count, old_spread = d_meta[di], d_count[di], d_spread[di]
        elif tier == 2:
            old_meta, old_count, old_spread = b_meta[bi], b_count[bi], b_spread[bi]
        dpos[i], dhit[i] = di, tier == 1
        was = old_count > 0
        exists[i] = was
        zero = zero_fold[np.int64(ident[i] & TOKEN_MASK)]
        parity = ((old_meta & np.uint32(1)) == 1 and was) != odd[i]
        live = parity or not zero
        total = 1 if zero else saturated(np.int64(old_count) + count[i])
        meta[i] = (seq[i] << np.uint32(1)) | np.uint32(parity)
        new_count[i] = total if live else 0
        spread[i] = old_spread if was else np.uint16(1 if zero else 0)
        change[min(int(new_count[i]), 5)] += 1
        change[min(int(old_count), 5)] -= 1
    return meta, new_count, spread, dpos, dhit, exists, change


@numba.njit(cache=True, nogil=True)
def spread(store: tuple, lower: npt.NDArray[np.uint64], by: npt.NDArray[np.int64],
           ident: npt.NDArray[np.uint64], count: npt.NDArray[np.uint16],
           batch_spread: npt.NDArray[np.uint16], zero_fold: npt.NDArray[np.bool_]) -> tuple:
    """Add `by` to the spread of each live entry named in `lower` (sorted; repeats add up), as
    they stand after a batch (`ident`, `count`, `batch_spread`: its folded entries, whose spreads
    are updated in place); a zero-streak token's spread stays 1. Returns the other entries
    changed, with where each is in the delta and whether it is there."""
    b_ident, b_meta, b_count, b_spread, d_ident, d_meta, d_count, d_spread = store
    n = lower.shape[0]
    out_ident = np.empty(n, np.uint64)
    out_meta, out_count, out_spread, out_dpos, out_dhit = _changed(n)
    m = bi = di = k = i = 0
    while i < n:
        want, added = lower[i], np.int64(0)
        while i < n and lower[i] == want:
            added += by[i]
            i += 1
        zero = zero_fold[np.int64(want & TOKEN_MASK)]
        k = gallop(ident, want, k)
        if k < ident.shape[0] and ident[k] == want:
            if count[k] > 0:
                batch_spread[k] = 1 if zero else saturated(np.int64(batch_spread[k]) + added)
            continue
        bi, di, tier = lookup(b_ident, d_ident, want, bi, di)
        if tier == 1 and d_count[di] > 0:
            out_meta[m], out_count[m], old = d_meta[di], d_count[di], d_spread[di]
        elif tier == 2 and b_count[bi] > 0:
            out_meta[m], out_count[m], old = b_meta[bi], b_count[bi], b_spread[bi]
        else:
            continue
        out_ident[m] = want
        out_spread[m] = 1 if zero else saturated(np.int64(old) + added)
        out_dpos[m], out_dhit[m] = di, tier == 1
        m += 1
    return (out_ident[:m], out_meta[:m], out_count[:m], out_spread[:m], out_dpos[:m],
            out_dhit[:m])


@numba.njit(cache=True, nogil=True)
def rewrite(delta: tuple, a: tuple, a_pos: npt.NDArray[np.int64], a_hit: npt.NDArray[np.bool_],
            a_write: npt.NDArray[np.bool_], b: tuple, b_pos: npt.NDArray[np.int64],
            b_hit: npt.NDArray[np.bool_], room: tuple) -> tuple:
    """The delta with two sets of rows written in (each sorted, the two disjoint; `a`'s only
    where `a_write`): a row the delta holds (`hit`) is overwritten, another inserted at its
    place (`pos`, where a search of the delta as it was put it). All four columns at once, in
    one pass from the end: into `room` itself when it has room for them (the columns the delta's
    rows are the first of, read by no one else: the rows before the first change stay where
    they are), else into new columns with an eighth to spare. Returns the columns and how many
    of their rows are the delta's."""
    d0, d1, d2, d3 = delta
    a0, a1, a2, a3 = a
    b0, b1, b2, b3 = b
    na, nb = a_pos.shape[0], b_pos.shape[0]
    grown = 0
    for j in range(na):
        grown += a_write[j] and not a_hit[j]
    for j in range(nb):
        grown += not b_hit[j]
    size = d0.shape[0] + grown
    o0, o1, o2, o3 = room
    here = o0.shape[0] >= size
    if not here:
        more = size + size // 8  # a few batches' growth before the next allocation
        o0, o1 = np.empty(more, np.uint64), np.empty(more, np.uint32)
        o2, o3 = np.empty(more, np.uint16), np.empty(more, np.uint16)
    # From the end, the rows still to be read are never below the place being written: as many
    # rows as are still to be inserted lie between them.
    i, j, r, o = na - 1, nb - 1, d0.shape[0], size
    while True:
        while i >= 0 and not a_write[i]:
            i -= 1
        if i < 0 and j < 0:
            break
        from_a = j < 0 or (i >= 0 and a0[i] > b0[j])
        pos, hit = (a_pos[i], a_hit[i]) if from_a else (b_pos[j], b_hit[j])
        end = pos + 1 if hit else pos
        while r > end:  # the delta's rows after this one
            r -= 1
            o -= 1
            o0[o], o1[o], o2[o], o3[o] = d0[r], d1[r], d2[r], d3[r]
        r = pos  # a hit's old row is the one replaced
        o -= 1
        if from_a:
            o0[o], o1[o], o2[o], o3[o] = a0[i], a1[i], a2[i], a3[i]
            i -= 1
        else:
            o0[o], o1[o], o2[o], o3[o] = b0[j], b1[j], b2[j], b3[j]
            j -= 1
    if not here:  # the rows before the first change, where they were not already
        for k in range(r):
            o0[k], o1[k], o2[k], o3[k] = d0[k], d1[k], d2[k], d3[k]
    return (o0, o1, o2, o3), size
