"""Where GyroSI keeps mutable data (atlas, memories, caches, history)."""

import os
from pathlib import Path

import platformdirs

from .errors import GyrosiError


def gyrosi_home() -> Path:
    """`GYROSI_HOME`, else the XDG data dir (`~/.local/share/gyrosi`). Created on demand, private
    to its owner (0700): it holds conversations and stored responses."""
    env = os.environ.get("GYROSI_HOME")
    home = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("gyrosi"))
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise GyrosiError(
            f"Cannot create the GyroSI data directory {home} ({exc.strerror}); "
            f"set GYROSI_HOME to a writable directory."
        ) from exc
    return home


def cache_dir(*parts: str) -> Path:
    path = gyrosi_home().joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Create `path` readable by its owner only (0600) if it does not exist yet (SQLite gives its
    -wal and -shm files the database file's mode)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    return path
