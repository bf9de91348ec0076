"""`gyrosi memory repair`: make a damaged memory consistent again, keeping what is intact.

Under the lock, without opening the memory (which refuses damage): a snapshot that fails its
checksum, a damaged commit mark and a journal with a damaged header are moved aside; a journal
damaged part-way keeps every whole batch before the damage (the original is kept aside under
another name first, then the journal is replaced by its intact part, atomically); a mark that
claims more than the files hold is kept aside and replaced. Nothing is deleted. The caller then
opens the memory as usual and compacts it, which checks the result.
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from .. import fsio
from ..atlas.layout import replacing
from ..context import KEY_BITS
from . import files
from .errors import MemoryAccessError, MemoryCorruptError, MemoryVersionError
from .mark import MARK, Mark, read_mark, write_mark
from .passive import Columns
from .store import JOURNAL, LOCK, SNAPSHOT, aside_path, describe_os_error, stray_files


@dataclass
class Moved:
    name: str  # the memory file
    aside: Path  # where it is now
    why: str


@dataclass
class Repaired:
    moved: list[Moved] = field(default_factory=list)
    kept_batches: int = 0  # whole journal batches kept
    dropped_bytes: int = 0  # journal bytes from the damage on (in the copy kept aside)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.notes)


def repair_memory(root: Path, depth: int) -> Repaired:
    if not root.is_dir():
        raise MemoryAccessError(f"There is no memory folder {root} to repair.")
    try:
        with FileLock(str(root / LOCK)):
            return _repair(root, depth)
    except OSError as exc:
        raise MemoryAccessError(f"Cannot repair the memory in {root}: {describe_os_error(exc)}. "
                                f"Make it writable, or set GYROSI_HOME to another folder.") \
            from None


def _reason(exc: MemoryCorruptError) -> str:
    """The middle of a refusal sentence: what is wrong, without the advice."""
    text = str(exc).split("; ")[0].rstrip(".")
    return text[0].lower() + text[1:] if text else text


def _repair(root: Path, depth: int) -> Repaired:
    out = Repaired()
    for stray in stray_files(root):
        fsio.unlink(stray)
    snap_path, journal_path, mark_path = root / SNAPSHOT, root / JOURNAL, root / MARK

    def move(path: Path, why: str, *, keep: bool = False) -> None:
        """Aside, renamed; `keep`: as a second name, the file staying to be replaced."""
        aside = aside_path(path)
        (fsio.link if keep else fsio.replace)(path, aside)
        out.moved.append(Moved(path.name, aside, why))

    snapshot: files.Snapshot | None = None
    if snap_path.exists():
        try:
            snapshot = files.read_snapshot(snap_path)
        except MemoryVersionError:
            raise  # another format is no damage: its sentence says what to do
        except MemoryCorruptError as exc:
            move(snap_path, _reason(exc))
    if snapshot is not None and snapshot.depth != depth:
        raise MemoryCorruptError(
            f"The memory in {root} was learned with context depth {snapshot.depth}; this "
            f"configuration uses depth {depth}: that is no damage, and repair changes nothing. "
            f"Set `backends.gyrosi.depth` back to {snapshot.depth}.")
    mark: Mark | None = None
    try:
        mark = read_mark(mark_path)
    except MemoryCorruptError as exc:
        move(mark_path, _reason(exc))

    read: files.JournalRead | None = None
    if journal_path.exists():
        try:
            read = files.read_journal(journal_path, depth, salvage=True)
        except MemoryVersionError:
            raise
        except MemoryCorruptError as exc:
            move(journal_path, _reason(exc))
    if read is not None:
        committed = mark.offset if mark and mark.generation == read.generation else 0
        try:
            files.read_journal(journal_path, depth, committed=committed)
        except MemoryCorruptError as exc:  # damage: keep the whole batches before it
            size = journal_path.stat().st_size
            move(journal_path, _reason(exc), keep=True)
            with open(journal_path, "rb") as source:
                intact = source.read(read.end)
            with replacing(journal_path) as f:
                f.write(intact)
            out.dropped_bytes = size - read.end
        out.kept_batches = len(read.batches)

    generation = snapshot.generation if snapshot is not None else 0
    if read is not None and read.generation > generation:
        # the snapshot the journal was written on is gone (damaged, lost or replaced by an
        # older copy): its batches are kept on what there is (an empty memory if nothing)
        if snapshot is None:
            snapshot = files.Snapshot(depth, KEY_BITS, read.generation, 0, 0, Columns.empty())
            out.notes.append(f"the snapshot of generation {read.generation} was missing or "
                             f"damaged: what it held is lost; the journal's batches are kept")
        else:
            if snap_path.exists():
                move(snap_path, "older than its journal", keep=True)
            out.notes.append(f"the snapshot (generation {generation}) was older than its "
                             f"journal (generation {read.generation}): the journal's batches "
                             f"are kept on it")
        files.write_snapshot(snap_path, dataclasses.replace(snapshot,
                                                            generation=read.generation))
        generation = read.generation
    now = Mark(generation, read.end, len(read.batches)) \
        if read is not None and read.generation == generation \
        else Mark(generation, files.JOURNAL_HEADER_SIZE, 0)
    if mark is not None and (mark.generation > now.generation or (
            mark.generation == now.generation and mark.offset > now.offset)):
        lost = max(mark.batches - now.batches, 0) if mark.generation == now.generation else 0
        move(mark_path, f"it records {mark.batches:,} committed batches "
                        f"({mark.offset:,} bytes) of generation {mark.generation}, more than "
                        f"the files hold" + (f"; {lost:,} of them are not kept" if lost else ""),
             keep=True)
    if out.moved or out.notes or (mark is not None and mark != now):
        write_mark(mark_path, now)
    return out
