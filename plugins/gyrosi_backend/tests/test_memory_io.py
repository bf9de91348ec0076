"""The memory when its files misbehave: leftovers of killed writers, a damaged journal header,
files and folders swapped, a missing export folder, a read-only mount and a full disk. Each is one
sentence and a non-zero exit, never a traceback; reading commands work on a read-only memory."""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gyrosi_engine.memory.store import JOURNAL, LOCK, SNAPSHOT

from .test_learn_cli import learned, one_error

Cli = Any
Kit = Any  # conftest.MemoryKit

TEXT = "The orchard keeper counted eleven amber pears beside the northern wall at noon.\n"


def learn_text(cli: Cli, home: Path, config: Path, folder: Path, name: str = "a.txt",
               text: str = TEXT) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return cli.run(home, "learn", "--config", str(config), str(path))


def run(cli: Cli, home: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli.run(home, *args, "--config", str(config))


def test_leftovers_of_killed_writers_are_counted_then_removed(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    assert learn_text(cli, home, config, tmp_path / "in").returncode == 0
    stray = home / "memory" / f".{SNAPSHOT}.424242.tmp"
    stray.write_bytes(b"\0" * 5000)
    stats = kit.stats(home, config)
    assert stats["stray_files"] == 1 and stats["stray_bytes"] == 5000
    assert stray.exists()  # reading removes nothing
    again = learn_text(cli, home, config, tmp_path / "in", "b.txt", "Another line.\n")
    assert again.returncode == 0, again.stderr
    assert not stray.exists() and kit.stats(home, config)["stray_files"] == 0


def test_a_flipped_journal_header_byte_is_called_damage(
    cli: Cli, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    assert learn_text(cli, home, config, tmp_path / "in").returncode == 0
    journal = home / "memory" / JOURNAL
    data = bytearray(journal.read_bytes())
    data[10] ^= 0xFF  # inside the format version field
    journal.write_bytes(bytes(data))
    done = run(cli, home, config, "memory", "stats")
    assert done.returncode != 0
    error = one_error(done.stderr)
    assert "damaged header" in error and "format version" not in error


@pytest.mark.parametrize("case", ["lock is a folder", "memory is a file", "snapshot is a folder"])
def test_files_and_folders_swapped_are_one_sentence(
    cli: Cli, home_cfg: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    home, config = home_cfg
    memory = home / "memory"
    if case == "memory is a file":
        memory.write_text("not a folder")
    elif case == "lock is a folder":
        memory.mkdir(exist_ok=True)
        (memory / LOCK).mkdir()
    else:
        memory.mkdir(exist_ok=True)
        (memory / SNAPSHOT).mkdir()
    done = learn_text(cli, home, config, tmp_path / "in")
    assert done.returncode != 0
    one_error(done.stderr)
    stats = run(cli, home, config, "memory", "stats")
    if case == "lock is a folder":  # reading needs no lock it cannot take
        assert stats.returncode == 0, stats.stderr
    else:
        assert stats.returncode != 0
        one_error(stats.stderr)


def test_export_into_a_missing_folder_is_one_sentence(
    cli: Cli, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    assert learn_text(cli, home, config, tmp_path / "in").returncode == 0
    done = run(cli, home, config, "memory", "export", str(tmp_path / "nowhere" / "m.gsm"))
    assert done.returncode != 0
    assert "does not exist" in one_error(done.stderr)


@contextlib.contextmanager
def mounted(args: list[str], target: Path) -> Iterator[None]:
    """A mount made for the test (root only), undone after it; skipped where not allowed."""
    target.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot mount here ({made.stderr.strip() or 'mount failed'}); "
                    f"CI runs as root and runs this test")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_read_only_memory_is_read_and_refuses_writes_in_a_sentence(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    assert learn_text(cli, home, config, tmp_path / "in").returncode == 0
    before = kit.stats(home, config)
    memory = home / "memory"
    with mounted(["--bind", str(memory)], memory):
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(memory)],
                                 capture_output=True, text=True)
        if remount.returncode:
            pytest.skip(f"cannot remount read-only ({remount.stderr.strip()})")
        assert kit.stats(home, config)["tokens_learned"] == before["tokens_learned"]
        export = run(cli, home, config, "memory", "export", str(tmp_path / "copy.gsm"))
        assert export.returncode == 0, export.stderr
        answer = cli.run(home, "generate", "--backend", "gyrosi", "--no-learn", "--config",
                         str(config), "The orchard keeper counted eleven")
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.startswith(" amber pears")
        refused = learn_text(cli, home, config, tmp_path / "in", "b.txt", "More text.\n")
        assert refused.returncode != 0
        assert "Read-only file system" in one_error(refused.stderr)
        reset = run(cli, home, config, "memory", "reset", "--yes")
        assert reset.returncode != 0
        one_error(reset.stderr)
    assert kit.stats(home, config)["tokens_learned"] == before["tokens_learned"]


def test_a_full_disk_is_one_sentence_and_loses_nothing_committed(
    cli: Cli, kit: Kit, home_cfg: tuple[Path, Path], tmp_path: Path
) -> None:
    home, config = home_cfg
    memory = home / "memory"
    with mounted(["-t", "tmpfs", "-o", "size=6m", "tmpfs"], memory):
        parts = kit.corpus(tmp_path / "corpus", 2.5, 1)
        full = cli.run(home, "learn", "--config", str(config), *map(str, parts))
        assert full.returncode != 0
        assert "No space left on device" in one_error(full.stderr)
        stats = kit.stats(home, config)  # the memory opens; whole batches only
        assert stats["tokens_learned"] >= 0
        answer = cli.run(home, "generate", "--backend", "gyrosi", "--no-learn", "--config",
                         str(config), "Hello")
        assert answer.returncode == 0, answer.stderr  # reading writes nothing
        # space comes back: learning resumes and keeps what was committed
        grown = subprocess.run(["mount", "-o", "remount,size=512m", str(memory)],
                               capture_output=True, text=True)
        assert grown.returncode == 0, grown.stderr
        small = learn_text(cli, home, config, tmp_path / "in")
        assert small.returncode == 0, small.stderr
        assert learned(small.stdout) > 0
        assert kit.stats(home, config)["tokens_learned"] >= stats["tokens_learned"]
