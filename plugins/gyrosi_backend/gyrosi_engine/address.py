"""Address memory: token -> address state, from physics only (GYROSI_ENGINE.md §3).

A token's address is the medoid, by angular distance, of the states its introns reach from each
of the 256 orbit representatives; ties go to the smaller orbit, then the lower state. It depends
on nothing learned, so it is computed on first need and cached (`AddressBook`).
"""

from pathlib import Path

import numpy as np
import numpy.typing as npt

from . import physics
from .atlas import Atlas
from .atlas.layout import replacing
from .vocab import Vocab

# arccos(1 - 2h/48) for every Hamming distance h: angular distance between two states.
_ANGLE = np.arccos(1.0 - 2.0 * np.arange(physics.STATE_BITS + 1) / physics.STATE_BITS)


def addresses(
    atlas: Atlas, vocab: Vocab, tokens: npt.ArrayLike
) -> npt.NDArray[np.int32]:
    """The address (atlas index) of each token id."""
    reps = atlas.ontology[atlas.representatives].astype(np.uint32) & np.uint32(physics.HALF_MASK)
    out = np.empty(len(np.atleast_1d(tokens)), dtype=np.int32)
    for n, tid in enumerate(np.atleast_1d(tokens)):
        finals = (reps & vocab.gyration_keep[tid]) ^ vocab.gyration_flip[tid]
        uniq, counts = np.unique(finals, return_counts=True)
        ham = np.bitwise_count(uniq[:, None] ^ uniq[None, :]) * 2  # both halves differ alike
        cost = _ANGLE[ham] @ counts.astype(np.float64)
        idx = atlas._half_table[uniq]
        order = np.lexsort((uniq, atlas.orbit_sizes[idx], cost))
        out[n] = idx[order[0]]
    return out


class AddressBook:
    """Addresses computed on first need, kept in RAM and in `path` (a cache of pure physics: an
    unreadable file is recomputed, never trusted)."""

    def __init__(self, atlas: Atlas, vocab: Vocab, path: Path | None = None) -> None:
        self.atlas, self.vocab, self.path = atlas, vocab, path
        self.table = np.full(vocab.size, -1, dtype=np.int32)
        self.dirty = False
        if path is not None and path.exists():
            try:
                saved = np.load(path, allow_pickle=False)
                if saved.shape == self.table.shape and saved.dtype == np.int32:
                    ok = (saved >= -1) & (saved < atlas.n_states)
                    if ok.all():
                        self.table = saved.copy()
            except (OSError, ValueError):
                pass

    def of(self, token: int) -> int:
        address = int(self.table[token])
        if address < 0:
            address = self.table[token] = int(addresses(self.atlas, self.vocab, [token])[0])
            self.dirty = True
        return address

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        try:
            with replacing(self.path, durable=False) as f:
                np.save(f, self.table)
        except OSError:
            return  # a cache: a full disk or a read-only home only costs recomputing it
        self.dirty = False
