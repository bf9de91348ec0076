"""The loaded atlas and the lookups the engine makes on it."""

import functools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import physics
from .layout import AtlasPaths
from .store import open_maps, read_manifest


class Atlas:
    """Five memory-mapped maps: index <-> state, successors, theta, orbit representative and size.

    State -> index is O(1): every ontology state is a 24-bit half written twice, and a dense
    2**24 table (64 MB, built on first use) maps the half to its index.
    """

    def __init__(self, paths: AtlasPaths, manifest: dict[str, Any], maps: dict[str, Any]) -> None:
        self.paths = paths
        self.manifest = manifest
        self.ontology: npt.NDArray[np.uint64] = maps["ontology"]
        self.epistemology: npt.NDArray[np.int32] = maps["epistemology"]
        self.theta: npt.NDArray[np.float32] = maps["theta"]
        self.phenomenology: npt.NDArray[np.int32] = maps["phenomenology"]
        self.orbit_sizes: npt.NDArray[np.int32] = maps["orbit_sizes"]

    @classmethod
    def load(cls, paths: AtlasPaths | None = None) -> "Atlas":
        paths = paths or AtlasPaths.default()
        manifest = read_manifest(paths)
        return cls(paths, manifest, open_maps(paths, manifest))

    @property
    def root(self) -> Path:
        return self.paths.root

    @property
    def n_states(self) -> int:
        return int(self.ontology.shape[0])

    @functools.cached_property
    def _half_table(self) -> npt.NDArray[np.int32]:
        table = np.full(1 << physics.HALF_BITS, -1, dtype=np.int32)
        table[(self.ontology & np.uint64(physics.HALF_MASK)).astype(np.intp)] = np.arange(
            self.n_states, dtype=np.int32
        )
        return table

    def index_of(self, state: int) -> int:
        """The index of a state; `KeyError` if it is not in the ontology."""
        if not 0 <= state <= physics.FULL:
            raise KeyError(f"{state!r} is not a 48-bit state")
        lo = state & physics.HALF_MASK
        index = int(self._half_table[lo]) if state >> physics.HALF_BITS == lo else -1
        if index < 0:
            raise KeyError(f"state {state:#014x} is not in the ontology")
        return index

    def indices_of(self, states: npt.ArrayLike) -> npt.NDArray[np.int32]:
        """Vectorised `index_of`: -1 for states outside the ontology."""
        s = np.asarray(states, dtype=np.uint64)
        lo = s & np.uint64(physics.HALF_MASK)
        found = self._half_table[lo.astype(np.intp)]
        return np.where((s >> np.uint64(physics.HALF_BITS)) == lo, found, np.int32(-1))

    def state_of(self, index: int) -> int:
        return int(self.ontology[index])

    @functools.cached_property
    def successors(self) -> memoryview:
        """The epistemology as a flat memoryview of ints: `successors[index * 256 + intron]`.

        Scalar indexing of a memoryview returns a Python int about ten times faster than numpy
        scalar indexing, which is what per-byte loops need.
        """
        return memoryview(np.ascontiguousarray(self.epistemology).reshape(-1))

    def next_index(self, index: int, intron: int) -> int:
        return self.successors[(index << 8) | intron]  # type: ignore[no-any-return]

    def walk(self, index: int, introns: bytes | npt.ArrayLike) -> int:
        """The index after a sequence of introns, by table lookups."""
        table = self.successors
        for i in introns if isinstance(introns, bytes) else bytes(np.asarray(introns, np.uint8)):
            index = table[(index << 8) | i]
        return index

    def theta_of(self, index: int) -> float:
        return float(self.theta[index])

    def orbit_of(self, index: int) -> int:
        """The index of the orbit's representative (the smallest index in its SCC)."""
        return int(self.phenomenology[index])

    def orbit_size(self, index: int) -> int:
        return int(self.orbit_sizes[index])

    @functools.cached_property
    def representatives(self) -> npt.NDArray[np.int32]:
        """The orbit representatives (256 of them), in index order."""
        return np.unique(np.asarray(self.phenomenology))

    @functools.cached_property
    def archetype_index(self) -> int:
        return self.index_of(physics.ARCHETYPE)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one atlas per process; bounded
    def neighbour_orbits(self, index: int) -> tuple[int, ...]:
        """Orbits one mirrored bit flip away (Hamming distance 2 in 48 bits) from a state.

        Flipping a bit in only one half leaves the ontology, so the Hamming-2 neighbours that are
        states flip the same bit in both halves. Returns their orbit representatives, excluding
        the state's own orbit, sorted.
        """
        state = self.state_of(index)
        flips = np.array([(1 << b) | (1 << (b + physics.HALF_BITS)) for b in range(24)],
                         dtype=np.uint64)
        found = self.indices_of(np.uint64(state) ^ flips)
        orbits = {int(self.phenomenology[i]) for i in found if i >= 0}
        orbits.discard(self.orbit_of(index))
        return tuple(sorted(orbits))
