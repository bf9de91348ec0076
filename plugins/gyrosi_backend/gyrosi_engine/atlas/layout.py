"""Where the atlas lives and what its manifest says (format version, sizes, hashes, timings)."""

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gyrosi_core.home import gyrosi_home

from .. import fsio

FORMAT = "gyrosi-atlas"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STAT_CACHE = "verified.json"  # (size, mtime_ns, inode) of each map when its hash last matched
LOCK = "atlas.lock"
BUILD_PREFIX = ".atlas-build-"
OLD_PREFIX = ".atlas-old-"
HASH_CHUNK = 1 << 24

# name -> (dtype, columns); every map has one row per state.
MAPS: dict[str, tuple[str, int | None]] = {
    "ontology": ("uint64", None),
    "epistemology": ("int32", 256),
    "theta": ("float32", None),
    "phenomenology": ("int32", None),
    "orbit_sizes": ("int32", None),
}


@dataclass(frozen=True)
class AtlasPaths:
    home: Path

    @classmethod
    def default(cls) -> "AtlasPaths":
        return cls(gyrosi_home())

    @property
    def root(self) -> Path:
        return self.home / "atlas"

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def lock(self) -> Path:
        return self.home / LOCK

    def map_file(self, name: str, root: Path | None = None) -> Path:
        return (root or self.root) / f"{name}.npy"


def expected_shape(name: str, n_states: int) -> tuple[int, ...]:
    columns = MAPS[name][1]
    return (n_states,) if columns is None else (n_states, columns)


#: Blocks a load spot-checks: each map's first, last and two random blocks are hashed on every
#: load (milliseconds), so a map damaged in place with its size, mtime and inode kept is caught.
BLOCK = 1 << 20
SPOT_BLOCKS = 2


def hash_blocks(path: Path) -> tuple[str, list[str]]:
    """The file's sha256 and a short sha256 (16 hex digits) of each `BLOCK`, in one pass."""
    full = hashlib.sha256()
    blocks = []
    with path.open("rb") as fh:
        while chunk := fh.read(BLOCK):
            full.update(chunk)
            blocks.append(hashlib.sha256(chunk).hexdigest()[:16])
    return full.hexdigest(), blocks


def sha256_file(path: Path, on_bytes: Any = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    return digest.hexdigest()


class HashingWriter:
    """A write-only file object that hashes what passes through (numpy writes .npy through it)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.fh.write(data)


@contextlib.contextmanager
def replacing(path: Path, *, durable: bool = True, mode: str = "wb") -> Iterator[fsio.File]:
    """Write `path` whole or not at all: into a temporary sibling, renamed over it when the
    block ends. `durable`: fsync the file before the rename and the folder after (caches skip
    it); `mode` "w+b" to read back what was written. Every step goes through `fsio`, the
    fault-injection seam."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    done = False
    try:
        with fsio.open_file(tmp, mode) as fh:
            yield fh
            if durable:
                fh.fsync()
        fsio.replace(tmp, path)
        done = True
    finally:
        if not done:
            fsio.unlink(tmp)
    if durable:
        fsio.fsync_dir(path.parent)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    with replacing(path) as fh:
        fh.write((json.dumps(data, indent=2) + "\n").encode("utf-8"))


def file_stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def fsync_dir(path: Path) -> None:
    fsio.fsync_dir(path)
