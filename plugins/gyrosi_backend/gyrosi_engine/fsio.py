"""The file operations that make the memory durable, in one place: every open for writing, write,
fsync, truncate, rename, link and unlink of the memory store and of `atlas.layout.replacing`
(and the folder fsync after a rename) goes through here.

That makes it the seam for fault-injection tests, in the manner of LevelDB's
FaultInjectionTestEnv and SQLite's I/O-error tests: a test installs a `FaultPlan`, which numbers
the operations on files under a folder and makes one of them fail. Production code never
installs one; `GYROSI_FAULT` (below) is for tests only.
"""

import contextlib
import errno
import io
import os
import signal
from collections.abc import Buffer, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: What an operation can be made to do instead of its work (see `FaultPlan`).
KINDS = ("enospc", "eio", "crash", "exit", "stop")


class Crash(BaseException):
    """A simulated crash: raised at the planned operation and at every one after it, so the
    process logic stops there (`finally` blocks that touch files do nothing either). A
    BaseException, so no `except Exception` or `except OSError` of the code under test takes it
    for an error it handles."""


@dataclass
class FaultPlan:
    """Test-only: number the operations on files under `root` (all files when None) from 1, and
    make operation `at` fail as `kind` (0: count only). Every operation is logged in `ops` as
    (name, path).

    - "enospc", "eio": raise OSError with that errno; a write writes the first half of its data
      first, as a filling disk does. Later operations succeed (the space came back).
    - "crash": raise `Crash` there and at every later operation. `power_loss()` then drops what
      was not durable, as a power cut would.
    - "exit": `os._exit(137)` there (a process killed at that point; nothing is dropped).
    - "stop": SIGSTOP to this process there, so a test can send it a real SIGKILL.

    The durability model of `power_loss()`, deliberately simple:
    - a file's durable length is its length when it was first touched under the plan (or 0 for
      a file the plan saw created), and its length at each fsync after; a longer file is cut to
      it. Data overwritten in place and truncations are taken as durable at once.
    - a rename, link or unlink is durable once its folder is fsynced; those not yet durable are
      undone, newest first (a renamed-over file gets its old bytes back, an unlinked one
      reappears with the bytes it had).
    """

    at: int = 0
    kind: str = "crash"
    root: Path | None = None
    count: int = 0
    ops: list[tuple[str, str]] = field(default_factory=list)
    crashed: bool = False
    log: Path | None = None
    durable: dict[str, int] = field(default_factory=dict)
    # (folder, what, path, other path, old bytes of `path` or None) since the folder's fsync
    pending: list[tuple[str, str, str, str, bytes | None]] = field(default_factory=list)

    def covers(self, path: str | Path) -> bool:
        if self.root is None:
            return True
        root, path = os.path.abspath(self.root), os.path.abspath(path)
        return path == root or path.startswith(os.path.join(root, ""))

    def step(self, name: str, path: str | Path) -> str | None:
        """Count one operation; returns the fault to apply to it, if any."""
        if self.crashed:
            raise Crash(f"{name} {path} after the crash")
        if not self.covers(path):
            return None
        self.count += 1
        self.ops.append((name, str(path)))
        if self.log:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"{self.count} {name} {path}\n")
        if self.count != self.at:
            return None
        if self.kind == "crash":
            self.crashed = True
            raise Crash(f"{name} {path}")
        if self.kind == "exit":
            os._exit(137)
        if self.kind == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
            return None
        return self.kind

    def seen(self, path: str, created: bool = False) -> None:
        if path not in self.durable:
            self.durable[path] = 0 if created or not os.path.exists(path) \
                else os.path.getsize(path)

    def power_loss(self) -> None:
        """Drop what was not durable when the crash came (see the class docstring)."""
        for path, size in self.durable.items():
            if os.path.isfile(path) and os.path.getsize(path) > size:
                os.truncate(path, size)
        for _folder, what, path, other, old in reversed(self.pending):
            if what == "rename":  # `other` was renamed to `path`
                if os.path.exists(path):
                    os.replace(path, other)
            elif what == "link" and os.path.exists(path):  # `path` is a new name of `other`
                os.unlink(path)
            if old is not None:
                with open(path, "wb") as f:
                    f.write(old)
        self.pending.clear()


_plan: FaultPlan | None = None


def _env_plan() -> FaultPlan | None:
    """`GYROSI_FAULT=N:KIND` (test-only): operation N on files under `GYROSI_FAULT_ROOT` (all
    files when unset) fails as KIND (see `FaultPlan`); `GYROSI_FAULT_LOG=FILE` lists every
    operation in FILE as it happens (N may be 0 to count only)."""
    spec = os.environ.get("GYROSI_FAULT")
    if not spec:
        return None
    at, _, kind = spec.partition(":")
    if not at.isdigit() or kind not in KINDS:
        raise SystemExit(f"GYROSI_FAULT={spec!r} is not N:KIND with KIND one of {KINDS}.")
    root = os.environ.get("GYROSI_FAULT_ROOT")
    log = os.environ.get("GYROSI_FAULT_LOG")
    return FaultPlan(int(at), kind, Path(root) if root else None, log=Path(log) if log else None)


_plan = _env_plan()


@contextlib.contextmanager
def installed(plan: FaultPlan) -> Iterator[FaultPlan]:
    """Route this process's file operations through `plan` for the block (tests only)."""
    global _plan
    before, _plan = _plan, plan
    try:
        yield plan
    finally:
        _plan = before


def _fail(kind: str, path: str | Path) -> OSError:
    code = errno.ENOSPC if kind == "enospc" else errno.EIO
    return OSError(code, os.strerror(code), str(path))


def _step(name: str, path: str | Path) -> str | None:
    return _plan.step(name, path) if _plan is not None else None


def _check(name: str, path: str | Path) -> None:
    """Raise the fault the plan has for this operation, if any."""
    fault = _step(name, path)
    if fault:
        raise _fail(fault, path)


@contextlib.contextmanager
def named(path: Path) -> Iterator[None]:
    """An OSError of a write or fsync names its file (the user's sentence says which)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


class File(io.RawIOBase):
    """A file open for writing whose writes, fsyncs and truncations go through the seam (a raw,
    unbuffered file object, so numpy and zipfile write through it too)."""

    def __init__(self, path: Path, mode: str) -> None:
        super().__init__()
        self.path = path
        self.raw = open(path, mode, buffering=0)  # noqa: SIM115 - closed by close()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        fault = _step("write", self.path)
        if fault:
            self._write(view[: len(view) // 2])
            raise _fail(fault, self.path)
        self._write(view)
        return len(view)

    def _write(self, view: memoryview) -> None:
        with named(self.path):
            while len(view):
                done = self.raw.write(view)
                view = view[done or 0:]

    def fsync(self) -> None:
        _check("fsync", self.path)
        with named(self.path):
            os.fsync(self.raw.fileno())
        if _plan is not None and _plan.covers(self.path):
            _plan.durable[str(self.path)] = os.fstat(self.raw.fileno()).st_size

    def truncate(self, size: int | None = None) -> int:
        _check("truncate", self.path)
        with named(self.path):
            return self.raw.truncate(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def fileno(self) -> int:
        return self.raw.fileno()

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_file(path: Path, mode: str) -> File:
    """Open for writing: "wb" (create or empty; "w+b" to read it back too), "r+b" (update),
    "ab"."""
    _check("open", path)
    if _plan is not None and _plan.covers(path):
        _plan.seen(str(path), created="w" in mode)
    return File(path, mode)


def fsync_path(path: Path) -> None:
    """Make a file's data durable without writing to it (a writer adopting what another
    process wrote but may not have fsynced)."""
    _check("fsync", path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if _plan is not None and _plan.covers(path):
            _plan.durable[str(path)] = os.fstat(fd).st_size
    finally:
        os.close(fd)


def _old_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def replace(src: Path, dst: Path) -> None:
    """`os.replace`, durable once the folder is fsynced (`fsync_dir`)."""
    _check("rename", dst)
    plan = _plan if _plan is not None and _plan.covers(dst) else None
    old = _old_bytes(dst) if plan else None
    os.replace(src, dst)
    if plan:
        plan.pending.append((str(dst.parent), "rename", str(dst), str(src), old))
        if str(src) in plan.durable:
            plan.durable[str(dst)] = plan.durable.pop(str(src))


def link(src: Path, dst: Path) -> None:
    """`os.link`: a second name for `src` (a file kept aside while `src` is replaced)."""
    _check("link", dst)
    os.link(src, dst)
    if _plan is not None and _plan.covers(dst):
        _plan.pending.append((str(dst.parent), "link", str(dst), str(src), None))


def unlink(path: Path) -> None:
    """Remove a file (no error when it is already gone)."""
    _check("unlink", path)
    plan = _plan if _plan is not None and _plan.covers(path) else None
    old = _old_bytes(path) if plan else None
    path.unlink(missing_ok=True)
    if plan and old is not None:
        plan.pending.append((str(path.parent), "unlink", str(path), "", old))
        plan.durable.pop(str(path), None)


def fsync_dir(path: Path) -> None:
    """fsync a folder: the renames, links and unlinks in it become durable."""
    _check("fsync_dir", path)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if _plan is not None:
        folder = str(path)
        _plan.pending = [p for p in _plan.pending if p[0] != folder]
