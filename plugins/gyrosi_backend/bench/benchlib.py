"""Shared helpers of the engine benchmarks (learn.py, generate.py, recall.py): a throwaway home
that borrows the built atlas, the corpora, and the figure lines with their targets."""

import os
import resource
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The larger learning corpus: text files of the Python standard library, up to this many bytes.
STDLIB_CAP = 20_000_000
STDLIB_SUFFIXES = (".py", ".txt", ".rst")


def atlas_root() -> Path:
    """The default home's atlas, built first if there is none (about a minute, once)."""
    from gyrosi_engine.atlas import ensure_atlas

    return ensure_atlas().root


@contextmanager
def temp_home(atlas: Path | None = None) -> Iterator[Path]:
    """A fresh GYROSI_HOME whose `atlas` is a symlink to a built one: memory starts empty."""
    with tempfile.TemporaryDirectory(prefix="gyrosi-bench-") as tmp:
        home = Path(tmp)
        (home / "atlas").symlink_to(atlas or atlas_root())
        yield home


def settings(depth: int | None = None, per_context: int | None = None) -> Any:
    """The engine's settings for a benchmark: no starter corpus; the defaults unless given."""
    from gyrosi_engine.settings import GyroConfig

    extra = {k: v for k, v in (("depth", depth), ("per_context", per_context)) if v is not None}
    return GyroConfig(starter=False, **extra)


def pydoc_topics() -> list[tuple[str, str]]:
    """(name, text) of every `pydoc_data.topics` topic, in dict order."""
    from pydoc_data.topics import topics

    return list(topics.items())


def stdlib_corpus(cap: int = STDLIB_CAP) -> list[tuple[str, str]]:
    """(relative path, text) of the standard library's .py/.txt/.rst files in sorted path order
    (site-packages and files that are not UTF-8 left out), until `cap` bytes are reached."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in root.rglob("*")
        if p.suffix in STDLIB_SUFFIXES and "site-packages" not in p.parts and p.is_file()
    )
    out: list[tuple[str, str]] = []
    total = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        size = len(text.encode())
        if not size:
            continue
        out.append((str(path.relative_to(root)), text))
        total += size
        if total >= cap:
            break
    return out


def utf8_bytes(texts: list[str]) -> int:
    return sum(len(t.encode()) for t in texts)


def peak_rss() -> int:
    """This process's peak resident set, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def machine_line(what: str, how: str) -> str:
    """The heading: what ran, how figures are taken, and the machine's load right now."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{what}: {how} (python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
            f"load average {load})")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW"


def line(label: str, value: str, target: str = "", ok: bool | None = None) -> str:
    """One figure: label, value, and the target with PASS/BELOW when it has one."""
    tail = f"   target {target}: {verdict(ok)}" if target and ok is not None else ""
    return f"  {label:<44} {value:>16}{tail}"


def print_line(*args: Any, **kwargs: Any) -> None:
    print(line(*args, **kwargs), flush=True)
