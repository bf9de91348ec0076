"""GYROSI_ENGINE.md §1: every vector, and the vectorised forms against the scalar ones."""

import math

import numpy as np
import pytest

from gyrosi_engine import physics
from gyrosi_engine.physics import ARCHETYPE, FULL, T, fold, intron


@pytest.mark.parametrize(
    ("i", "expected"),
    [(0x00, 0xA9556AA9556A), (0xAA, 0x015540015540), (0x42, 0x14A89514A895), (0xFF, 0x0)],
)
def test_gyration_vectors(i: int, expected: int) -> None:
    assert T(ARCHETYPE, i) == expected


def test_h_vector() -> None:
    # The spec's table gives 0xA11295A11295 for "T(ARCHETYPE, intron(ord('H')))". That value is
    # T(ARCHETYPE, 0x48): the byte 'H' taken as the intron. With the spec's own boundary rule,
    # intron(ord('H')) == 0xE2, which gives 0x140508140508. Both readings are pinned here.
    assert T(ARCHETYPE, ord("H")) == 0xA11295A11295
    assert intron(ord("H")) == 0xE2
    assert T(ARCHETYPE, intron(ord("H"))) == 0x140508140508


def test_fold_vectors() -> None:
    assert fold(0xAA, 0x55) == 0x55
    assert fold(0x0F, 0x3C) == 0x30


def test_fold_properties() -> None:
    values = range(256)
    assert all(fold(a, a) == 0 for a in values)
    assert all(fold(0, b) == b for b in values)
    assert any(fold(a, b) != fold(b, a) for a in values for b in values)  # not commutative
    assert all(0 <= fold(a, b) <= 0xFF for a in values for b in values)


def test_boundary_is_an_involution() -> None:
    assert all(physics.byte(intron(b)) == b for b in range(256))


def test_theta() -> None:
    assert physics.theta(ARCHETYPE) == 0
    assert physics.theta(0) == pytest.approx(math.pi / 2)
    assert physics.theta(ARCHETYPE ^ FULL) == pytest.approx(math.pi)


def test_tensor_view() -> None:
    cells = physics.tensor(ARCHETYPE)
    assert cells.shape == (4, 2, 3, 2)
    # Cell 0 is the MSB: 0xA... = 1010 -> -1, +1, -1, +1.
    assert cells.reshape(-1)[:4].tolist() == [-1, 1, -1, 1]
    assert physics.from_tensor(cells) == ARCHETYPE
    assert physics.from_tensor(physics.tensor(0xFDFDFDFDFDFD)) == 0xFDFDFDFDFDFD
    with pytest.raises(ValueError):
        physics.from_tensor(np.zeros(48))


def test_slabs_partition_the_state() -> None:
    assert len(physics.SLAB_MASKS) == 8
    assert sum(physics.SLAB_MASKS) == FULL
    assert all(m.bit_count() == 6 for m in physics.SLAB_MASKS)
    assert physics.SLAB_MASKS[0] == 0xFC0000000000  # layer 0, frame 0: the six top bits


def test_every_mask_is_mirrored() -> None:
    # The reason the atlas can index states by their 24-bit half.
    for i in range(256):
        for m in (physics.xform(i), physics.broadcast(i)):
            assert m >> 24 == m & physics.HALF_MASK
    assert physics.half(ARCHETYPE) == 0xA9556A
    with pytest.raises(ValueError, match="not in the ontology"):
        physics.half(0x000001000000)


def test_vectorised_forms_match_scalar() -> None:
    rng = np.random.default_rng(7)
    states = rng.integers(0, 1 << 48, size=200, dtype=np.uint64)
    introns = rng.integers(0, 256, size=200)
    got = physics.T_array(states, introns)
    pairs = zip(states, introns, strict=True)
    assert [int(g) for g in got] == [T(int(s), int(i)) for s, i in pairs]
    halves = states & np.uint64(physics.HALF_MASK)
    mirrored = halves * np.uint64((1 << 24) + 1)
    succ = physics.T_half_array(halves.astype(np.uint32))
    assert succ.shape == (200, 256)
    assert all(
        int(succ[k, i]) == T(int(mirrored[k]), i) & physics.HALF_MASK
        for k in range(0, 200, 37) for i in range(256)
    )
    thetas = physics.theta_array(states)
    assert np.allclose(thetas, [physics.theta(int(s)) for s in states], atol=1e-6)
    a = rng.integers(0, 256, size=500, dtype=np.uint8)
    b = rng.integers(0, 256, size=500, dtype=np.uint8)
    expected = [fold(int(x), int(y)) for x, y in zip(a, b, strict=True)]
    assert physics.fold_array(a, b).tolist() == expected
    assert physics.introns_of(b"H\xaa").tolist() == [0xE2, 0x00]


def test_run_follows_t() -> None:
    seq = [intron(b) for b in b"Hello"]
    state = ARCHETYPE
    for i in seq:
        state = T(state, i)
    assert physics.run(ARCHETYPE, seq) == state
