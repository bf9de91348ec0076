"""The frozen physics of GyroSI (GYROSI_ENGINE.md §1): states, introns, one gyration step, the fold.

Scalar forms take and return Python ints; the `*_array` forms do the same on numpy arrays so the
atlas builder and the engine never loop over states in Python.

Every gyration mask (`FULL`, `FG_MASK`, `BG_MASK`, the broadcast intron) repeats its low 24 bits in
its high 24 bits, so every state reachable from the archetype is a 24-bit half written twice. The
atlas uses that to index states with a dense 2**24 table (see `half`).
"""

import math

import numpy as np
import numpy.typing as npt

STATE_BITS = 48
FULL = (1 << STATE_BITS) - 1
GENE_MIC_S = 0xAA  # the boundary constant
ARCHETYPE = 0xA9556AA9556A  # GENE_Mac_S packed: +1 -> 0, -1 -> 1, C order, first cell = MSB
FG_MASK = 0x000FFF000FFF
BG_MASK = 0xFFF000FFF000
LI_BITS, FG_BITS, BG_BITS = 0x42, 0x24, 0x18  # intron bit families
BROADCAST = 0x010101010101
HALF_BITS = 24
HALF_MASK = (1 << HALF_BITS) - 1

# Tensor view: [layer][frame][row][col], 4 x 2 x 3 x 2 = 48 cells; a slab is one (layer, frame).
TENSOR_SHAPE = (4, 2, 3, 2)
SLAB_CELLS = 6
N_SLABS = 8


def xform(intron: int) -> int:
    """The XOR pattern an intron applies: its LI, FG and BG families flip their masks."""
    return (
        (FULL if intron & LI_BITS else 0)
        ^ (FG_MASK if intron & FG_BITS else 0)
        ^ (BG_MASK if intron & BG_BITS else 0)
    )


def broadcast(intron: int) -> int:
    """The intron repeated in all six bytes of a state."""
    return intron * BROADCAST


def T(state: int, intron: int) -> int:  # noqa: N802 - the specification's name
    """One gyration step."""
    return (state ^ xform(intron)) & ~broadcast(intron) & FULL


def intron(byte: int) -> int:
    """Egress: an input byte becomes an intron at the boundary."""
    return byte ^ GENE_MIC_S


def byte(intron_value: int) -> int:
    """Ingress: an intron becomes an output byte at the boundary."""
    return intron_value ^ GENE_MIC_S


def fold(a: int, b: int) -> int:
    """The Monodromic Fold on 8-bit values: non-commutative, `fold(a, a) == 0`."""
    return a ^ (b ^ (a & ~b & 0xFF))


def run(state: int, introns: bytes | list[int]) -> int:
    """The state after a sequence of introns."""
    for i in introns:
        state = T(state, i)
    return state


def theta(state: int) -> float:
    """Angular distance to the archetype, in radians: 0 at the archetype, pi/2 at 0."""
    return math.acos(1 - 2 * (state ^ ARCHETYPE).bit_count() / STATE_BITS)


def half(state: int) -> int:
    """The 24-bit half of a mirrored state; `ValueError` if the halves differ (not reachable)."""
    lo = state & HALF_MASK
    if state >> HALF_BITS != lo:
        raise ValueError(f"state {state:#014x} is not in the ontology (its halves differ)")
    return lo


def tensor(state: int) -> npt.NDArray[np.int8]:
    """The state as a [layer][frame][row][col] tensor of +1 (clear bit) / -1 (set bit)."""
    bits = np.array([(state >> (STATE_BITS - 1 - p)) & 1 for p in range(STATE_BITS)], np.int8)
    return (1 - 2 * bits).reshape(TENSOR_SHAPE)


def from_tensor(cells: npt.ArrayLike) -> int:
    """Inverse of `tensor`: -1 cells become set bits, cell 0 is the MSB."""
    flat = np.asarray(cells).reshape(-1)
    if flat.size != STATE_BITS or not np.all(np.abs(flat) == 1):
        raise ValueError("a state tensor has 48 cells, each +1 or -1")
    state = 0
    for cell in flat:
        state = (state << 1) | int(cell < 0)
    return state


def slab_mask(layer: int, frame: int) -> int:
    """The 6 state bits of slab (layer, frame)."""
    first = layer * 12 + frame * SLAB_CELLS  # cell position, counted from the MSB
    return sum(1 << (STATE_BITS - 1 - p) for p in range(first, first + SLAB_CELLS))


SLAB_MASKS = tuple(slab_mask(layer, frame) for layer in range(4) for frame in range(2))

# --- vectorised forms ----------------------------------------------------------------------------

XFORMS = np.array([xform(i) for i in range(256)], dtype=np.uint64)
BROADCASTS = np.array([broadcast(i) for i in range(256)], dtype=np.uint64)
# The same masks on 24-bit halves: what the atlas builder works on.
XFORMS_HALF = (XFORMS & np.uint64(HALF_MASK)).astype(np.uint32)
KEEP_HALF = (~BROADCASTS & np.uint64(HALF_MASK)).astype(np.uint32)


def T_array(states: npt.ArrayLike, introns: npt.ArrayLike) -> npt.NDArray[np.uint64]:  # noqa: N802
    """`T` elementwise with numpy broadcasting of states (uint64) against introns (0..255)."""
    s = np.asarray(states, dtype=np.uint64)
    i = np.asarray(introns, dtype=np.intp)
    return (s ^ XFORMS[i]) & ~BROADCASTS[i] & np.uint64(FULL)


def T_half_array(halves: npt.ArrayLike) -> npt.NDArray[np.uint32]:  # noqa: N802
    """All 256 successors of each 24-bit half: shape (n, 256)."""
    h = np.asarray(halves, dtype=np.uint32)[:, None]
    return (h ^ XFORMS_HALF) & KEEP_HALF


def theta_array(states: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """`theta` of each state, as float32 (the atlas's dtype)."""
    s = np.asarray(states, dtype=np.uint64) ^ np.uint64(ARCHETYPE)
    ones = np.bitwise_count(s).astype(np.float64)
    return np.arccos(1.0 - 2.0 * ones / STATE_BITS).astype(np.float32)


def introns_of(data: bytes) -> npt.NDArray[np.uint8]:
    """Egress for a byte string: every byte XOR 0xAA."""
    return np.frombuffer(data, dtype=np.uint8) ^ np.uint8(GENE_MIC_S)


def fold_array(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """`fold` elementwise on uint8 arrays."""
    x = np.asarray(a, dtype=np.uint8)
    y = np.asarray(b, dtype=np.uint8)
    return x ^ (y ^ (x & ~y))
