"""`gyrosi atlas verify`: full hashes, then the maps checked against the physics itself."""

from collections.abc import Callable

import numpy as np

from .. import physics
from .errors import REBUILD, AtlasCorruptError
from .layout import MAPS, AtlasPaths, sha256_file
from .lookup import Atlas
from .progress import Reporter, Silent
from .store import read_manifest, record_stamps

SAMPLE_ROWS = 4096


def verify(paths: AtlasPaths, report: Reporter | None = None) -> list[str]:
    """Run every check; raise `AtlasCorruptError` at the first failure, else list what passed."""
    report = report or Silent()
    manifest = read_manifest(paths)
    done: list[str] = ["manifest format and version"]
    files = [paths.map_file(name) for name in MAPS]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise AtlasCorruptError(f"The atlas map {missing[0]} is missing; {REBUILD}.")
    report.phase("hashing", sum(f.stat().st_size for f in files), "bytes")
    for name, path in zip(MAPS, files, strict=True):
        if sha256_file(path, on_bytes=report.advance) != manifest["maps"][name]["sha256"]:
            raise AtlasCorruptError(
                f"The atlas map {path} does not match its manifest hash; {REBUILD}."
            )
    done.append("sha256 of every map")
    record_stamps(paths)  # so the load below checks shapes and dtypes without hashing again
    atlas = Atlas.load(paths)
    done.append("shapes and dtypes")

    checks: list[tuple[str, Callable[[Atlas], str | None]]] = [
        ("ontology sorted, unique and mirrored", _ontology),
        ("ontology holds the archetype and the §1 extremes", _extremes),
        (f"{SAMPLE_ROWS} epistemology rows equal T computed directly", _epistemology),
        ("theta equals the angular distance", _theta),
        ("phenomenology points at the smallest index of each orbit", _phenomenology),
        ("orbit sizes agree with phenomenology", _orbit_sizes),
        ("counts agree with the manifest", _counts),
    ]
    report.phase("checks", len(checks), "checks")
    for label, check in checks:
        problem = check(atlas)
        if problem:
            raise AtlasCorruptError(f"Atlas check failed: {problem}; {REBUILD}.")
        done.append(label)
        report.advance(1)
    return done


def _ontology(atlas: Atlas) -> str | None:
    ont = np.asarray(atlas.ontology)
    if not np.all(ont[1:] > ont[:-1]):
        bad = int(np.argmin(ont[1:] > ont[:-1]))
        return f"ontology is not strictly increasing at index {bad + 1}"
    if not np.all((ont >> np.uint64(24)) == (ont & np.uint64(physics.HALF_MASK))):
        return "ontology holds a state whose halves differ"
    return None


def _extremes(atlas: Atlas) -> str | None:
    if int(atlas.ontology[0]) != 0 or int(atlas.ontology[-1]) != 0xFDFDFDFDFDFD:
        return "ontology does not run from 0x000000000000 to 0xFDFDFDFDFDFD"
    try:
        atlas.index_of(physics.ARCHETYPE)
    except KeyError:
        return "the archetype is not in the ontology"
    return None


def _sample(atlas: Atlas) -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = rng.choice(atlas.n_states, size=min(SAMPLE_ROWS, atlas.n_states), replace=False)
    return np.sort(np.concatenate([rows, [0, atlas.n_states - 1, atlas.archetype_index]]))


def _epistemology(atlas: Atlas) -> str | None:
    rows = _sample(atlas)
    states = np.asarray(atlas.ontology)[rows]
    direct = physics.T_array(states[:, None], np.arange(256)[None, :])
    expected = np.searchsorted(np.asarray(atlas.ontology), direct)
    actual = np.asarray(atlas.epistemology[rows])
    wrong = np.argwhere(actual != expected)
    if wrong.size:
        r, i = wrong[0]
        return f"epistemology[{rows[r]}, {i}] is {actual[r, i]}, T gives index {expected[r, i]}"
    return None


def _theta(atlas: Atlas) -> str | None:
    rows = _sample(atlas)
    expected = physics.theta_array(np.asarray(atlas.ontology)[rows])
    if not np.array_equal(np.asarray(atlas.theta)[rows], expected):
        return "theta differs from arccos(1 - 2 * popcount(s ^ ARCHETYPE) / 48)"
    return None


def _phenomenology(atlas: Atlas) -> str | None:
    reps = np.asarray(atlas.phenomenology)
    if reps.min() < 0 or np.any(reps > np.arange(reps.size)) or np.any(reps[reps] != reps):
        return "phenomenology is not a smallest-index representative map"
    return None


def _orbit_sizes(atlas: Atlas) -> str | None:
    reps = np.asarray(atlas.phenomenology)
    counts = np.bincount(reps, minlength=reps.size)
    if not np.array_equal(counts[reps], np.asarray(atlas.orbit_sizes)):
        return "orbit_sizes disagrees with the number of states per representative"
    return None


def _counts(atlas: Atlas) -> str | None:
    counts = atlas.manifest["counts"]
    reps = atlas.representatives
    largest = int(np.asarray(atlas.orbit_sizes)[reps].max())
    if counts["orbits"] != reps.size or counts["largest_orbit"] != largest:
        return (f"the maps have {reps.size} orbits (largest {largest}), the manifest says "
                f"{counts['orbits']} (largest {counts['largest_orbit']})")
    return None
