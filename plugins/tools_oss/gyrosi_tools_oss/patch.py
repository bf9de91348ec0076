"""`functions.apply_patch`: gpt-oss's apply_patch with file access confined to a workspace root.

gpt-oss parses the patch and computes the new contents; it reads, writes and removes files
through the functions it is given. Ours resolve every path inside the workspace and refuse
absolute paths, `..` escapes, symlinks that lead out, anything but regular files (a FIFO or a
device is refused without being opened) and a file named twice. Every change is staged first
(new contents in temporary files beside their targets), then committed by renames; a failure
at any point rolls back what was done, so a patch changes all its files or none.
"""

import contextlib
import functools
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpt_oss.tools.apply_patch import DiffError, apply_patch, identify_files_added
from pydantic import BaseModel, ConfigDict

from gyrosi_core.config import validate_section
from gyrosi_core.errors import ConfigError
from gyrosi_core.tools import FunctionTool, ToolCallError

DESCRIPTION = """Create, change and delete text files in the workspace.
`patch` holds the whole patch:
*** Begin Patch
*** Add File: notes/new.txt
+first line of the new file
*** Update File: src/app.py
@@ def main():
-    return 1
+    return 2
*** Delete File: old.txt
*** End Patch
An update gives three lines of context around each change (prefixed with a space), `-` for lines
removed and `+` for lines added; `*** Move to: NEW_PATH` after `*** Update File:` renames.
Paths are relative to the workspace root and must stay inside it."""

PARAMETERS = {
    "type": "object",
    "properties": {"patch": {"type": "string", "description": "The patch text, as described."}},
    "required": ["patch"],
}


class PatchConfig(BaseModel):
    """The `tools["functions.apply_patch"]` config section."""

    model_config = ConfigDict(extra="forbid")

    workspace: Path | None = None  # default: the current directory


class PatchRefused(Exception):
    """A path the patch may not touch."""


SECTIONS = ("*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: ")


class Workspace:
    def __init__(self, root: Path) -> None:
        root = root.expanduser()
        if not root.is_dir():
            raise ConfigError(f"The apply_patch workspace {root} is not a directory.")
        self.root = root.resolve()

    def _inside(self, name: str, path: Path) -> Path:
        try:
            resolved = path.resolve()  # follows every symlink on the way
        except (OSError, RuntimeError, RecursionError) as exc:  # a loop, a name too long
            raise PatchRefused(f"`{_short(name)}` cannot be resolved ({_reason(exc)})") from exc
        if not resolved.is_relative_to(self.root):
            raise PatchRefused(f"`{_short(name)}` leads outside the workspace through a symlink")
        return resolved

    def _checked(self, name: str) -> Path:
        if not name.strip() or "\x00" in name:
            raise PatchRefused(f"`{_short(name)}` is not a file name")
        if Path(name).is_absolute() or name.startswith("~"):
            raise PatchRefused(f"`{_short(name)}` is an absolute path; give a path inside the "
                               f"workspace")
        if os.path.normpath(name).split(os.sep)[0] == "..":
            raise PatchRefused(f"`{_short(name)}` climbs out of the workspace with `..`")
        return self.root / os.path.normpath(name)

    def path(self, name: str) -> Path:
        """The file `name` means, or PatchRefused when it is not inside the workspace or is
        there but not a regular file."""
        resolved = self._inside(name, self._checked(name))
        if resolved == self.root:
            raise PatchRefused(f"`{_short(name)}` is the workspace itself, not a file")
        _regular_or_missing(name, resolved)
        return resolved

    def entry(self, name: str) -> Path:
        """The directory entry `name` means, a symlink itself rather than what it points to:
        what a delete (or the source of a move) removes."""
        self.path(name)  # all the checks, on where it leads too
        lexical = self._checked(name)
        return self._inside(name, lexical.parent) / lexical.name

    def read(self, name: str) -> str:
        path = self.path(name)
        try:  # O_NONBLOCK: should a FIFO appear since the check, the open does not wait
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise DiffError(f"`{name}` does not exist") from exc
        with open(fd, encoding="utf-8") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PatchRefused(f"`{_short(name)}` is not a regular file")
            return file.read()

    def apply(self, patch: str) -> str:
        """Check the whole patch, stage every change, commit; returns what changed."""
        seen: dict[Path, str] = {}
        for line in patch.splitlines():
            for section in SECTIONS:
                if line.startswith(section):
                    name = line[len(section):]
                    key = self.path(name)
                    if key in seen:
                        raise PatchRefused(f"`{_short(name)}` is named twice in the patch "
                                           f"(also as `{_short(seen[key])}`)")
                    seen[key] = name
        for name in identify_files_added(patch):
            if self.path(name).exists():
                raise DiffError(f"`{name}` already exists; use *** Update File to change it")
        writes: list[tuple[Path, str]] = []
        removals: list[Path] = []
        apply_patch(
            patch,
            self.read,
            lambda name, content: writes.append((self.path(name), content)),
            lambda name: removals.append(self.entry(name)),
        )
        _commit(writes, removals)
        changed = [p.relative_to(self.root).as_posix() for p, _ in writes]
        removed = [p.relative_to(self.root).as_posix() for p in removals]
        parts = [f"wrote {', '.join(changed)}" if changed else "",
                 f"deleted {', '.join(removed)}" if removed else ""]
        return "Done! " + "; ".join(p for p in parts if p) + "." if any(parts) else "Done!"


def _regular_or_missing(name: str, path: Path) -> None:
    try:
        mode = path.stat().st_mode  # no open: a FIFO would block, a device would act
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PatchRefused(f"`{_short(name)}` cannot be read ({_reason(exc)})") from exc
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise PatchRefused(f"`{_short(name)}` is {what}")


def _commit(writes: list[tuple[Path, str]], removals: list[Path]) -> None:
    """Stage, then rename into place; on any failure undo every step done, newest first."""
    undo: list[Callable[[], None]] = []
    backups: list[Path] = []

    def set_aside(path: Path) -> None:
        backup = path.with_name(f".{path.name}.{secrets.token_hex(4)}.gyrosi-backup")
        os.rename(path, backup)
        undo.append(functools.partial(os.rename, backup, path))
        backups.append(backup)

    try:
        staged: list[tuple[Path, Path]] = []
        for target, content in writes:
            _make_folders(target.parent, undo)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".gyrosi-patch")
            temp = Path(name)
            undo.append(functools.partial(temp.unlink, missing_ok=True))
            with open(fd, "w", encoding="utf-8") as file:
                file.write(content)
            with contextlib.suppress(FileNotFoundError):  # a changed file keeps its mode
                info = target.stat()
                os.chmod(temp, stat.S_IMODE(info.st_mode))
                if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):  # and its owner, where we may
                        os.chown(temp, info.st_uid, info.st_gid)
            staged.append((temp, target))
        for temp, target in staged:
            if os.path.lexists(target):
                set_aside(target)
            os.rename(temp, target)
            undo.append(functools.partial(os.rename, target, temp))
        for path in removals:
            if os.path.lexists(path):
                set_aside(path)
    except BaseException:
        for step in reversed(undo):
            with contextlib.suppress(OSError):
                step()
        raise
    for backup in backups:
        with contextlib.suppress(OSError):
            backup.unlink()


def _make_folders(folder: Path, undo: list[Callable[[], None]]) -> None:
    """Path.mkdir(parents=True) without its recursion (a path 2,000 folders deep), each new
    folder removable on rollback."""
    missing = []
    while not folder.is_dir():
        if os.path.lexists(folder):
            raise NotADirectoryError(f"{folder.name} is not a folder")
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        undo.append(path.rmdir)


def _short(name: str) -> str:
    return name if len(name) <= 120 else name[:60] + "…" + name[-40:]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).lower() or type(exc).__name__


def make_apply_patch(config: dict[str, Any]) -> FunctionTool:
    """Apply patches to files inside a workspace directory."""
    settings = validate_section(PatchConfig, config, "tools.functions.apply_patch")
    workspace = Workspace(settings.workspace or Path.cwd())

    def run(patch: str) -> str:
        if not isinstance(patch, str):
            raise ToolCallError("Error: `patch` must be a string holding the patch text.")
        try:
            return workspace.apply(patch)
        except PatchRefused as exc:
            raise ToolCallError(f"Error: refused: {exc}; nothing was changed.") from exc
        except (DiffError, UnicodeDecodeError) as exc:
            raise ToolCallError(f"Error applying patch: {exc}; nothing was changed.") from exc
        except OSError as exc:  # the disk said no while staging or committing: rolled back
            raise ToolCallError(f"Error applying patch: {_reason(exc)}; nothing was changed.") \
                from exc

    return FunctionTool("apply_patch", DESCRIPTION, run, PARAMETERS)
