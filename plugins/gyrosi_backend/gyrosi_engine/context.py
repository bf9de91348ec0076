"""Token-boundary states along a token stream, and the path keys memory is addressed by.

The state after each token is the running composition of the tokens' gyration maps
(`vocab.Vocab.gyration_*`). It is computed for a whole stream at once by a doubling prefix scan
(Hillis-Steele) on 24-bit halves. Gyration forgets: a composed map's `keep` mask empties after a few
tokens, and from then on the state no longer depends on what came before; the scan stops as soon
as every window's `keep` is empty, usually after two or three rounds.

A context of depth d is the path of the last d boundary states (as atlas indices), hashed to 64
bits with the depth mixed in, so contexts of every depth share one key space.
"""

import numpy as np
import numpy.typing as npt

from .vocab import Vocab, compose

MAX_DEPTH = 5
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def boundary_halves(
    vocab: Vocab, tokens: npt.NDArray[np.int64], start_half: int
) -> npt.NDArray[np.uint32]:
    """The 24-bit half of the state after each token, starting from `start_half`."""
    keep = vocab.gyration_keep[tokens]
    flip = vocab.gyration_flip[tokens]
    n = len(tokens)
    step = 1
    while step < n and keep[step:].any():
        # keep[j] becomes the map for tokens j-2*step+1 .. j (inclusive scan, doubling).
        k_new, f_new = compose(keep[:-step], flip[:-step], keep[step:], flip[step:])
        keep[step:], flip[step:] = k_new, f_new
        step *= 2
    return (np.uint32(start_half) & keep) ^ flip


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: spreads every input bit over the key."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def path_keys(indices: npt.NDArray[np.int64], depth: int) -> list[npt.NDArray[np.uint64]]:
    """Keys of the contexts ending at each position, one array per depth 1..`depth`.

    `indices` holds the path's history followed by the states to key: `keys[d-1][j]` is the key
    of (indices[j + depth - d + 1], ..., indices[j + depth]), i.e. the last d states up to and
    including position j + depth. Callers pass `depth` states of history in front.
    """
    with np.errstate(over="ignore"):
        n = len(indices) - depth
        h = np.zeros(n, dtype=np.uint64)
        keys = []
        for d in range(1, depth + 1):
            state = indices[depth - d + 1 : depth - d + 1 + n].astype(np.uint64)
            h = _mix(h * _GOLDEN + state + np.uint64(d))
            keys.append(h.copy())
        return keys


def path_key_list(path: list[int]) -> list[int]:
    """Scalar `path_keys`: the keys of depth 1..len(path) for a path given oldest state first."""
    mask = (1 << 64) - 1
    h, keys = 0, []
    for d, state in enumerate(reversed(path), start=1):
        x = (h * int(_GOLDEN) + state + d) & mask
        x = ((x ^ (x >> 30)) * int(_M1)) & mask
        x = ((x ^ (x >> 27)) * int(_M2)) & mask
        h = x ^ (x >> 31)
        keys.append(h)
    return keys
