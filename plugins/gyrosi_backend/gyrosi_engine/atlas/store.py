"""Loading the atlas: manifest and file checks, then memory maps.

A load checks the manifest's format version, every map's presence, size, dtype and shape, and
its sha256 unless the file's (size, mtime, inode) stamp is the one recorded when its hash last
matched; so the first load after a copy or an edit re-hashes, and later loads stay fast. Those
loads still hash a few blocks of each map (its first, its last and two at random) against the
block hashes recorded with the stamp, which catches a map damaged in place with its stamp kept.
"""

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from .errors import REBUILD, AtlasCorruptError, AtlasMissingError
from .layout import (
    BLOCK,
    FORMAT,
    FORMAT_VERSION,
    MAPS,
    SPOT_BLOCKS,
    STAT_CACHE,
    AtlasPaths,
    expected_shape,
    file_stamp,
    hash_blocks,
    write_json_atomic,
)


def read_manifest(paths: AtlasPaths) -> dict[str, Any]:
    if not paths.root.is_dir():
        raise AtlasMissingError(
            f"No atlas in {paths.home}; run `gyrosi atlas build` (about a minute)."
        )
    try:
        data = json.loads(paths.manifest.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AtlasCorruptError(
            f"The atlas manifest {paths.manifest} is missing; {REBUILD}."
        ) from exc
    except (OSError, ValueError) as exc:
        raise AtlasCorruptError(f"The atlas manifest {paths.manifest} is unreadable ({exc}); "
                                f"{REBUILD}.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise AtlasCorruptError(f"{paths.manifest} is not a GyroSI atlas manifest; {REBUILD}.")
    if data.get("format_version") != FORMAT_VERSION:
        raise AtlasCorruptError(
            f"{paths.manifest} is atlas format version {data.get('format_version')}, this engine "
            f"reads version {FORMAT_VERSION}; {REBUILD}."
        )
    try:
        n = int(data["counts"]["states"])
        for name in MAPS:
            entry = data["maps"][name]
            if tuple(entry["shape"]) != expected_shape(name, n) or entry["dtype"] != MAPS[name][0]:
                raise ValueError(name)
            int(entry["bytes"]), str(entry["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AtlasCorruptError(f"{paths.manifest} is incomplete or inconsistent; {REBUILD}.") \
            from exc
    return data


def check_file(path: Path, entry: dict[str, Any], trusted: Any) -> list[str] | None:
    """Raise if the file is missing, resized or edited; its block hashes if it had to be
    re-hashed (None: its stamp was trusted and its spot-checked blocks matched)."""
    if not path.is_file():
        raise AtlasCorruptError(f"The atlas map {path} is missing; {REBUILD}.")
    stamp = file_stamp(path)
    if stamp[0] != entry["bytes"]:
        raise AtlasCorruptError(
            f"The atlas map {path} is {stamp[0]:,} bytes, the manifest says {entry['bytes']:,} "
            f"(truncated or replaced); {REBUILD}."
        )
    if isinstance(trusted, dict) and trusted.get("stamp") == stamp and trusted.get("blocks"):
        spot_check(path, trusted["blocks"])
        return None
    full, blocks = hash_blocks(path)
    if full != entry["sha256"]:
        raise AtlasCorruptError(
            f"The atlas map {path} does not match its manifest hash (edited or damaged); {REBUILD}."
        )
    return blocks


def spot_check(path: Path, blocks: list[str]) -> None:
    import hashlib

    picks = {0, len(blocks) - 1, *random.sample(range(len(blocks)), min(SPOT_BLOCKS, len(blocks)))}
    with path.open("rb") as fh:
        for i in sorted(picks):
            fh.seek(i * BLOCK)
            if hashlib.sha256(fh.read(BLOCK)).hexdigest()[:16] != blocks[i]:
                raise AtlasCorruptError(
                    f"The atlas map {path} does not match its manifest hash at block {i} (damaged "
                    f"in place); {REBUILD}.")


def open_maps(paths: AtlasPaths, data: dict[str, Any]) -> dict[str, np.ndarray]:
    stamps_path = paths.root / STAT_CACHE
    try:
        stamps = json.loads(stamps_path.read_text(encoding="utf-8"))
        stamps = stamps if isinstance(stamps, dict) else {}
    except (OSError, ValueError):
        stamps = {}
    arrays: dict[str, np.ndarray] = {}
    fresh: dict[str, Any] = {}
    for name in MAPS:
        path = paths.map_file(name)
        entry = data["maps"][name]
        blocks = check_file(path, entry, stamps.get(name))
        if blocks is not None:
            fresh[name] = {"stamp": file_stamp(path), "blocks": blocks}
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise AtlasCorruptError(f"The atlas map {path} is unreadable ({exc}); {REBUILD}.") \
                from exc
        if array.dtype != np.dtype(entry["dtype"]) or list(array.shape) != entry["shape"]:
            raise AtlasCorruptError(
                f"The atlas map {path} has shape {array.shape} {array.dtype}, the manifest says "
                f"{tuple(entry['shape'])} {entry['dtype']}; {REBUILD}."
            )
        arrays[name] = array
    if fresh:
        _write_stamps(paths, {**stamps, **fresh})
    return arrays


def record_stamps(paths: AtlasPaths) -> None:
    """Trust the maps as they are now, with their block hashes (call only after their hashes
    matched, or on maps just written)."""
    try:
        _write_stamps(paths, {name: {"stamp": file_stamp(paths.map_file(name)),
                                     "blocks": hash_blocks(paths.map_file(name))[1]}
                              for name in MAPS})
    except OSError:
        pass


def _write_stamps(paths: AtlasPaths, stamps: dict[str, Any]) -> None:
    try:
        write_json_atomic(paths.root / STAT_CACHE, stamps)
    except OSError:  # a read-only atlas still loads; it just re-hashes next time
        pass
