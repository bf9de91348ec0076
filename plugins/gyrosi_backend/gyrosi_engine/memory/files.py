"""On-disk formats of passive memory: a checksummed snapshot and an append-only journal.

snapshot (`passive.gsm`, also the export format), little-endian:
    header  magic "GYROSIPM", format u32, depth u32, key_bits u32, index_bytes u32,
            generation u64, tokens_learned u64, next_seq u64, entries u64,
            by_count u64[6] (entries seen 0..4 times, then 5 or more: the discounts' counts of
            counts), contexts u64, digest[32]
    payload ident u64[entries] (sorted), meta u32[entries], count u16[entries],
            spread u16[entries] (each 8-byte aligned: the columns are memory-mapped), then the
            content index: a JSON table of its arrays (name, dtype, shape) and their bytes,
            zlib-compressed, `index_bytes` long
    digest  sha256(header with the digest zeroed + sha256(payload)): a writer streaming the
            payload computes it in file order. Format 3 had no by_count and contexts, and its
            digest was sha256(header + payload); it is read (whole) to be upgraded.

journal (`journal.gsj`): header magic "GYROSIJL", format u32, depth u32, generation u64, crc32;
then batches, each: magic "GBAT", tokens u32, fresh u32, path i32[depth + 1] (the last tokens and
the boundary state: `PathState.packed()`), docs_bytes u32, crc32 (of the batch header before it
and the payload), payload u32[tokens] and then the documents that start in the batch as JSON
`[[offset, name], ...]`, `docs_bytes` long.

Format 3 keyed entries by token contexts and kept occurrence counts; format 4 lays them out to be
memory-mapped (a journal's layout is the same in both; its header names the format it was
written in). Formats 1 and 2 keyed them by
paths of boundary states, which cannot be turned into token contexts without the text they were
learned from: such a memory is refused with a sentence that says to reset it and learn its
documents again (its files are moved aside by the reset, never deleted). A batch is committed once
it is written and fsynced, and `journal.mark` (see `mark`) then records how much of the journal is
committed: a batch before the mark that fails its checksum is damage; a torn last batch past it (a
crash mid-write) is dropped on open and cut off by the next writer. A journal belongs to the
snapshot with the same generation; compaction writes the next snapshot with generation + 1 and
then a fresh journal, so a crash between the two leaves a stale journal that is recognised and
ignored, never replayed twice. """

import hashlib
import json
import mmap
import os
import queue
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..atlas.layout import replacing
from .errors import MemoryCorruptError, MemoryVersionError
from .passive import Columns, contexts_in, histogram

FORMAT = 4
READS = (3, 4)  # format versions this code reads (a format-3 snapshot is upgraded on open)
#: Versions before token contexts: named in the refusal, so the user knows it is not damage.
STATE_PATH_FORMATS = (1, 2)
SNAP_MAGIC = b"GYROSIPM"
SNAP_HEAD_3 = struct.Struct("<8sIIIIQQQQ32s")
#: format 4 adds the entries by count (0-4, 5 and more) and the contexts holding a token
SNAP_HEAD = struct.Struct("<8sIIIIQQQQ6QQ32s")
ENTRY_BYTES = 16  # ident, meta, count, spread
JOURNAL_MAGIC = b"GYROSIJL"
JOURNAL_HEAD = struct.Struct("<8sIIQ")
BATCH_MAGIC = b"GBAT"
JOURNAL_HEADER_SIZE = JOURNAL_HEAD.size + 4  # the header and its crc32: an empty journal
PIECE_ROWS = 1 << 22
HINT = "restore a backup, or start again with `gyrosi memory reset --yes`"


@dataclass
class Snapshot:
    depth: int
    key_bits: int
    generation: int
    tokens_learned: int
    next_seq: int
    entries: Columns
    index: dict[str, Any] = field(default_factory=dict)  # the content index's arrays
    format: int = FORMAT
    counts: npt.NDArray[np.int64] | None = None  # entries by count, from the header
    contexts: int | None = None
    #: checks the payload's digest (`read_snapshot(verify=False)`); raises MemoryCorruptError
    check: Callable[[], None] | None = None
    #: decodes the content index (`read_snapshot(index="later")`); raises MemoryCorruptError
    index_later: Callable[[], dict[str, Any]] | None = None


def array_chunks(arrays: dict[str, Any]) -> Iterator[bytes | memoryview]:
    """Named numpy arrays as a length-prefixed JSON table and then their little-endian bytes,
    piece by piece (views of the arrays, not copies)."""
    table, views = [], []
    for name, value in arrays.items():
        a = np.ascontiguousarray(value)
        dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        table.append([name, dtype.str, list(a.shape)])
        # flat first: a memoryview of an empty 2-D array (no passage closed yet) cannot be cast
        flat = np.ascontiguousarray(a.astype(dtype, copy=False)).reshape(-1)
        views.append(memoryview(flat).cast("B"))
    head = json.dumps(table).encode()
    yield struct.pack("<I", len(head)) + head
    yield from views


def encode_arrays(arrays: dict[str, Any]) -> bytes:
    return b"".join(array_chunks(arrays))


def decode_arrays(data: bytes | memoryview) -> dict[str, Any]:
    if not len(data):
        return {}
    (size,) = struct.unpack_from("<I", data)
    table = json.loads(bytes(data[4 : 4 + size]))
    out, at = {}, 4 + size
    for name, dtype, shape in table:
        dt = np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        out[name] = np.frombuffer(data, dtype=dt, count=count, offset=at).reshape(shape).copy()
        at += count * dt.itemsize
    return out


#: zlib's level for the content index: every fold rewrites it, and level 1 is five times faster
#: than 6 for 15% more bytes (10 MB of package docs: 0.11 s against 0.50 s, 1.02 B per learned
#: token against 0.85, beside the entries' 40)
INDEX_LEVEL = 1


def write_snapshot(path: Path, snap: Snapshot, parts: Iterable[Columns] | None = None, *,
                   rows: int | None = None) -> None:
    """Atomically replace `path` (temp file, fsync, rename, fsync the directory) with `snap`,
    its entries given whole or as `parts` in ident order (each ending at a context's end), so a
    memory is written without being held in RAM; `rows`, how many entries the parts hold, must
    be given with them (a fold counts its live entries, a compaction what its caps leave).

    The columns follow one another, each written at its place as the parts come (a count that
    turns out wrong is a bug: RuntimeError, and `path` is left as it was). The digest is
    sha256(header with the digest zeroed, sha256(the payload)), the payload in file order: the
    first column (two thirds of it) hashed in a thread as it is written, the other three read
    back through a mapping."""
    if parts is None:
        parts, rows = [snap.entries], len(snap.entries.ident)
    elif rows is None:
        raise TypeError("write_snapshot needs `rows` with `parts`")
    payload = hashlib.sha256()
    counts, n, contexts = np.zeros(6, np.int64), 0, 0
    with replacing(path, mode="w+b") as f, \
            ThreadPoolExecutor(2, thread_name_prefix="gyrosi-squeeze") as pool:
        # the content index is compressed (zlib lets go of the GIL) while the columns are
        # written, then follows them: compressed, it is about a byte per learned token
        squeezed = pool.submit(lambda: list(_compressed(array_chunks(snap.index)))
                               if snap.index else [])
        f.write(bytes(SNAP_HEAD.size))  # the header goes last, once the counts are known
        at = [SNAP_HEAD.size + rows * k for k in (0, 8, 12, 14)]  # where each column goes
        # sha256 lets go of the GIL: the first column is hashed beside the writes
        idents: queue.Queue[npt.NDArray[Any] | None] = queue.Queue(maxsize=4)
        hashing = pool.submit(_hash_all, payload, idents)
        more = False
        try:
            for part in parts:
                cols = [np.ascontiguousarray(col, dtype=dtype)
                        for col, dtype in zip(part, ("<u8", "<u4", "<u2", "<u2"), strict=True)]
                if n + len(cols[0]) > rows:
                    more = True  # never written past its column
                    break
                for k, col in enumerate(cols):
                    f.seek(at[k])
                    f.write(col.data)
                    at[k] += col.nbytes
                idents.put(cols[0])
                counts += histogram(part.count)
                n += len(cols[0])
                contexts += contexts_in(cols[0])
        finally:
            idents.put(None)
            hashing.result()
        if more or n != rows:
            raise RuntimeError(f"a snapshot of {rows} rows was given {'more' if more else n}")
        end = SNAP_HEAD.size + ENTRY_BYTES * n
        if n:  # the other three columns, read back
            with mmap.mmap(f.fileno(), end, access=mmap.ACCESS_READ) as written:
                view = memoryview(written)
                for lo in range(SNAP_HEAD.size + 8 * n, end, 8 * PIECE_ROWS):
                    payload.update(view[lo:min(lo + 8 * PIECE_ROWS, end)])
                view.release()
        f.seek(end)
        # zlib at a fixed level: the same input, the same bytes
        index = 0
        for out in squeezed.result():
            if not out:
                continue  # zlib holds small pieces back
            f.write(out)
            payload.update(out)
            index += len(out)
        head = [SNAP_MAGIC, FORMAT, snap.depth, snap.key_bits, index, snap.generation,
                snap.tokens_learned, snap.next_seq, n, *counts.tolist(), contexts]
        f.seek(0)
        f.write(SNAP_HEAD.pack(*head, _digest(head, payload.digest())))


def _hash_all(digest: Any, pieces: "queue.Queue[npt.NDArray[Any] | None]") -> None:
    while (piece := pieces.get()) is not None:
        digest.update(piece)


def _compressed(pieces: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    squeeze = zlib.compressobj(INDEX_LEVEL)
    for piece in pieces:
        yield squeeze.compress(piece)
    yield squeeze.flush()


def _digest(head: list[Any], payload: bytes) -> bytes:
    return hashlib.sha256(SNAP_HEAD.pack(*head, bytes(32)) + payload).digest()


def recorded_depth(snapshot: Path, journal: Path) -> int | None:
    """The context depth a memory of this format was learned with, from its snapshot's header
    or else its journal's (no checksum is checked here: opening the memory does that); None
    when neither holds one."""
    for path, magic, head in ((snapshot, SNAP_MAGIC, SNAP_HEAD_3), (journal, JOURNAL_MAGIC,
                                                                     JOURNAL_HEAD)):
        try:
            with path.open("rb") as f:
                data = f.read(head.size)
        except OSError:
            continue
        if len(data) == head.size and data[:8] == magic:
            fmt, depth = struct.unpack_from("<II", data, 8)
            if fmt in READS:
                return int(depth)
    return None


def read_snapshot(path: Path, *, what: str = "memory snapshot", verify: bool = True,
                  index: Literal["now", "later", "no"] = "now") -> Snapshot:
    """A snapshot with its columns memory-mapped (copy-on-write, never written back): opening
    a memory costs its header and content index, and a memory larger than RAM is paged in as
    it is read. `verify=False` leaves the digest to `Snapshot.check` (a large memory's is
    checked in the background). `index="later"` leaves the content index to
    `Snapshot.index_later` (decompressing it is most of an open's time at 100 MB), `"no"` out
    (a writer reading back the snapshot it just wrote from the index in its RAM). A format-3
    snapshot is read whole, to be upgraded."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNAP_HEAD.size)
            if len(head) < SNAP_HEAD_3.size or head[:8] != SNAP_MAGIC:
                raise MemoryCorruptError(f"{path} is not a GyroSI {what}; {HINT}.")
            fmt = struct.unpack_from("<I", head, 8)[0]
            refuse_version(fmt, f"The {what} {path}")
            if fmt == 3:
                fh.seek(0)
                return _read_format_3(path, fh.read(), what)
            if len(head) < SNAP_HEAD.size or os.fstat(fh.fileno()).st_size == 0:
                raise MemoryCorruptError(f"The {what} {path} is cut short (damaged file); {HINT}.")
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    except OSError as exc:
        raise MemoryCorruptError(f"Cannot read the {what} {path} ({exc.strerror}).") from exc
    magic, fmt, depth, key_bits, ixb, gen, learned, next_seq, n, *rest = \
        SNAP_HEAD.unpack_from(head)
    counts, contexts, digest = np.array(rest[:6], np.int64), rest[6], rest[7]
    at = SNAP_HEAD.size
    if len(mapped) != at + n * ENTRY_BYTES + ixb:
        raise MemoryCorruptError(f"The {what} {path} fails its checksum (damaged file); {HINT}.")
    head_values = [magic, fmt, depth, key_bits, ixb, gen, learned, next_seq, n, *rest[:7]]

    def check() -> None:
        payload = hashlib.sha256(memoryview(mapped)[SNAP_HEAD.size:]).digest()
        if _digest(head_values, payload) != digest:
            raise MemoryCorruptError(
                f"The {what} {path} fails its checksum (damaged file); {HINT}.")

    if verify:
        check()
    cols = _columns(mapped, at, n)  # views of the mapping, not copies
    blob = memoryview(mapped)[at + n * ENTRY_BYTES:] if index != "no" else b""

    def index_arrays() -> dict[str, Any]:
        return _index(blob, path, what)

    return Snapshot(depth, key_bits, gen, learned, next_seq, cols,
                    index_arrays() if index == "now" else {}, fmt, counts, contexts,
                    None if verify else check, index_arrays if index == "later" else None)


def _columns(data: bytes | mmap.mmap, at: int, n: int) -> Columns:
    """The four columns of `n` entries from byte `at` on."""
    cols = []
    for dtype, width in (("<u8", 8), ("<u4", 4), ("<u2", 2), ("<u2", 2)):
        cols.append(np.frombuffer(data, dtype=dtype, count=n, offset=at))
        at += width * n
    return Columns(*cols)


def _index(blob: bytes | memoryview, path: Path, what: str) -> dict[str, Any]:
    """The content index after the columns."""
    try:
        return decode_arrays(zlib.decompress(blob)) if len(blob) else {}
    except (ValueError, KeyError, TypeError, struct.error, zlib.error) as exc:
        raise MemoryCorruptError(f"The {what} {path} has a damaged content index; {HINT}.") \
            from exc


def _read_format_3(path: Path, data: bytes, what: str) -> Snapshot:
    if len(data) < SNAP_HEAD_3.size:
        raise MemoryCorruptError(f"{path} is not a GyroSI {what}; {HINT}.")
    magic, fmt, depth, key_bits, ixb, gen, learned, next_seq, n, digest = \
        SNAP_HEAD_3.unpack_from(data)
    size = SNAP_HEAD_3.size + n * ENTRY_BYTES + ixb
    check = hashlib.sha256(SNAP_HEAD_3.pack(magic, fmt, depth, key_bits, ixb,
                                            gen, learned, next_seq, n, bytes(32)))
    check.update(memoryview(data)[SNAP_HEAD_3.size:])
    if len(data) != size or check.digest() != digest:
        raise MemoryCorruptError(f"The {what} {path} fails its checksum (damaged file); {HINT}.")
    cols = _columns(data, SNAP_HEAD_3.size, n)
    index = _index(memoryview(data)[SNAP_HEAD_3.size + n * ENTRY_BYTES:], path, what)
    # copied: views of `bytes` are read-only, which the compiled readers type apart
    return Snapshot(depth, key_bits, gen, learned, next_seq, Columns(*(c.copy() for c in cols)),
                    index, fmt)


def refuse_version(fmt: int, what: str) -> None:
    """One sentence for a memory file this code does not read."""
    if fmt in READS:
        return
    if fmt in STATE_PATH_FORMATS:
        raise MemoryVersionError(
            f"{what} is in memory format {fmt}, which keyed what it learned by paths of boundary "
            f"states; this GyroSI keys memory by token contexts (format {FORMAT}) and cannot "
            f"convert it without the text. Run `gyrosi memory reset --yes` (the old files are "
            f"moved aside, not deleted) and learn your documents again with `gyrosi learn`.")
    raise MemoryVersionError(
        f"{what} has format version {fmt}; this GyroSI reads versions {READS[0]} to {FORMAT}. "
        f"Use the GyroSI "
        f"that wrote it, or restore a backup, or start again with `gyrosi memory reset --yes`.")


@dataclass
class JournalBatch:
    tokens: npt.NDArray[np.int64]
    fresh: bool
    path: tuple[int, ...]
    docs: list[tuple[int, str]] = field(default_factory=list)  # (offset, name) starting here


def _batch_head(depth: int) -> struct.Struct:
    """A batch's header: magic, tokens, fresh, the path (`depth` tokens and the state), docs."""
    return struct.Struct(f"<4sII{depth + 1}iI")


def journal_header(depth: int, generation: int) -> bytes:
    head = JOURNAL_HEAD.pack(JOURNAL_MAGIC, FORMAT, depth, generation)
    return head + struct.pack("<I", zlib.crc32(head))


def encode_batch(batch: JournalBatch) -> bytes:
    docs = json.dumps([[o, name] for o, name in batch.docs]).encode() if batch.docs else b""
    head = _batch_head(len(batch.path) - 1).pack(BATCH_MAGIC, len(batch.tokens), int(batch.fresh),
                                              *batch.path, len(docs))
    payload = np.ascontiguousarray(batch.tokens, dtype="<u4").tobytes() + docs
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
    format: int = FORMAT
    damage: str | None = None  # with `salvage`: why reading stopped before the end


JOURNAL_HINT = ("run `gyrosi memory repair` to keep the batches before it, or start again with "
                "`gyrosi memory reset --yes`")


def read_journal(path: Path, depth: int, offset: int = 0, *, committed: int = 0,
                 salvage: bool = False) -> JournalRead:
    """Batches from `offset` (0: from the start, header checked) to the last whole one.

    The first `committed` bytes were committed (see `mark`): a batch there that is cut short or
    fails its checksum is damage, as is a journal shorter than that. Past them only a torn last
    batch can be, and is dropped. `salvage` (for `gyrosi memory repair`) returns the batches up
    to the first damage instead of refusing, with the reason in `damage`."""
    hint = JOURNAL_HINT
    head_size = JOURNAL_HEADER_SIZE
    try:
        with open(path, "rb") as f:
            head = f.read(head_size)
            base = max(offset, head_size)
            f.seek(base)
            rest = f.read()
    except OSError as exc:
        raise MemoryCorruptError(f"Cannot read the memory journal {path} ({exc.strerror}); "
                                 f"{hint}.") from exc
    data = head
    if len(data) < head_size or data[:8] != JOURNAL_MAGIC:
        raise MemoryCorruptError(f"{path} is not a GyroSI memory journal; {hint}.")
    magic, fmt, jdepth, generation = JOURNAL_HEAD.unpack_from(data)
    (crc,) = struct.unpack_from("<I", data, JOURNAL_HEAD.size)
    if crc != zlib.crc32(data[: JOURNAL_HEAD.size]):  # damage first: a flipped byte is no version
        raise MemoryCorruptError(f"The memory journal {path} has a damaged header; {hint}.")
    refuse_version(fmt, f"The memory journal {path}")
    if jdepth != depth:
        raise MemoryCorruptError(f"The memory journal {path} has a damaged header; {hint}.")
    bhead = _batch_head(depth)
    data, pos = rest, 0
    batches: list[JournalBatch] = []
    problem: tuple[str, bool] | None = None  # what stopped the reading, and whether it is torn
    while pos < len(data):
        at = base + pos
        if pos + bhead.size + 4 > len(data):
            problem = (f"is cut short at byte {at}", True)
            break
        magic, n, fresh, *bpath = bhead.unpack_from(data, pos)
        docs_len = bpath.pop()
        (crc,) = struct.unpack_from("<I", data, pos + bhead.size)
        start = pos + bhead.size + 4
        if magic != BATCH_MAGIC:
            # zeros: the file grew but the unsynced last batch never landed
            problem = (f"holds zeros from byte {at}", True) if not any(data[pos:]) \
                else (f"is damaged at byte {at}", False)
            break
        end = start + 4 * n + docs_len
        if end > len(data):
            problem = (f"is cut short at byte {at}", True)  # the crash came mid-write
            break
        if at < committed < base + end:
            problem = (f"is damaged at byte {at} (a batch runs past the {committed:,} bytes "
                       f"committed)", False)
            break
        payload = data[start:end]
        if zlib.crc32(payload, zlib.crc32(data[pos : pos + bhead.size])) != crc:
            # the last batch: its tail pages may never have reached the disk
            problem = (f"fails its checksum at byte {at}", end == len(data))
            break
        tokens = np.frombuffer(payload, dtype="<u4", count=n).astype(np.int64)
        docs = [(int(o), str(name)) for o, name in json.loads(payload[4 * n:])] \
            if docs_len else []
        batches.append(JournalBatch(tokens, bool(fresh), tuple(bpath), docs))
        pos = end
    if problem is None and base + pos < committed:
        problem = (f"ends at byte {base + pos}, short of the {committed:,} bytes committed to it "
                   f"(it was cut off)", False)
    read = JournalRead(generation, batches, base + pos, pos < len(data), fmt)
    if problem is not None:
        why, torn = problem
        inside = base + pos < committed
        if salvage:
            read.damage = why
        elif inside or not torn:
            raise MemoryCorruptError(
                f"The memory journal {path} {why}"
                f"{', inside what was committed' if inside and torn else ''}; {hint}.")
    return read


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
