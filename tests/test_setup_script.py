"""setup.sh finds a Python >= 3.12 on PATH, then under pyenv, and says so when there is none;
`run` installs what the chat needs (no torch), `test` everything."""

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


FAKE_PYTHON = """#!/bin/sh
# Stands in for Python >= 3.12: `-m venv DIR` makes a venv of fakes, `-m pip ...` is recorded.
log="{log}"
if [ "$1" = "-c" ]; then exit 0; fi
if [ "$1" = "--version" ]; then echo "Python 3.12.9"; exit 0; fi
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  cp "$0" "$3/bin/python"
  for tool in gyrosi ruff mypy; do
    printf '#!/bin/sh\\necho "%s $*" >> "%s"\\n' "$tool" "$log" > "$3/bin/$tool"
    chmod +x "$3/bin/$tool"
  done
  exit 0
fi
echo "python $*" >> "$log"
"""


def _checkout(tmp_path):
    """A copy of setup.sh beside pyproject files shaped like this repository's."""
    root = tmp_path / "checkout"
    for plugin in ("gyrosi_backend", "stub_backend", "tools_oss", "transformers_backend"):
        (root / "plugins" / plugin).mkdir(parents=True)
        (root / "plugins" / plugin / "pyproject.toml").write_text(f"# {plugin}\n")
    (root / "pyproject.toml").write_text("# core\n")
    shutil.copy(REPO / "setup.sh", root / "setup.sh")
    log = tmp_path / "calls.log"
    _fake_python(tmp_path / "bin" / "python3.12", (3, 12))
    (tmp_path / "bin" / "python3.12").write_text(FAKE_PYTHON.format(log=log))
    return root, log


def _run(tmp_path, root, *args):
    bin_dir = tmp_path / "bin"
    for tool in ("bash", "dirname", "ls", "sort", "cat", "sha256sum", "cut", "env", "mkdir",
                 "cp", "chmod", "rm"):
        if (found := shutil.which(tool)) and not (bin_dir / tool).exists():
            os.symlink(found, bin_dir / tool)
    return subprocess.run([shutil.which("bash"), str(root / "setup.sh"), *args],
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=60)


def test_run_installs_what_the_chat_needs_and_test_installs_everything(tmp_path):
    root, log = _checkout(tmp_path)
    result = _run(tmp_path, root, "run", "--no-log")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    install = next(c for c in calls if "--no-build-isolation" in c)
    assert "-e . " in install + " " and ".[test]" not in install
    assert all(f"-e plugins/{p}" in install for p in ("gyrosi_backend", "stub_backend",
                                                       "tools_oss"))
    assert "transformers_backend" not in install  # torch: not for a chat that does not use it
    assert calls[-1] == "gyrosi run --no-log"  # no --backend: the engine is the default

    log.write_text("")
    assert _run(tmp_path, root, "run").returncode == 0  # already set up: straight to the chat
    assert log.read_text().splitlines() == ["gyrosi run"]

    log.write_text("")
    result = _run(tmp_path, root, "test", "-q")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    install = next(c for c in calls if "--no-build-isolation" in c)
    assert "-e .[test]" in install and "-e plugins/transformers_backend" in install
    assert calls[-3:] == ["ruff check .", "mypy ", "python -m pytest -n auto --dist loadfile -q"]

    log.write_text("")
    assert _run(tmp_path, root, "run").returncode == 0  # everything is there: nothing to add
    assert log.read_text().splitlines() == ["gyrosi run"]
