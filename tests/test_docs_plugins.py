"""docs/plugins.md, followed word for word: every file it shows is written, every command it
shows is run in a fresh virtual environment (offline: pip is told to use no index), and every
line of output it shows must appear, in order, in what the command prints."""

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import REPO

DOC = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
FILES = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", DOC, re.S)
RUNS = re.findall(r"<!-- run: (\S+) -->\n```console\n(.*?)```", DOC, re.S)
HOOKS = ["register_backends", "register_tools", "register_channel_handlers", "register_commands",
         "register_engine_options", "register_routes"]


def commands(block: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines shown after it) for each `$ ` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return steps


def test_the_page_shows_every_hook_and_a_complete_package():
    code = "\n".join(text for _, text in FILES) + DOC
    assert all(f"def {hook}(" in code for hook in HOOKS)
    names = [path for path, _ in FILES]
    assert "gyrosi-shout/pyproject.toml" in names and "gyrosi-shout/tests/test_shout.py" in names
    assert RUNS and all(commands(block) for _, block in RUNS)


def fresh_venv(root: Path) -> dict[str, str]:
    """A new virtual environment that sees this one's packages (gyrosi among them) the way a
    user's environment with gyrosi installed does; `gyrosi` and `pytest` on its PATH."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300,
                   capture_output=True)
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    ours = sysconfig.get_paths()["purelib"]
    (site_packages / "_gyrosi_test_parent.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n", encoding="utf-8")
    python = venv / "bin" / "python"
    for name, module in (("gyrosi", "gyrosi_core"), ("pytest", "pytest")):
        script = venv / "bin" / name
        script.write_text(f'#!/bin/sh\nexec "{python}" -m {module} "$@"\n', encoding="utf-8")
        script.chmod(0o755)
    return {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "VIRTUAL_ENV": str(venv),
        "HOME": str(root / "home"), "GYROSI_HOME": str(root / "gyrosi-home"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


@pytest.mark.skipif(sys.platform == "win32", reason="runs the page's shell commands")
def test_following_the_tutorial_word_for_word(tmp_path):
    for path, text in FILES:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    env = fresh_venv(tmp_path)
    for folder, block in RUNS:
        for command, shown in commands(block):
            result = subprocess.run(["bash", "-c", command], cwd=tmp_path / folder, env=env,
                                    capture_output=True, text=True, timeout=600,
                                    stdin=subprocess.DEVNULL)
            assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
            printed = iter(result.stdout.splitlines())
            for line in shown:  # each shown line, in order, among the printed ones
                assert any(out == line for out in printed), \
                    f"$ {command}: {line!r} not shown in order; it printed:\n{result.stdout}"
    assert "each" in subprocess.run(["bash", "-c", "gyrosi --help"], env=env, text=True,
                                    capture_output=True, cwd=tmp_path).stdout
    assert os.path.isdir(tmp_path / "gyrosi-shout" / "gyrosi_shout.egg-info") or \
        list((tmp_path / "venv").rglob("__editable__*gyrosi_shout*"))
