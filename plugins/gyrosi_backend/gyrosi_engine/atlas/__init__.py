"""The atlas: the engine's whole state space, built once from the physics and memory-mapped.

    atlas = ensure_atlas()          # loads, or builds on first use with progress
    i = atlas.index_of(ARCHETYPE)
    j = atlas.next_index(i, intron)
"""

from typing import Any

from .build import build, build_lock
from .errors import AtlasCorruptError, AtlasError, AtlasMissingError
from .layout import AtlasPaths
from .lookup import Atlas
from .progress import Reporter, RichReporter, Silent
from .store import read_manifest
from .verify import verify

__all__ = [
    "Atlas",
    "AtlasCorruptError",
    "AtlasError",
    "AtlasMissingError",
    "AtlasPaths",
    "RichReporter",
    "Silent",
    "build_atlas",
    "ensure_atlas",
    "read_manifest",
    "verify",
]


def build_atlas(
    paths: AtlasPaths | None = None, *, force: bool = False, report: Reporter | None = None
) -> tuple[dict[str, Any], bool]:
    """Build unless a loadable atlas exists (or `force`); returns (manifest, built_here).

    Concurrent callers serialise on the build lock; one that waited for another's build uses its
    result instead of building again, even with `force`.
    """
    paths = paths or AtlasPaths.default()
    report = report or Silent()
    with build_lock(paths, report) as waited:
        if not force or waited:
            try:
                return Atlas.load(paths).manifest, False
            except AtlasMissingError:
                pass
            except AtlasCorruptError:
                if not force and not waited:
                    raise
        return build(paths, report), True


def ensure_atlas(paths: AtlasPaths | None = None, report: Reporter | None = None) -> Atlas:
    """The atlas, built first if this home has none. A damaged atlas is an error, not rebuilt."""
    paths = paths or AtlasPaths.default()
    try:
        return Atlas.load(paths)
    except AtlasMissingError:
        if report is None:
            with RichReporter() as rich:
                rich.message("Building the GyroSI atlas (once per home, about a minute)…")
                build_atlas(paths, report=rich)
        else:
            build_atlas(paths, report=report)
        return Atlas.load(paths)

