"""The commit mark (`journal.mark`): how much of the journal is committed.

A writer appends a batch to the journal and fsyncs it (the batch is committed), then replaces the
mark atomically with the journal's generation, the byte offset just past that batch and the number
of batches. So every byte before the mark's offset is committed: a batch there that is cut short
or fails its checksum is damage, refused with a sentence, never dropped. Only bytes past the mark
can be a torn write; a whole batch past it with a good checksum was committed by a writer that
stopped before moving the mark, and is kept (the next writer moves the mark over it).

Crash windows: batch fsynced, mark not replaced → the batch is past the mark, kept. Compaction
writes the snapshot of generation g + 1, then that generation's empty journal, then the mark of
g + 1; a mark older than the snapshot is stale (a compaction stopped part-way) and marks nothing.
A mark newer than the snapshot means the snapshot was replaced by an older copy or lost: refused.
A memory without a mark (written before marks existed) opens as before, and gets one at its next
write.

Layout, little-endian: magic "GYROSIMK", version u32, generation u64, offset u64, batches u64,
crc32 of what precedes it.
"""

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..atlas.layout import replacing
from .errors import MemoryCorruptError

MARK = "journal.mark"
MAGIC = b"GYROSIMK"
VERSION = 1
HEAD = struct.Struct("<8sIQQQ")
SIZE = HEAD.size + 4


@dataclass(frozen=True)
class Mark:
    generation: int
    offset: int  # bytes of the journal committed (its header and whole batches)
    batches: int


def encode(mark: Mark) -> bytes:
    head = HEAD.pack(MAGIC, VERSION, mark.generation, mark.offset, mark.batches)
    return head + struct.pack("<I", zlib.crc32(head))


def read_mark(path: Path) -> Mark | None:
    """The mark in `path`; None when there is none (a memory from before marks)."""
    hint = "run `gyrosi memory repair`, or start again with `gyrosi memory reset --yes`"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MemoryCorruptError(f"Cannot read the memory's commit mark {path} "
                                 f"({exc.strerror}); {hint}.") from None
    if len(data) != SIZE or data[:8] != MAGIC \
            or struct.unpack_from("<I", data, HEAD.size)[0] != zlib.crc32(data[: HEAD.size]):
        raise MemoryCorruptError(f"The memory's commit mark {path} is damaged; {hint}.")
    _, version, generation, offset, batches = HEAD.unpack_from(data)
    if version != VERSION:
        raise MemoryCorruptError(
            f"The memory's commit mark {path} has version {version}; this GyroSI reads version "
            f"{VERSION}. Use the GyroSI that wrote it, or {hint}.")
    return Mark(generation, offset, batches)


def write_mark(path: Path, mark: Mark) -> None:
    """Atomically (temp file, fsync, rename, fsync the folder)."""
    with replacing(path) as f:
        f.write(encode(mark))
