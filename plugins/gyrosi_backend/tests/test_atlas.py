"""The built atlas against §1's figures, and the lookup API the engine uses."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gyrosi_engine import physics
from gyrosi_engine.atlas import Atlas, verify
from gyrosi_engine.physics import ARCHETYPE, T


def test_ontology_size_and_range(atlas: Atlas) -> None:
    assert atlas.n_states == 788_986
    assert int(atlas.ontology[0]) == 0x000000000000
    assert int(atlas.ontology[-1]) == 0xFDFDFDFDFDFD
    ont = np.asarray(atlas.ontology)
    assert np.all(ont[1:] > ont[:-1])


def test_every_state_within_six_steps(atlas: Atlas) -> None:
    counts = atlas.manifest["counts"]
    assert counts["bfs_depth"] == 6
    assert sum(counts["bfs_layers"]) == 788_986


def test_orbits(atlas: Atlas) -> None:
    reps = atlas.representatives
    assert reps.size == 256
    sizes = np.asarray(atlas.orbit_sizes)[reps]
    assert sizes.sum() == 788_986
    assert sizes.max() == 48_496
    arch = atlas.archetype_index
    assert atlas.orbit_size(arch) == 1 and atlas.orbit_of(arch) == arch


def test_theta_range(atlas: Atlas) -> None:
    theta = np.asarray(atlas.theta)
    assert theta.min() == 0
    assert theta.max() == pytest.approx(2.7305, abs=1e-4)
    assert atlas.theta_of(atlas.index_of(0)) == pytest.approx(math.pi / 2)


def test_vectors_through_the_tables(atlas: Atlas) -> None:
    a = atlas.archetype_index
    for i, expected in [(0x00, 0xA9556AA9556A), (0xAA, 0x015540015540), (0x42, 0x14A89514A895),
                        (0xFF, 0), (0x48, 0xA11295A11295)]:
        assert atlas.state_of(atlas.next_index(a, i)) == expected


def test_lookups_agree_with_physics(atlas: Atlas) -> None:
    rng = np.random.default_rng(3)
    for index in rng.integers(0, atlas.n_states, size=50):
        state = atlas.state_of(int(index))
        assert atlas.index_of(state) == index
        for i in rng.integers(0, 256, size=8):
            assert atlas.state_of(atlas.next_index(int(index), int(i))) == T(state, int(i))
    text = physics.introns_of(b"Hello, gyroscope")
    assert atlas.state_of(atlas.walk(atlas.archetype_index, text)) == physics.run(
        ARCHETYPE, text.tolist()
    )
    indices = atlas.indices_of([ARCHETYPE, 0x000001000000, 0])
    assert indices.tolist() == [atlas.archetype_index, -1, 0]


def test_unknown_states_are_refused(atlas: Atlas) -> None:
    with pytest.raises(KeyError, match="not in the ontology"):
        atlas.index_of(0x000001000000)  # halves differ
    with pytest.raises(KeyError, match="not in the ontology"):
        atlas.index_of(0xFFFFFFFFFFFF)  # mirrored but unreachable
    with pytest.raises(KeyError, match="48-bit"):
        atlas.index_of(1 << 48)


def test_neighbour_orbits(atlas: Atlas) -> None:
    seen = 0
    for rep in atlas.representatives:
        neighbours = atlas.neighbour_orbits(int(rep))
        assert int(rep) not in neighbours
        assert all(atlas.orbit_of(n) == n for n in neighbours)
        seen += len(neighbours)
        # Each neighbour orbit holds a state one mirrored bit flip from the representative.
        state = atlas.state_of(int(rep))
        flips = {state ^ ((1 << b) | (1 << (b + 24))) for b in range(24)}
        orbits = {atlas.orbit_of(atlas.index_of(s)) for s in flips if atlas.indices_of([s])[0] >= 0}
        assert set(neighbours) == orbits - {int(rep)}
    assert seen > 0


def test_verify_passes(built_home: Path) -> None:
    from gyrosi_engine.atlas import AtlasPaths

    passed = verify(AtlasPaths(built_home))
    assert "sha256 of every map" in passed
    assert any("epistemology rows equal T" in p for p in passed)


def test_info_and_verify_commands(built_home: Path, cli) -> None:
    info = cli.run(built_home, "atlas", "info", "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["states"] == 788_986 and data["orbits"] == 256 and data["largest_orbit"] == 48_496
    assert data["diameter_from_archetype"] == 6
    assert data["path"] == str(built_home / "atlas")
    assert data["bytes"]["epistemology"] > 788_986 * 256 * 4
    assert set(data["phase_seconds"]) == {"ontology", "epistemology", "orbits", "theta", "writing"}
    check = cli.run(built_home, "atlas", "verify")
    assert check.returncode == 0, check.stderr
    assert "is valid" in check.stdout
    again = cli.run(built_home, "atlas", "build")
    assert again.returncode == 0 and "already built" in again.stdout
