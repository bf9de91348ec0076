"""On-disk formats of passive memory: a checksummed snapshot and an append-only journal.

snapshot (`passive.gsm`, also the export format), little-endian:
    header  magic "GYROSIPM", format u32, depth u32, key_bits u32, pad u32,
            generation u64, tokens_learned u64, next_seq u64, entries u64, sha256[32]
    payload ident u64[entries] (sorted), meta u32[entries]
    sha256 covers the header (with the digest zeroed) and the payload.

journal (`journal.gsj`): header magic "GYROSIJL", format u32, depth u32, generation u64, crc32;
then batches, each: magic "GBAT", tokens u32, fresh u32, path i32[depth], crc32 (of the batch
header before it and the payload), payload u32[tokens]. A batch is committed once it is written
and fsynced; a torn last batch (a crash mid-write) is dropped on open and cut off by the next
writer. A journal belongs to the snapshot with the same generation; compaction writes the next
snapshot with generation + 1 and then a fresh journal, so a crash between the two leaves a stale
journal that is recognised and ignored, never replayed twice.
"""

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..atlas.layout import replacing
from .errors import MemoryCorruptError

FORMAT = 1
SNAP_MAGIC = b"GYROSIPM"
SNAP_HEAD = struct.Struct("<8sIIIIQQQQ32s")
JOURNAL_MAGIC = b"GYROSIJL"
JOURNAL_HEAD = struct.Struct("<8sIIQ")
BATCH_MAGIC = b"GBAT"
JOURNAL_HEADER_SIZE = JOURNAL_HEAD.size + 4  # the header and its crc32: an empty journal


@dataclass
class Snapshot:
    depth: int
    key_bits: int
    generation: int
    tokens_learned: int
    next_seq: int
    ident: npt.NDArray[np.uint64]
    meta: npt.NDArray[np.uint32]


def write_snapshot(path: Path, snap: Snapshot) -> None:
    """Atomically replace `path` (temp file, fsync, rename, fsync the directory)."""
    n = len(snap.ident)
    head = [SNAP_MAGIC, FORMAT, snap.depth, snap.key_bits, 0, snap.generation,
            snap.tokens_learned, snap.next_seq, n]
    ident = np.ascontiguousarray(snap.ident, dtype="<u8")
    meta = np.ascontiguousarray(snap.meta, dtype="<u4")
    digest = hashlib.sha256(SNAP_HEAD.pack(*head, bytes(32)))
    digest.update(ident.data)
    digest.update(meta.data)
    with replacing(path) as f:
        f.write(SNAP_HEAD.pack(*head, digest.digest()))
        f.write(ident.data)
        f.write(meta.data)


def read_snapshot(path: Path, *, what: str = "memory snapshot") -> Snapshot:
    hint = "restore a backup, or start again with `gyrosi memory reset --yes`"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MemoryCorruptError(f"Cannot read the {what} {path} ({exc.strerror}).") from exc
    if len(data) < SNAP_HEAD.size or data[:8] != SNAP_MAGIC:
        raise MemoryCorruptError(f"{path} is not a GyroSI {what}; {hint}.")
    magic, fmt, depth, key_bits, _, gen, learned, next_seq, n, digest = SNAP_HEAD.unpack_from(data)
    if fmt != FORMAT:
        raise MemoryCorruptError(
            f"The {what} {path} has format version {fmt}; this GyroSI reads version {FORMAT}. "
            f"Use the GyroSI that wrote it, or {hint}."
        )
    size = SNAP_HEAD.size + n * 12
    check = hashlib.sha256(SNAP_HEAD.pack(magic, fmt, depth, key_bits, 0, gen, learned, next_seq, n,
                                          bytes(32)))
    check.update(memoryview(data)[SNAP_HEAD.size:])
    if len(data) != size or check.digest() != digest:
        raise MemoryCorruptError(f"The {what} {path} fails its checksum (damaged file); {hint}.")
    ident = np.frombuffer(data, dtype="<u8", count=n, offset=SNAP_HEAD.size).astype(np.uint64)
    meta_at = SNAP_HEAD.size + 8 * n
    meta = np.frombuffer(data, dtype="<u4", count=n, offset=meta_at).astype(np.uint32)
    return Snapshot(depth, key_bits, gen, learned, next_seq, ident, meta)


@dataclass
class JournalBatch:
    tokens: npt.NDArray[np.int64]
    fresh: bool
    path: tuple[int, ...]


def _batch_head(depth: int) -> struct.Struct:
    return struct.Struct(f"<4sII{depth}i")


def journal_header(depth: int, generation: int) -> bytes:
    head = JOURNAL_HEAD.pack(JOURNAL_MAGIC, FORMAT, depth, generation)
    return head + struct.pack("<I", zlib.crc32(head))


def encode_batch(batch: JournalBatch) -> bytes:
    head = _batch_head(len(batch.path)).pack(BATCH_MAGIC, len(batch.tokens), int(batch.fresh),
                                              *batch.path)
    payload = np.ascontiguousarray(batch.tokens, dtype="<u4").tobytes()
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


def write_journal(path: Path, depth: int, generation: int) -> None:
    """A fresh, empty journal, atomically."""
    with replacing(path) as f:
        f.write(journal_header(depth, generation))


@dataclass
class JournalRead:
    generation: int
    batches: list[JournalBatch]
    end: int  # offset just past the last whole batch
    torn: bool  # bytes after `end` (a crash mid-append)


def read_journal(path: Path, depth: int, offset: int = 0) -> JournalRead:
    """Batches from `offset` (0: from the start, header checked) to the last whole one."""
    hint = "restore a backup, or start again with `gyrosi memory reset --yes`"
    head_size = JOURNAL_HEADER_SIZE
    with open(path, "rb") as f:
        head = f.read(head_size)
        base = max(offset, head_size)
        f.seek(base)
        rest = f.read()
    data = head
    if len(data) < head_size or data[:8] != JOURNAL_MAGIC:
        raise MemoryCorruptError(f"{path} is not a GyroSI memory journal; {hint}.")
    magic, fmt, jdepth, generation = JOURNAL_HEAD.unpack_from(data)
    (crc,) = struct.unpack_from("<I", data, JOURNAL_HEAD.size)
    if fmt != FORMAT:
        raise MemoryCorruptError(
            f"The memory journal {path} has format version {fmt}; this GyroSI reads version "
            f"{FORMAT}. Use the GyroSI that wrote it, or {hint}."
        )
    if crc != zlib.crc32(data[: JOURNAL_HEAD.size]) or jdepth != depth:
        raise MemoryCorruptError(f"The memory journal {path} has a damaged header; {hint}.")
    bhead = _batch_head(depth)
    data, pos = rest, 0
    batches: list[JournalBatch] = []
    while pos < len(data):
        if pos + bhead.size + 4 > len(data):
            break
        magic, n, fresh, *bpath = bhead.unpack_from(data, pos)
        (crc,) = struct.unpack_from("<I", data, pos + bhead.size)
        start = pos + bhead.size + 4
        if magic != BATCH_MAGIC and not any(data[pos:]):
            break  # a zero-filled tail: the file grew but the unsynced last batch never landed
        if magic != BATCH_MAGIC:
            raise MemoryCorruptError(
                f"The memory journal {path} is damaged at byte {base + pos}; {hint}."
            )
        if start + 4 * n > len(data):
            break  # torn: the crash came mid-write
        payload = data[start : start + 4 * n]
        if zlib.crc32(payload, zlib.crc32(data[pos : pos + bhead.size])) != crc:
            if start + 4 * n == len(data):
                break  # a torn last batch: its tail pages never reached the disk
            raise MemoryCorruptError(
                f"The memory journal {path} fails its checksum at byte {base + pos}; {hint}."
            )
        tokens = np.frombuffer(payload, dtype="<u4").astype(np.int64)
        batches.append(JournalBatch(tokens, bool(fresh), tuple(bpath)))
        pos = start + 4 * n
    return JournalRead(generation, batches, base + pos, pos < len(data))


def journal_generation(path: Path) -> int | None:
    """The generation in a journal's header; None when there is no readable journal."""
    try:
        with open(path, "rb") as f:
            head = f.read(JOURNAL_HEAD.size)
    except FileNotFoundError:
        return None
    if len(head) < JOURNAL_HEAD.size or head[:8] != JOURNAL_MAGIC:
        return None
    return int(JOURNAL_HEAD.unpack(head)[3])
