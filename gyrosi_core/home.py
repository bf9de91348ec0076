"""Where GyroSI keeps mutable data (atlas, memories, caches, history)."""

import os
from pathlib import Path

import platformdirs


def gyrosi_home() -> Path:
    """`GYROSI_HOME`, else the XDG data dir (`~/.local/share/gyrosi`). Created on demand."""
    env = os.environ.get("GYROSI_HOME")
    home = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("gyrosi"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir(*parts: str) -> Path:
    path = gyrosi_home().joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
