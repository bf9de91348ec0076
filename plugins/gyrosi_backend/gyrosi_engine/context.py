"""Contexts: what passive memory is keyed by, the last few tokens and the state's orbit.

A context of depth d (1..depth) is the last d tokens before a position (token identities; the
positions before a message's start read as `START`, so a message's opening is a context of its
own); depth 0 is the orbit of the current boundary state, the physics' coarsest context. Each
context is hashed to a 40-bit key with its depth mixed in, so all depths share one key space (see
the README for why 40 bits).

Why tokens and not the path of boundary states the engine keyed by before (memory format 2): the
boundary state is a function of the last few tokens that forgets most of them (English text visits
a few thousand states), so a path of d states separates fewer histories than d tokens do.
`bench/contexts.py` measured it on held-out pydoc topics with the same counts and rule: state
paths 0.207, token n-grams 0.280 (KN 5-gram: 0.277).

The states along a token stream (for the orbit context and the physics of the choice) come from a
doubling prefix scan (Hillis-Steele) of the tokens' composed gyration maps
(`vocab.Vocab.gyration_*`) on 24-bit halves. Gyration forgets: a composed map's `keep` mask
empties after a few tokens, after which nothing earlier matters, so the scan stops as soon as
every window's `keep` is empty (two or three rounds on text).

A message starts from a fresh path: every token before it is `START` and its state the archetype.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from . import kernels, physics
from .vocab import Vocab, compose

KEY_BITS = 40
KEY_SHIFT = 64 - KEY_BITS  # a 64-bit hash keeps its top KEY_BITS bits
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_ORBIT_SALT = 0x4F52424954  # "ORBIT": keeps depth-0 keys apart from token contexts
START = (1 << 18) - 1  # what a position before a message's start reads as (no token has this id)
_U64 = (1 << 64) - 1


def _mix_int(x: int) -> int:
    x = ((x ^ (x >> 30)) * _M1) & _U64
    x = ((x ^ (x >> 27)) * _M2) & _U64
    return x ^ (x >> 31)


def scan_maps(
    vocab: Vocab, tokens: npt.NDArray[np.int64], fresh: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """The composed gyration map (keep, flip) from the stream's start to after each token: the
    half after token j from start h is `(h & keep[j]) ^ flip[j]`. `fresh[j]`: token j starts a
    message."""
    keep = vocab.gyration_keep[tokens]
    flip = vocab.gyration_flip[tokens]
    # A message start is the archetype followed by the token: a map that forgets everything.
    arch = np.uint32(physics.ARCHETYPE & physics.HALF_MASK)
    flip[fresh] = (arch & keep[fresh]) ^ flip[fresh]
    keep[fresh] = 0
    n, step = len(tokens), 1
    while step < n and keep[step:].any():
        k_new, f_new = compose(keep[:-step], flip[:-step], keep[step:], flip[step:])
        keep[step:], flip[step:] = k_new, f_new
        step *= 2
    return keep, flip


def scan_halves(
    vocab: Vocab, tokens: npt.NDArray[np.int64], start_half: int, fresh: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint32]:
    """The 24-bit half of the state after each token. `fresh[j]`: token j starts a message."""
    keep, flip = scan_maps(vocab, tokens, fresh)
    return (np.uint32(start_half) & keep) ^ flip


def stream_keys(
    before: npt.NDArray[np.int64],
    ext: npt.NDArray[np.int64],
    msg_start: npt.NDArray[np.int64],
    orbit_of: npt.NDArray[np.int32],
    depth: int,
) -> npt.NDArray[np.uint64]:
    """Keys (n, len(levels(depth)) + 1) of the context before each token: column 0 the orbit of
    the state before it, column k its last `levels(depth)[k - 1]` tokens.

    `before[j]` is the state before token j; `ext` the `depth` tokens carried from before the
    stream (oldest first, `START` where the message had not begun) followed by the stream's
    tokens; `msg_start[j]` the position the message holding token j starts at (negative when it
    started before this stream).
    """
    return kernels.stream_keys(before, ext, msg_start, orbit_of, depth,
                               np.asarray(levels(depth), dtype=np.int64), START, KEY_SHIFT)


#: The context lengths that are keyed (the *levels*): every length up to 6, then sparser, each
#: about 1.4 times the last, up to the memory's depth. Long contexts pay on repetitive text (a
#: licence quoted in many packages' copyright files), but a level costs up to one entry per
#: learned token; the lengths between these add little the next longer one does not.
LADDER = (1, 2, 3, 4, 5, 6, 8, 11, 16)


def levels(depth: int) -> tuple[int, ...]:
    """The keyed context lengths of a memory of `depth` (`LADDER`, ending at `depth`)."""
    return (*(n for n in LADDER if n < depth), depth)


def path_keys(tokens: Sequence[int], orbit: int, lengths: Sequence[int] | None = None
              ) -> list[int]:
    """Scalar `stream_keys` for one position: [orbit key, key of the last `lengths[0]` tokens,
    ...] (`lengths` None: every length up to len(tokens)), `tokens` the context's last tokens,
    oldest first."""
    keys = [_mix_int((orbit + _ORBIT_SALT) & _U64)]
    h = 0
    for d, token in enumerate(reversed(tokens), start=1):
        h = _mix_int((h * _GOLDEN + token + d) & _U64)
        keys.append(h)
    if lengths is not None:
        keys = [keys[0], *(keys[n] for n in lengths if n < len(keys))]
    return [k >> KEY_SHIFT for k in keys]
