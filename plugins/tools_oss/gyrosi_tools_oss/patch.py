"""`functions.apply_patch`: gpt-oss's apply_patch with file access confined to a workspace root.

gpt-oss parses the patch and computes the new contents; it reads, writes and removes files
through the functions it is given. Ours resolve every path inside the workspace and refuse
absolute paths, `..` escapes and symlinks that lead out. All paths of a patch are checked before
any file is touched, so a refused patch changes nothing.
"""

import os
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


class Workspace:
    def __init__(self, root: Path) -> None:
        root = root.expanduser()
        if not root.is_dir():
            raise ConfigError(f"The apply_patch workspace {root} is not a directory.")
        self.root = root.resolve()

    def path(self, name: str) -> Path:
        """The file `name` means, or PatchRefused when it is not inside the workspace."""
        if not name.strip() or "\x00" in name:
            raise PatchRefused(f"`{name}` is not a file name")
        if Path(name).is_absolute() or name.startswith("~"):
            raise PatchRefused(f"`{name}` is an absolute path; give a path inside the workspace")
        if os.path.normpath(name).split(os.sep)[0] == "..":
            raise PatchRefused(f"`{name}` climbs out of the workspace with `..`")
        resolved = (self.root / name).resolve()  # follows every symlink on the way
        if not resolved.is_relative_to(self.root):
            raise PatchRefused(f"`{name}` leads outside the workspace through a symlink")
        if resolved == self.root:
            raise PatchRefused(f"`{name}` is the workspace itself, not a file")
        return resolved

    def read(self, name: str) -> str:
        path = self.path(name)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise DiffError(f"`{name}` does not exist") from exc

    def apply(self, patch: str) -> str:
        """Check the whole patch, then write; returns what changed, for the model."""
        for name in identify_files_added(patch):
            if self.path(name).exists():
                raise DiffError(f"`{name}` already exists; use *** Update File to change it")
        writes: list[tuple[Path, str]] = []
        removals: list[Path] = []
        apply_patch(
            patch,
            self.read,
            lambda name, content: writes.append((self.path(name), content)),
            lambda name: removals.append(self.path(name)),
        )
        for path, content in writes:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        for path in removals:
            path.unlink(missing_ok=True)
        changed = [p.relative_to(self.root).as_posix() for p, _ in writes]
        removed = [p.relative_to(self.root).as_posix() for p in removals]
        parts = [f"wrote {', '.join(changed)}" if changed else "",
                 f"deleted {', '.join(removed)}" if removed else ""]
        return "Done! " + "; ".join(p for p in parts if p) + "." if any(parts) else "Done!"


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
        except OSError as exc:  # the disk said no while writing: some files may be written
            raise ToolCallError(f"Error applying patch: {exc}.") from exc

    return FunctionTool("apply_patch", DESCRIPTION, run, PARAMETERS)
