"""setup.sh finds a Python >= 3.12 on PATH, then under pyenv, and says so when there is none."""

import os
import shutil
import subprocess
import sys

from .conftest import REPO


def _setup(tmp_path, *args, **env):
    script = tmp_path / "setup.sh"
    shutil.copy(REPO / "setup.sh", script)  # a copy: no .venv beside it to short-cut the search
    base = {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path / "home")}
    (tmp_path / "bin").mkdir(exist_ok=True)
    for tool in ("bash", "dirname", "ls", "sort", "cat", "sha256sum", "cut", "env"):
        if (found := shutil.which(tool)) and not (tmp_path / "bin" / tool).exists():
            os.symlink(found, tmp_path / "bin" / tool)
    return subprocess.run([shutil.which("bash"), str(script), *args], env=base | env,
                          capture_output=True, text=True, timeout=60)


def _fake_python(path, version):
    path.parent.mkdir(parents=True, exist_ok=True)
    major, minor = version
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; "
                    f"sys.exit(({major}, {minor}) < (3, 12))'\n")
    path.chmod(0o755)


def test_no_python_is_one_clear_sentence(tmp_path):
    _fake_python(tmp_path / "bin" / "python3", (3, 11))  # too old, on PATH
    result = _setup(tmp_path, "python")
    assert result.returncode == 1
    assert "no Python >= 3.12 found on PATH or under pyenv" in result.stderr


def test_pyenv_version_is_found(tmp_path):
    _fake_python(tmp_path / "bin" / "python3", (3, 11))
    wanted = tmp_path / "home" / ".pyenv" / "versions" / "3.12.4" / "bin" / "python3"
    _fake_python(wanted, (3, 12))
    _fake_python(tmp_path / "home" / ".pyenv" / "versions" / "3.13.1" / "bin" / "python3",
                 (3, 13))
    result = _setup(tmp_path, "python")
    assert (result.returncode, result.stdout.strip()) == (0, str(wanted))


def test_path_wins_over_pyenv_and_env_var_wins_over_both(tmp_path):
    on_path = tmp_path / "bin" / "python3.12"
    _fake_python(on_path, (3, 12))
    _fake_python(tmp_path / "home" / ".pyenv" / "versions" / "3.12.4" / "bin" / "python3",
                 (3, 12))
    assert _setup(tmp_path, "python").stdout.strip() == str(on_path)
    chosen = tmp_path / "custom" / "python"
    _fake_python(chosen, (3, 13))
    assert _setup(tmp_path, "python", GYROSI_PYTHON=str(chosen)).stdout.strip() == str(chosen)
    bad = _setup(tmp_path, "python", GYROSI_PYTHON=str(tmp_path / "nope"))
    assert bad.returncode == 1 and "is not a working Python >= 3.12" in bad.stderr
