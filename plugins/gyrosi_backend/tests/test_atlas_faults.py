"""Tampered, truncated, missing and foreign atlas files are refused; killed builds leave nothing."""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gyrosi_engine.atlas import (
    Atlas,
    AtlasCorruptError,
    AtlasMissingError,
    AtlasPaths,
    ensure_atlas,
)
from gyrosi_engine.atlas.build import build_lock, remove_stale
from gyrosi_engine.atlas.layout import BUILD_PREFIX
from gyrosi_engine.atlas.progress import Silent


def clone(built_home: Path, tmp_path: Path, copy: tuple[str, ...] = ()) -> AtlasPaths:
    """A second home sharing the built maps by hard link, with `copy` files really copied.

    Only a copied file may be written in place: writing a hard link would damage the shared atlas.
    """
    home = tmp_path / "home"
    (home / "atlas").mkdir(parents=True)
    for src in (built_home / "atlas").iterdir():
        dst = home / "atlas" / src.name
        if src.name in copy or src.suffix == ".json":
            shutil.copy2(src, dst)
        else:
            os.link(src, dst)
    return AtlasPaths(home)


def refused(paths: AtlasPaths, match: str) -> str:
    with pytest.raises(AtlasCorruptError, match=match) as info:
        Atlas.load(paths)
    message = str(info.value)
    assert "gyrosi atlas build --force" in message
    return message


def test_edited_map_is_refused(built_home: Path, tmp_path: Path) -> None:
    paths = clone(built_home, tmp_path, copy=("theta.npy",))
    Atlas.load(paths)  # a copy re-hashes once and is trusted
    target = paths.map_file("theta")
    with target.open("r+b") as fh:  # edit in place: same size, same inode
        fh.seek(-5, os.SEEK_END)
        byte = fh.read(1)
        fh.seek(-5, os.SEEK_END)
        fh.write(bytes([byte[0] ^ 0xFF]))
    message = refused(paths, "does not match its manifest hash")
    assert str(target) in message


def test_a_map_damaged_in_place_with_its_stamp_kept_is_refused(built_home: Path,
                                                              tmp_path: Path) -> None:
    """Size, mtime and inode unchanged, so the full hash is not redone: the blocks a load
    spot-checks (the first and last of each map among them) catch it."""
    paths = clone(built_home, tmp_path, copy=("ontology.npy",))
    Atlas.load(paths)  # the copy is re-hashed once and trusted, with its block hashes
    target = paths.map_file("ontology")
    before = target.stat()
    with target.open("r+b") as fh:
        fh.seek(4096)
        byte = fh.read(1)
        fh.seek(4096)
        fh.write(bytes([byte[0] ^ 0x01]))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert [target.stat().st_size, target.stat().st_mtime_ns, target.stat().st_ino] == \
        [before.st_size, before.st_mtime_ns, before.st_ino]
    message = refused(paths, "damaged in place")
    assert str(target) in message


def test_truncated_map_is_refused(built_home: Path, tmp_path: Path) -> None:
    paths = clone(built_home, tmp_path)
    target = paths.map_file("epistemology")
    target.unlink()
    with (built_home / "atlas" / "epistemology.npy").open("rb") as src:
        target.write_bytes(src.read(1 << 20))
    assert str(target) in refused(paths, "truncated")


def test_missing_map_is_refused(built_home: Path, tmp_path: Path) -> None:
    paths = clone(built_home, tmp_path)
    paths.map_file("orbit_sizes").unlink()
    assert "orbit_sizes.npy" in refused(paths, "is missing")


def test_foreign_format_version_is_refused(built_home: Path, tmp_path: Path) -> None:
    paths = clone(built_home, tmp_path)
    manifest = json.loads(paths.manifest.read_text())
    manifest["format_version"] = 99
    paths.manifest.write_text(json.dumps(manifest))
    refused(paths, "format version 99")


def test_missing_atlas_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(AtlasMissingError, match="gyrosi atlas build"):
        Atlas.load(AtlasPaths(tmp_path))


def test_cli_reports_one_sentence(built_home: Path, tmp_path: Path, cli) -> None:
    paths = clone(built_home, tmp_path, copy=("phenomenology.npy",))
    paths.map_file("phenomenology").write_bytes(b"not numpy")
    result = cli.run(paths.home, "atlas", "verify")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "phenomenology.npy" in result.stderr and "--force" in result.stderr


def _wait_for(
    predicate: Callable[[], bool], proc: subprocess.Popen[str], seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, "the build ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_killed_build_leaves_nothing_that_loads(tmp_path: Path, cli) -> None:
    paths = AtlasPaths(tmp_path)
    proc = cli.start(tmp_path, "atlas", "build")
    # Kill it while it is writing the maps: the worst moment.
    _wait_for(lambda: any(tmp_path.glob(BUILD_PREFIX + "*/*.npy")), proc)
    proc.kill()
    proc.wait()
    assert not paths.root.exists()
    with pytest.raises(AtlasMissingError):
        Atlas.load(paths)
    info = cli.run(tmp_path, "atlas", "info")
    assert info.returncode == 1 and "No atlas" in info.stderr and "Traceback" not in info.stderr
    # The next build (holding the lock) clears what the killed one left.
    with build_lock(paths, Silent()):
        remove_stale(paths)
    assert not list(tmp_path.glob(BUILD_PREFIX + "*"))


def test_interrupted_build_cleans_up(tmp_path: Path, cli) -> None:
    proc = cli.start(tmp_path, "atlas", "build", ctrl_c=True)
    _wait_for(lambda: (tmp_path / "atlas.lock").exists(), proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert not (tmp_path / "atlas").exists()
    assert not list(tmp_path.glob(BUILD_PREFIX + "*"))


def test_missing_atlas_cli(tmp_path: Path, cli) -> None:
    for command in ("info", "verify"):
        result = cli.run(tmp_path, "atlas", command)
        assert result.returncode == 1
        assert "No atlas" in result.stderr and "gyrosi atlas build" in result.stderr
        assert "Traceback" not in result.stderr


def test_ensure_atlas_refuses_a_damaged_atlas(built_home: Path, tmp_path: Path) -> None:
    # First use builds only when there is no atlas; a damaged one is an error, never overwritten.
    paths = clone(built_home, tmp_path)
    paths.map_file("ontology").unlink()
    with pytest.raises(AtlasCorruptError, match="ontology.npy"):
        ensure_atlas(paths, Silent())
    assert not paths.map_file("ontology").exists()
    assert ensure_atlas(AtlasPaths(built_home), Silent()).n_states == 788_986


def test_a_dangling_atlas_link_is_replaced_by_a_build(tmp_path: Path) -> None:
    # A home whose `atlas` links to a folder that is gone (a shared atlas deleted elsewhere).
    home = tmp_path / "home"
    home.mkdir()
    (home / "atlas").symlink_to(tmp_path / "gone", target_is_directory=True)
    atlas = ensure_atlas(AtlasPaths(home), Silent())
    assert atlas.n_states == 788_986
    assert (home / "atlas").is_dir() and not (home / "atlas").is_symlink()
