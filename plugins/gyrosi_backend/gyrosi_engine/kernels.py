"""The hot loops, compiled with numba: context keys and the grouping of a batch (learning), and
the lookups and weighing of one generation step.

In numpy each learning loop is a chain of a dozen whole-array passes; fused into one loop they run
about four times faster. A generation step looks up seven contexts and weighs their entries (a
hundred or two): written in Python that took about 400 us a step, here a few. numba caches the
compiled code beside this module (or in the user's cache folder when that is read-only), so only
the first use after installing pays for compiling (a few seconds).
"""

import numba
import numpy as np
import numpy.typing as npt

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
ORBIT_SALT = np.uint64(0x4F52424954)  # "ORBIT": keeps depth-0 keys apart from token contexts
TOKEN_BITS = 18
RECORD_BITS = 23


@numba.njit(cache=True, nogil=True, inline="always")
def mix(x: np.uint64) -> np.uint64:
    """splitmix64's finaliser: every input bit reaches every key bit."""
    x = (x ^ (x >> np.uint64(30))) * M1
    x = (x ^ (x >> np.uint64(27))) * M2
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def stream_keys(
    before: npt.NDArray[np.int64], ext: npt.NDArray[np.int64], msg_start: npt.NDArray[np.int64],
    orbit_of: npt.NDArray[np.int32], depth: int, levels: npt.NDArray[np.int64], start: int,
    key_shift: int,
) -> npt.NDArray[np.uint64]:
    """Keys (n, len(levels) + 1): column 0 the orbit of the state before each token, column k
    its last `levels[k - 1]` tokens (`ext` = the `depth` carried tokens followed by the
    stream's; positions before the message's start read as `start`)."""
    n = before.shape[0]
    keys = np.empty((n, levels.shape[0] + 1), dtype=np.uint64)
    shift = np.uint64(key_shift)
    for j in range(n):
        keys[j, 0] = mix(np.uint64(orbit_of[before[j]]) + ORBIT_SALT) >> shift
        h = np.uint64(0)
        k = 0
        for d in range(1, depth + 1):
            token = ext[j + depth - d] if j - d >= msg_start[j] else start
            h = mix(h * GOLDEN + np.uint64(token) + np.uint64(d))
            if d == levels[k]:
                keys[j, k + 1] = h >> shift
                k += 1
    return keys


@numba.njit(cache=True, nogil=True)
def path_keys(tokens: npt.NDArray[np.int64], orbit: int, levels: npt.NDArray[np.int64],
              key_shift: int) -> npt.NDArray[np.uint64]:
    """`stream_keys` for one position (`context.path_keys` compiled): the orbit's key, then the
    key of each level the tokens (oldest first) are long enough for."""
    n = tokens.shape[0]
    reach = 0
    while reach < levels.shape[0] and levels[reach] <= n:
        reach += 1
    keys = np.empty(reach + 1, dtype=np.uint64)
    shift = np.uint64(key_shift)
    keys[0] = mix(np.uint64(orbit) + ORBIT_SALT) >> shift
    h = np.uint64(0)
    k = 0
    for d in range(1, n + 1):
        if k == reach:
            break
        h = mix(h * GOLDEN + np.uint64(tokens[n - d]) + np.uint64(d))
        if d == levels[k]:
            keys[k + 1] = h >> shift
            k += 1
    return keys


@numba.njit(cache=True, nogil=True, inline="always")
def reciprocal(width: int) -> np.uint64:
    """`(r * reciprocal(width)) >> 40 == r // width` for every record r < 2**23 and width < 32
    (`reciprocal * width` exceeds 2**40 by at most `width`, so the error stays below
    `r * width / 2**40 < 1 / width`): a multiply where a 64-bit division cost a short loop
    most of its time."""
    return np.uint64((1 << 40) // width + 1)


@numba.njit(cache=True, nogil=True)
def runs_and_tokens(
    v: npt.NDArray[np.uint64], tokens: npt.NDArray[np.int64], width: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """From records sorted by (context, newest first): `run << 41 | token << 23 | low`, where
    `low` is the record's own low bits (`2**23 - 1 - record`: within a run they rise as the
    records get older, so sorting these words orders a run's records as `v` did), and each
    run's context key (`firsts` reads the key there, not back in `v`)."""
    total = v.shape[0]
    rmask = np.uint64((1 << RECORD_BITS) - 1)
    magic = reciprocal(width)
    w = np.empty(total, dtype=np.uint64)
    run_key = np.empty(max(total, 1), dtype=np.uint64)
    run = np.uint64(0)
    prev = v[0] >> np.uint64(RECORD_BITS) if total else np.uint64(0)
    run_key[0] = prev
    for i in range(total):
        ctx = v[i] >> np.uint64(RECORD_BITS)
        if ctx != prev:
            run += np.uint64(1)
            run_key[run] = ctx
            prev = ctx
        low = v[i] & rmask
        tok = np.uint64(tokens[((rmask - low) * magic) >> np.uint64(40)])
        w[i] = (run << np.uint64(TOKEN_BITS + RECORD_BITS)) | (tok << np.uint64(RECORD_BITS)) \
            | low
    return w, run_key[: run + 1]


#: `firsts`' lower row of an entry that has none (the orbit's: depth 0)
NO_LOWER_ROW = (1 << 32) - 1


@numba.njit(cache=True, nogil=True)
def firsts(
    w: npt.NDArray[np.uint64], run_key: npt.NDArray[np.uint64], width: int, seq0: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.bool_],
           npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """One entry per (context, token) group of sorted `w` (`runs_and_tokens`), as
    `passive.Batch` holds it: ident, recency (`seq0` + its newest position), parity,
    occurrences, and the row of its lower entry: the one a depth shallower (a key is one
    depth's: the depth is mixed into it) at its oldest position (a group's records come newest
    first), the same token, so an entry of the same batch; `NO_LOWER_ROW` at depth 0. The
    groups are counted first, so every array is made at its final size and type (a batch has
    about half as many entries as records: fewer fresh pages to fault in, no slices that
    keep the rest alive)."""
    total = w.shape[0]
    rmask = np.uint64((1 << RECORD_BITS) - 1)
    tmask = np.uint64((1 << TOKEN_BITS) - 1)
    magic = reciprocal(width)
    n = 0
    prev = np.uint64(0)
    for i in range(total):
        pair = w[i] >> np.uint64(RECORD_BITS)
        if i == 0 or pair != prev:
            n += 1
        prev = pair
    ident = np.empty(n, dtype=np.uint64)
    seq = np.empty(n, dtype=np.uint32)
    count = np.empty(n, dtype=np.uint32)
    oldest = np.empty(n, dtype=np.uint32)  # its record
    entry_of = np.empty(total, dtype=np.uint32)  # each record's entry
    out = -1
    for i in range(total):
        pair = w[i] >> np.uint64(RECORD_BITS)
        rec = rmask - (w[i] & rmask)
        if i == 0 or pair != prev:
            out += 1
            ident[out] = (run_key[pair >> np.uint64(TOKEN_BITS)] << np.uint64(TOKEN_BITS)) \
                | (pair & tmask)
            seq[out] = seq0 + ((rec * magic) >> np.uint64(40))
            count[out] = 1
        else:
            count[out] += 1
        oldest[out] = rec
        entry_of[rec] = out
        prev = pair
    odd = np.empty(n, dtype=np.bool_)
    lower = np.empty(n, dtype=np.uint32)
    for e in range(n):
        odd[e] = count[e] & 1
        # the record a depth shallower at the same position: rec - 1
        rec = np.uint64(oldest[e])
        depth = rec - ((rec * magic) >> np.uint64(40)) * np.uint64(width)
        lower[e] = NO_LOWER_ROW if depth == 0 else entry_of[oldest[e] - 1]
    return ident, seq, odd, count, lower


@numba.njit(cache=True, nogil=True)
def count_histogram(count: npt.NDArray[np.uint16]) -> npt.NDArray[np.int64]:
    """Entries by count, 0 to 4 then 5 and more, in one pass (`np.bincount` would first widen
    every count to 64 bits: a fold's hundreds of MB of temporaries)."""
    hist = np.zeros(6, dtype=np.int64)
    for i in range(count.shape[0]):
        c = np.int64(count[i])
        hist[c if c < 5 else 5] += 1
    return hist


@numba.njit(cache=True, nogil=True)
def distinct_contexts(ident: npt.NDArray[np.uint64]) -> int:
    """How many distinct contexts sorted idents hold, in one pass."""
    n = ident.shape[0]
    if n == 0:
        return 0
    k = 1
    prev = ident[0] >> np.uint64(TOKEN_BITS)
    for i in range(1, n):
        ctx = ident[i] >> np.uint64(TOKEN_BITS)
        if ctx != prev:
            k += 1
            prev = ctx
    return k


@numba.njit(cache=True, nogil=True, inline="always")
def oldest_kept(seqs: npt.NDArray[np.uint32], per_context: int) -> np.uint32:
    """The cap's rule for a context holding more than `per_context` rows (their recencies
    `seqs`): the oldest recency that stays; every row at least as recent stays."""
    return np.sort(seqs)[seqs.shape[0] - per_context]


@numba.njit(cache=True, nogil=True)
def over_cap(ident: npt.NDArray[np.uint64], meta: npt.NDArray[np.uint32],
             per_context: int) -> npt.NDArray[np.bool_]:
    """Entries beyond the `per_context` most recent of their context (`ident` sorted)."""
    n = ident.shape[0]
    drop = np.zeros(n, dtype=np.bool_)
    start = 0
    for i in range(1, n + 1):
        if i < n and (ident[i] >> np.uint64(TOKEN_BITS)) == (ident[start] >> np.uint64(TOKEN_BITS)):
            continue
        if i - start > per_context:
            cut = oldest_kept(meta[start:i] >> np.uint32(1), per_context)
            for k in range(start, i):
                drop[k] = (meta[k] >> np.uint32(1)) < cut
        start = i
    return drop


@numba.njit(cache=True, nogil=True)
def capped_rows(store: tuple, per_context: int) -> int:
    """How many rows `Passive.rows(cap=True)` gives, without making them: the two tiers'
    live entries (a delta row overrides the base's; count 0 is deleted), at most each
    context's `per_context` most recent by `over_cap`'s rule. A compaction knows its
    snapshot's size first, so it writes every column at its place."""
    b_ident, b_meta, b_count, _, d_ident, d_meta, d_count, _ = store
    nb, nd = b_ident.shape[0], d_ident.shape[0]
    shift = np.uint64(TOKEN_BITS)
    total = i = j = 0
    seqs = np.empty(4 * per_context + 4, dtype=np.uint32)  # a context's, grown when one is longer
    while i < nb or j < nd:
        if j == nd or (i < nb and b_ident[i] < d_ident[j]):
            ctx = b_ident[i] >> shift
        else:
            ctx = d_ident[j] >> shift
        i_end, j_end = i, j
        while i_end < nb and b_ident[i_end] >> shift == ctx:
            i_end += 1
        while j_end < nd and d_ident[j_end] >> shift == ctx:
            j_end += 1
        if i_end - i + j_end - j > seqs.shape[0]:
            seqs = np.empty(2 * (i_end - i + j_end - j), dtype=np.uint32)
        k, a, b = 0, i, j
        while a < i_end or b < j_end:  # the context's rows in ident order
            if b < j_end and (a == i_end or d_ident[b] <= b_ident[a]):
                if a < i_end and b_ident[a] == d_ident[b]:
                    a += 1  # overridden
                if d_count[b] > 0:
                    seqs[k] = d_meta[b] >> np.uint32(1)
                    k += 1
                b += 1
            else:
                if b_count[a] > 0:
                    seqs[k] = b_meta[a] >> np.uint32(1)
                    k += 1
                a += 1
        if k > per_context:
            cut = oldest_kept(seqs[:k], per_context)
            for r in range(k):
                total += seqs[r] >= cut
        else:
            total += k
        i, j = i_end, j_end
    return total


@numba.njit(cache=True, nogil=True)
def pack_records(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """`key << 23 | (2**23 - 1 - r)` for record r = position * width + depth (`keys`' flat
    index): sorted, a context's records come newest first."""
    n, width = keys.shape
    flat = np.ascontiguousarray(keys).reshape(n * width)
    top = np.uint64((1 << RECORD_BITS) - 1)
    v = np.empty(n * width, dtype=np.uint64)
    for r in range(n * width):
        v[r] = (flat[r] << np.uint64(RECORD_BITS)) | (top - np.uint64(r))
    return v


# --- generation: one step's lookups and weighing (`generate.Generator`) -------------------------


#: `rank`'s flags beside a candidate's token id: its weight equals the previous candidate's; the
#: last non-empty context holds it
SAME = 1 << TOKEN_BITS
TOP = 1 << (TOKEN_BITS + 1)


@numba.njit(cache=True, nogil=True, inline="always")
def span(ident: npt.NDArray[np.uint64], key: np.uint64) -> tuple[int, int]:
    """The rows of a context in the sorted `ident` array: a binary search for the first, then a
    gallop from it (a context holds few rows, and they share its cache lines)."""
    base = np.uint64(key) << np.uint64(TOKEN_BITS)
    end = base + np.uint64(1 << TOKEN_BITS)
    n = ident.shape[0]
    lo = int(np.searchsorted(ident, base))
    if lo == n or ident[lo] >= end:
        return lo, lo
    inside, step = lo, 1  # ident[inside] is the context's
    while lo + step < n and ident[lo + step] < end:
        inside = lo + step
        step *= 2
    beyond = min(lo + step, n)
    return lo, inside + 1 + int(np.searchsorted(ident[inside + 1:beyond], end))


@numba.njit(cache=True, nogil=True)
def overlay(base: tuple, delta: tuple) -> tuple:
    """Rows of the base overridden by the delta's (both a stretch of the same idents), the
    deleted (count 0) left out, in ident order: what a snapshot holds of the stretch."""
    b0, b1, b2, b3 = base
    d0, d1, d2, d3 = delta
    nb, nd = b0.shape[0], d0.shape[0]
    size = nb + nd
    o0, o1 = np.empty(size, np.uint64), np.empty(size, np.uint32)
    o2, o3 = np.empty(size, np.uint16), np.empty(size, np.uint16)
    i = j = o = 0
    while i < nb or j < nd:
        if j >= nd or (i < nb and b0[i] < d0[j]):
            o0[o], o1[o], o2[o], o3[o] = b0[i], b1[i], b2[i], b3[i]
            o += 1
            i += 1
            continue
        if i < nb and b0[i] == d0[j]:
            i += 1  # the delta's row is the entry's current value
        if d2[j] > 0:
            o0[o], o1[o], o2[o], o3[o] = d0[j], d1[j], d2[j], d3[j]
            o += 1
        j += 1
    return o0[:o], o1[:o], o2[:o], o3[:o]


@numba.njit(cache=True, nogil=True)
def gather(store: tuple, key: np.uint64) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32],
                                                 npt.NDArray[np.uint16], npt.NDArray[np.uint16]]:
    """A context's live rows (`Passive`: the base's, overridden by the delta's), in ident order:
    views of one tier when the other holds none of it (a compacted memory, or one learned since
    it was last folded), else merged."""
    b_ident, b_meta, b_count, b_spread, d_ident, d_meta, d_count, d_spread = store
    lo, hi = span(b_ident, key)
    dlo, dhi = span(d_ident, key)
    if dlo == dhi:
        return b_ident[lo:hi], b_meta[lo:hi], b_count[lo:hi], b_spread[lo:hi]
    if lo == hi:  # the delta's alone (a memory not yet folded): views unless one was deleted
        whole = True
        for j in range(dlo, dhi):
            if d_count[j] == 0:
                whole = False
                break
        if whole:
            return d_ident[dlo:dhi], d_meta[dlo:dhi], d_count[dlo:dhi], d_spread[dlo:dhi]
    return overlay((b_ident[lo:hi], b_meta[lo:hi], b_count[lo:hi], b_spread[lo:hi]),
                   (d_ident[dlo:dhi], d_meta[dlo:dhi], d_count[dlo:dhi], d_spread[dlo:dhi]))


@numba.njit(cache=True, nogil=True)
def find(store: tuple, want: np.uint64) -> int:
    """The meta of the live entry `want` (`Passive`'s two tiers); -1 when there is none."""
    b_ident, b_meta, _, _, d_ident, d_meta, d_count, _ = store
    at = np.searchsorted(d_ident, want)
    if at < d_ident.shape[0] and d_ident[at] == want:
        return int(d_meta[at]) if d_count[at] > 0 else -1
    at = np.searchsorted(b_ident, want)
    if at < b_ident.shape[0] and b_ident[at] == want:
        return int(b_meta[at])
    return -1


@numba.njit(cache=True, nogil=True, inline="always")
def capped(meta: npt.NDArray[np.uint32], lo: int, hi: int, per_context: int
           ) -> npt.NDArray[np.int64]:
    """The rows of a context as the cap will leave it (`Passive.evidence`): all of them, or its
    `per_context` most recent (ties to the lower row), in row order."""
    if hi - lo <= per_context:
        return np.arange(lo, hi)
    seqs = np.empty(hi - lo, dtype=np.int64)
    for r in range(lo, hi):
        seqs[r - lo] = -np.int64(meta[r] >> np.uint32(1))
    return np.sort(np.argsort(seqs, kind="mergesort")[:per_context]) + lo


@numba.njit(cache=True, nogil=True)
def deepest(store: tuple, keys: npt.NDArray[np.uint64], most: int, per_context: int
            ) -> tuple[int, npt.NDArray[np.int64]]:
    """The deepest context of `keys[1..most]` that holds anything and its tokens as the cap
    will leave them, most recent first (ties in token order); (0, empty) when none does."""
    tmask = np.uint64((1 << TOKEN_BITS) - 1)
    for d in range(most, 0, -1):
        ident, meta, _, _ = gather(store, keys[d])
        if ident.shape[0]:
            seqs = np.empty(ident.shape[0], dtype=np.int64)
            for r in range(ident.shape[0]):
                seqs[r] = -np.int64(meta[r] >> np.uint32(1))
            order = np.argsort(seqs, kind="mergesort")[:per_context]
            tokens = np.empty(order.shape[0], dtype=np.int64)
            for i in range(order.shape[0]):
                tokens[i] = np.int64(ident[order[i]] & tmask)
            return d, tokens
    return 0, np.empty(0, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def learned_at(store: tuple, keys: npt.NDArray[np.uint64], most: int, address: int
               ) -> tuple[int, int, int]:
    """The token learned at `address` after the deepest context of `keys[1..most]` that holds
    one there, that depth and how many tokens the context holds; (-1, 0, 0) when none does."""
    tmask = np.uint64((1 << TOKEN_BITS) - 1)
    for d in range(most, 0, -1):
        ident, meta, _, _ = gather(store, keys[d])
        for r in range(ident.shape[0]):
            if np.int64(meta[r] >> np.uint32(1)) == address:
                return int(np.int64(ident[r] & tmask)), d, ident.shape[0]
    return -1, 0, 0


@numba.njit(cache=True, nogil=True)
def verified(store: tuple, before: npt.NDArray[np.int64], candidates: npt.NDArray[np.int64],
             address: int, levels: npt.NDArray[np.int64], key_shift: int) -> int:
    """The first candidate c such that some keyed context ending with c (`before`, the tokens
    before it, oldest first, supplying the rest) holds the token learned at `address`; -1 when
    none. The keys are `stream_keys`'s."""
    depth = before.shape[0] + 1
    shift = np.uint64(key_shift)
    for i in range(candidates.shape[0]):
        h = np.uint64(0)
        k = 0
        for d in range(1, depth + 1):
            token = candidates[i] if d == 1 else before[depth - d]
            h = mix(h * GOLDEN + np.uint64(token) + np.uint64(d))
            if d != levels[k]:
                continue
            k += 1
            meta = gather(store, h >> shift)[1]
            for r in range(meta.shape[0]):
                if np.int64(meta[r] >> np.uint32(1)) == address:
                    return int(candidates[i])
    return -1


@numba.njit(cache=True, nogil=True)
def verified_among(store: tuple, keys: npt.NDArray[np.uint64], most: int,
                   before: npt.NDArray[np.int64], address: int,
                   levels: npt.NDArray[np.int64], key_shift: int) -> tuple[int, int, int]:
    """`verified` over the tokens held by the deepest of the contexts `keys[most..1]` that
    holds any: the token, that depth and how many tokens the context holds; (-1, 0, 0) when
    none is verified. The deepest is enough: an entry moved on by a later occurrence is still
    there, and a shallower context holds the same token among more (and more recent) others."""
    tmask = np.uint64((1 << TOKEN_BITS) - 1)
    one = np.empty(1, dtype=np.int64)
    for d in range(most, 0, -1):
        ident = gather(store, keys[d])[0]
        for r in range(ident.shape[0]):
            one[0] = np.int64(ident[r] & tmask)
            if verified(store, before, one, address, levels, key_shift) >= 0:
                return int(one[0]), d, ident.shape[0]
        if ident.shape[0]:
            break
    return -1, 0, 0


@numba.njit(cache=True, nogil=True)
def latest(store: tuple, keys: npt.NDArray[np.uint64], most: int, token: int) -> tuple[int, int]:
    """The address of `token`'s latest occurrence after the deepest context of `keys[1..most]`
    that holds it, and that depth; (-1, 0) when none does (`Passive.address_of`, deepest
    first)."""
    for d in range(most, 0, -1):
        meta = find(store, (np.uint64(keys[d]) << np.uint64(TOKEN_BITS)) | np.uint64(token))
        if meta >= 0:
            return int(meta >> 1), d
    return -1, 0


@numba.njit(cache=True, nogil=True)
def weigh(store: tuple, keys: npt.NDArray[np.uint64], first: int, deepest: int, per_context: int,
          discount: npt.NDArray[np.float64], continuation: bool, deepest_only: bool
          ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64],
                     npt.NDArray[np.bool_]]:
    """The "evidence" rule's weights (`generate.Generator.weigh`) over contexts `keys[first..
    deepest]`, each read as the cap will leave it (`capped`): the candidates (the last
    non-empty context's tokens, or with `deepest_only` off every weighed token), best first:
    weight descending, then recency descending, then token id; with each its weight, its
    recency and whether the last non-empty context holds it.

    `discount` is (0, D1, D2, D3). Every floating-point operation is the Python rule's, in its
    order, so the weights are bit for bit the same: a token's weight is multiplied by each later
    context's passed-down share and then has that context's own share added; the sum of the
    discounts is Neumaier-compensated in token order, as Python 3.12's `sum` of floats is.
    """
    tmask = np.uint64((1 << TOKEN_BITS) - 1)
    levels = max(deepest - first + 1, 0)
    held_rows, found_at = [], []
    size = 0
    for i in range(levels):
        found = gather(store, keys[first + i])
        rows = capped(found[1], 0, found[0].shape[0], per_context)
        held_rows.append(rows)
        found_at.append(found)
        size += rows.shape[0]
    # accumulated tokens (ascending), weights, recencies; merged into the spare set per context
    tok, wt, rec = np.empty(size, np.int64), np.empty(size, np.float64), np.empty(size, np.int64)
    tok2, wt2, rec2 = np.empty(size, np.int64), np.empty(size, np.float64), np.empty(size, np.int64)
    m = 0
    top = np.empty(0, dtype=np.int64)
    top_ident = np.empty(0, dtype=np.uint64)
    for i in range(levels):
        rows = held_rows[i]
        ident, meta, count, spread = found_at[i]
        k = rows.shape[0]
        if k == 0:
            continue
        # Kneser-Ney: continuation counts below the deepest context when any is kept
        use_spread = False
        if first + i < deepest and continuation:
            for r in rows:
                if spread[r] != 0:
                    use_spread = True
                    break
        held = np.int64(0)
        for r in rows:
            held += np.int64(spread[r]) if use_spread else np.int64(count[r])
        total = float(held)
        # sum(cut): Python's int 0 + the first float is exact, then Neumaier from there
        acc = 0.0
        comp = 0.0
        for j in range(k):
            r = rows[j]
            c = np.int64(spread[r]) if use_spread else np.int64(count[r])
            x = discount[c if c < 3 else 3]
            if j == 0:
                acc = x
                continue
            t = acc + x
            if abs(acc) >= abs(x):
                comp += (acc - t) + x
            else:
                comp += (x - t) + acc
            acc = t
        if comp != 0.0 and np.isfinite(comp):
            acc += comp
        down = acc / total
        for j in range(m):
            wt[j] *= down
        # merge this context's tokens (ascending, as `ident` is sorted) into the accumulated set
        a, n, j = 0, 0, 0
        while a < m or j < k:
            r = rows[j] if j < k else -1
            t_new = np.int64(ident[r] & tmask) if j < k else np.int64(-1)
            if j >= k or (a < m and tok[a] < t_new):
                tok2[n], wt2[n], rec2[n] = tok[a], wt[a], rec[a]
                a += 1
            else:
                c = np.int64(spread[r]) if use_spread else np.int64(count[r])
                share = max(float(c) - discount[c if c < 3 else 3], 0.0) / total
                q = np.int64(meta[r] >> np.uint32(1))
                if a < m and tok[a] == t_new:
                    tok2[n], wt2[n], rec2[n] = t_new, wt[a] + share, max(rec[a], q)
                    a += 1
                else:
                    tok2[n], wt2[n], rec2[n] = t_new, 0.0 + share, q
                j += 1
            n += 1
        tok, tok2 = tok2, tok
        wt, wt2 = wt2, wt
        rec, rec2 = rec2, rec
        m = n
        top = rows
        top_ident = ident
    at_top = np.zeros(m, dtype=np.bool_)
    j = 0
    for i in range(m):
        while j < top.shape[0] and np.int64(top_ident[top[j]] & tmask) < tok[i]:
            j += 1
        at_top[i] = j < top.shape[0] and np.int64(top_ident[top[j]] & tmask) == tok[i]
    keep = np.flatnonzero(at_top) if deepest_only else np.arange(m)
    tok, wt, rec, at_top = tok[keep], wt[keep], rec[keep], at_top[keep]
    # tokens ascend already: two stable sorts give (weight desc, recency desc, token asc)
    order = np.argsort(-rec, kind="mergesort")
    order = order[np.argsort(-wt[order], kind="mergesort")]
    return tok[order], wt[order], rec[order], at_top[order]


@numba.njit(cache=True, nogil=True)
def rank(store: tuple, keys: npt.NDArray[np.uint64], first: int, deepest: int, per_context: int,
         discount: npt.NDArray[np.float64], continuation: bool, deepest_only: bool
         ) -> npt.NDArray[np.int64]:
    """`weigh`'s candidates, best first, as one array (one to hand back to Python, not four):
    each the token id with the flags `SAME` and `TOP`."""
    tok, wt, _, at_top = weigh(store, keys, first, deepest, per_context,
                               discount, continuation, deepest_only)
    out = np.empty(tok.shape[0], dtype=np.int64)
    for i in range(tok.shape[0]):
        out[i] = tok[i] | (SAME if i and wt[i] == wt[i - 1] else 0) | (TOP if at_top[i] else 0)
    return out


def warm() -> None:
    """Load (or compile) every kernel now rather than on the first batch learned."""
    keys = np.zeros((1, 2), dtype=np.uint64)
    one = np.zeros(1, dtype=np.int64)
    stream_keys(one, np.zeros(2, dtype=np.int64), one, np.zeros(1, dtype=np.int32), 1, one + 1,
                0, 24)
    v = pack_records(keys)
    firsts(*runs_and_tokens(v, one, 2), 2, 0)
    over_cap(np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.uint32), 1)
    count_histogram(np.zeros(1, dtype=np.uint16))
    distinct_contexts(np.zeros(1, dtype=np.uint64))
    ident, meta = np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.uint32)
    ones = np.ones(1, dtype=np.uint16)
    store = (ident, meta, ones, ones, ident[:0], meta[:0], ones[:0], ones[:0])
    gather(store, np.uint64(0))
    find(store, np.uint64(0))
    deepest(store, keys[0], 1, 1)
    learned_at(store, keys[0], 1, 0)
    latest(store, keys[0], 1, 0)
    verified(store, one, one, 0, one + 1, 24)
    path_keys(one, 0, one + 1, 24)
    verified_among(store, keys[0], 1, one, 0, one + 1, 24)
    rank(store, keys[0], 0, 1, 1, np.zeros(4), False, True)
