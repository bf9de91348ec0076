"""Per-token physics of the o200k_harmony vocabulary, precomputed once as numpy tables.

A token is a byte string, so everything the physics does with it is a composition of per-byte
maps, and both maps the engine needs have the same shape, `v -> (v & keep) ^ flip`:

- gyration on a 24-bit half: `T(h, i) = (h ^ x_i) & k_i = (h & k_i) ^ (x_i & k_i)`;
- the Monodromic Fold of an intron into an 8-bit mask: `fold(m, i) = i & ~m = (m & i) ^ i`.

Maps of that shape compose into one of the same shape, `(k1, f1) then (k2, f2) =
(k1 & k2, (f1 & k2) ^ f2)`, so each token gets one (keep, flip) pair per map. Learning then applies
a whole token with two array operations instead of a Python loop over its bytes.
"""

import functools

import numpy as np
import numpy.typing as npt
import tiktoken

from . import physics
from .atlas.layout import replacing


def compose(
    k1: npt.NDArray[np.uint32], f1: npt.NDArray[np.uint32], k2: npt.NDArray[np.uint32],
    f2: npt.NDArray[np.uint32],
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """`(k1, f1)` followed by `(k2, f2)`, elementwise."""
    return k1 & k2, (f1 & k2) ^ f2


class Vocab:
    """The vocabulary's bytes and per-token maps. Ids without bytes (specials, gaps) map to none."""

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self.encoding = encoding
        n = encoding.max_token_value + 1
        self.size = n
        has_bytes, lengths, blob = _token_bytes(encoding)
        self.has_bytes = has_bytes
        self.lengths = lengths
        self.offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.blob = blob
        self.gyration_keep, self.gyration_flip = self._compose_per_token(
            physics.KEEP_HALF, physics.XFORMS_HALF & physics.KEEP_HALF, identity=physics.HALF_MASK
        )
        byte_ids = np.arange(256, dtype=np.uint32)
        self.fold_keep, self.fold_flip = self._compose_per_token(byte_ids, byte_ids, identity=0xFF)
        # A passive-memory entry starts from GENE_Mic_S, so its mask alternates between these two
        # (see memory/passive.py); a token whose two masks are both 0 is deleted by the zero streak.
        start = np.uint32(physics.GENE_MIC_S) & self.fold_keep
        self.mask_odd = (start ^ self.fold_flip).astype(np.uint8)
        self.mask_even = (start ^ (self.fold_flip & ~self.fold_keep)).astype(np.uint8)
        self.zero_streak = (self.mask_odd == 0) & (self.mask_even == 0)

    def _compose_per_token(
        self, keep: npt.NDArray[np.uint32], flip: npt.NDArray[np.uint32], *, identity: int
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """Compose a per-intron map over each token's bytes, position by position."""
        introns = physics.introns_of(self.blob).astype(np.intp)
        k = np.full(self.size, identity, dtype=np.uint32)
        f = np.zeros(self.size, dtype=np.uint32)
        for pos in range(int(self.lengths.max())):
            rows = np.flatnonzero(self.lengths > pos)
            i = introns[self.offsets[rows] + pos]
            k[rows], f[rows] = compose(k[rows], f[rows], keep[i], flip[i])
        return k, f

    def token_bytes(self, tid: int) -> bytes:
        return self.blob[self.offsets[tid] : self.offsets[tid + 1]]

    def introns(self, tid: int) -> bytes:
        return bytes(b ^ physics.GENE_MIC_S for b in self.token_bytes(tid))


def _token_bytes(
    encoding: tiktoken.Encoding,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int32], bytes]:
    """Which ids have bytes, their lengths, and all the bytes joined. Reading 200,000 tokens one
    by one takes most of a second, so the result is cached per vocabulary (keyed by its hash)."""
    from gyrosi_core.encoding import VOCAB_SHA256
    from gyrosi_core.home import cache_dir

    n = encoding.max_token_value + 1
    path = cache_dir("vocab") / f"{encoding.name}-{VOCAB_SHA256[:16]}-{n}.npz"
    try:
        with np.load(path, allow_pickle=False) as saved:
            has_bytes, lengths, blob = saved["has_bytes"], saved["lengths"], saved["blob"]
        if has_bytes.shape == lengths.shape == (n,) and int(lengths.sum()) == blob.size:
            return has_bytes, lengths, blob.tobytes()
    except (OSError, ValueError, KeyError):
        pass  # no cache yet, or a damaged one: rebuild it
    special = {encoding.encode_single_token(name) for name in encoding.special_tokens_set}
    pieces: list[bytes] = []
    has_bytes = np.zeros(n, dtype=bool)
    for tid in range(n):
        piece = b""
        if tid < encoding.n_vocab and tid not in special:
            try:
                piece = encoding.decode_single_token_bytes(tid)
            except KeyError:
                piece = b""
            has_bytes[tid] = bool(piece)
        pieces.append(piece)
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int32, count=n)
    blob = b"".join(pieces)
    try:
        with replacing(path, durable=False) as f:
            np.savez(f, has_bytes=has_bytes, lengths=lengths,
                     blob=np.frombuffer(blob, dtype=np.uint8))
    except OSError:
        pass  # a read-only cache only costs the next start this second
    return has_bytes, lengths, blob


@functools.cache
def vocab() -> Vocab:
    """The o200k_harmony vocabulary (offline; see `gyrosi_core.encoding`)."""
    from gpt_oss.tokenizer import get_tokenizer

    from gyrosi_core.encoding import ensure_vocabulary

    ensure_vocabulary()
    return Vocab(get_tokenizer())
