"""The learning hot loops, compiled with numba: context keys and the grouping of a batch.

In numpy each is a chain of a dozen whole-array passes; fused into one loop they run about four
times faster. numba caches the compiled code beside this module (or in the user's cache folder
when that is read-only), so only the first use after installing pays about two seconds.
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
    orbit_of: npt.NDArray[np.int32], depth: int, start: int, key_shift: int,
) -> npt.NDArray[np.uint64]:
    """Keys (n, depth + 1): column 0 the orbit of the state before each token, column d its last
    d tokens (`ext` = the `depth` carried tokens followed by the stream's; positions before the
    message's start read as `start`)."""
    n = before.shape[0]
    keys = np.empty((n, depth + 1), dtype=np.uint64)
    shift = np.uint64(key_shift)
    for j in range(n):
        keys[j, 0] = mix(np.uint64(orbit_of[before[j]]) + ORBIT_SALT) >> shift
        h = np.uint64(0)
        for d in range(1, depth + 1):
            token = ext[j + depth - d] if j - d >= msg_start[j] else start
            h = mix(h * GOLDEN + np.uint64(token) + np.uint64(d))
            keys[j, d] = h >> shift
    return keys


@numba.njit(cache=True, nogil=True)
def runs_and_tokens(
    v: npt.NDArray[np.uint64], tokens: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.uint64]:
    """From records sorted by (context, newest first): `run << 41 | token << 23 | position`."""
    total = v.shape[0]
    rmask = np.uint64((1 << RECORD_BITS) - 1)
    w = np.empty(total, dtype=np.uint64)
    run = np.uint64(0)
    prev = np.uint64(0)
    for i in range(total):
        ctx = v[i] >> np.uint64(RECORD_BITS)
        if i > 0 and ctx != prev:
            run += np.uint64(1)
        prev = ctx
        rec = np.int64(rmask - (v[i] & rmask))
        tok = np.uint64(tokens[rec // width])
        w[i] = (run << np.uint64(TOKEN_BITS + RECORD_BITS)) | (tok << np.uint64(RECORD_BITS)) \
            | np.uint64(i)
    return w


@numba.njit(cache=True, nogil=True)
def firsts(
    w: npt.NDArray[np.uint64], v: npt.NDArray[np.uint64], width: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int64],
           npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One entry per (context, token) group of sorted `w`: ident, newest position, occurrences,
    the context's depth (a key is one depth's: the depth is mixed into it), and the oldest
    position (a group's records come newest first)."""
    total = w.shape[0]
    rmask = np.uint64((1 << RECORD_BITS) - 1)
    ident = np.empty(total, dtype=np.uint64)
    pos = np.empty(total, dtype=np.int64)
    count = np.empty(total, dtype=np.int64)
    depth = np.empty(total, dtype=np.int64)
    oldest = np.empty(total, dtype=np.int64)
    out = -1
    prev = np.uint64(0)
    for i in range(total):
        pair = w[i] >> np.uint64(RECORD_BITS)
        if i == 0 or pair != prev:
            out += 1
            at = np.int64(w[i] & rmask)
            rec = np.int64(rmask - (v[at] & rmask))
            tok = (w[i] >> np.uint64(RECORD_BITS)) & np.uint64((1 << TOKEN_BITS) - 1)
            ident[out] = ((v[at] >> np.uint64(RECORD_BITS)) << np.uint64(TOKEN_BITS)) | tok
            pos[out] = rec // width
            depth[out] = rec % width
            count[out] = 1
        else:
            count[out] += 1
        oldest[out] = np.int64(rmask - (v[np.int64(w[i] & rmask)] & rmask)) // width
        prev = pair
    return (ident[: out + 1], pos[: out + 1], count[: out + 1], depth[: out + 1],
            oldest[: out + 1])


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
            seqs = meta[start:i] >> np.uint32(1)
            cut = np.sort(seqs)[i - start - per_context]  # the oldest seq that stays
            for k in range(start, i):
                drop[k] = (meta[k] >> np.uint32(1)) < cut
        start = i
    return drop


@numba.njit(cache=True, nogil=True)
def pack_records(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """`key << 23 | (2**23 - 1 - r)` for record r = position * width + depth: sorted, a context's
    records come newest first."""
    n, width = keys.shape
    top = np.uint64((1 << RECORD_BITS) - 1)
    v = np.empty(n * width, dtype=np.uint64)
    for r in range(n * width):
        v[r] = (keys[r // width, r % width] << np.uint64(RECORD_BITS)) | (top - np.uint64(r))
    return v


def warm() -> None:
    """Load (or compile) every kernel now rather than on the first batch learned."""
    keys = np.zeros((1, 2), dtype=np.uint64)
    one = np.zeros(1, dtype=np.int64)
    stream_keys(one, np.zeros(2, dtype=np.int64), one, np.zeros(1, dtype=np.int32), 1, 0, 24)
    v = pack_records(keys)
    firsts(runs_and_tokens(v, one, 2), v, 2)
    over_cap(np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.uint32), 1)
