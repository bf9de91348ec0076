"""What a new user gets without flags: the default backend, the packaged defaults, the user's
own config file under the platform's config directory, and a wheel install that runs."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from gyrosi_core.config import Config, defaults
from gyrosi_core.testing import run_gyrosi

from .conftest import REPO

FAKE_ENGINE = '''
from gyrosi_core import hookimpl
from gyrosi_stub.backend import StubBackend


class FakeEngine(StubBackend):
    """Stands in for the GyroSI engine"""

    def __init__(self, config, encoding):
        super().__init__({"script": [{"reply": [{"channel": "final", "text": "engine: {user}"}]}]},
                         encoding)


@hookimpl
def register_backends(register):
    register("gyrosi", FakeEngine)
'''

ECHO = FAKE_ENGINE.replace('"gyrosi"', '"echo"').replace("engine: ", "echo: ")


@pytest.fixture
def site(plugin_site):
    site = plugin_site()
    site.add("gyrosi-fake-engine", "gyrosi_fake_engine", FAKE_ENGINE, entry_point="fake_engine")
    site.add("gyrosi-echo", "gyrosi_echo", ECHO, entry_point="echo")
    return site


def generate(env, *args):
    return run_gyrosi("generate", *args, "hi", env=env)


def test_the_gyrosi_engine_is_the_default_backend(gyrosi_home, site):
    env = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="fake_engine,echo,stub")
    assert generate(env).stdout == "engine: hi\n"
    assert generate(env, "-b", "stub").stdout == "You said: hi\n"
    listing = run_gyrosi("backends", env=env).stdout
    assert "gyrosi (default): Stands in for the GyroSI engine" in listing
    assert "stub: " in listing and "stub (default)" not in listing


def test_else_the_only_backend_else_one_sentence(gyrosi_home, site):
    only = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="stub")
    assert generate(only).stdout == "You said: hi\n"
    two = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="echo,stub")
    result = generate(two)
    assert result.returncode == 2
    assert result.stderr.strip() == ("Error: Several backends are installed (echo, stub); choose "
                                     "one with --backend NAME or core.backend in the config.")
    none = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="")
    result = generate(none)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: No backend is installed; install the GyroSI engine")
    assert "pip install gyrosi-backend" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "No backend is installed" in run_gyrosi("backends", env=none).stdout


def test_packaged_defaults_match_the_models():
    assert Config.model_validate(defaults()) == Config()
    assert Config().core.backend is None and Config().core.log is True


def test_user_config_then_gyrosi_config_then_flag(gyrosi_home, tmp_path):
    user_dir = tmp_path / "xdg" / "gyrosi"
    user_dir.mkdir(parents=True)
    (user_dir / "config.json").write_text(json.dumps(
        {"core": {"max_tokens": 4, "backend": "stub"}}))
    env = {**os.environ, "GYROSI_HOME": str(gyrosi_home),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env.pop("GYROSI_CONFIG", None)

    def completion_tokens(*args, **extra):
        result = run_gyrosi("generate", "--json", *args, "hello there", env={**env, **extra})
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["usage"]["completion_tokens"]

    assert completion_tokens() == 4  # the user's file, over the packaged defaults
    over = tmp_path / "over.json"
    over.write_text(json.dumps({"core": {"max_tokens": 6}}))  # keeps the user's backend
    assert completion_tokens(GYROSI_CONFIG=str(over)) == 6
    flag = tmp_path / "flag.json"
    flag.write_text(json.dumps({"core": {"max_tokens": 7}}))
    assert completion_tokens("--config", str(flag), GYROSI_CONFIG=str(over)) == 7
    assert completion_tokens("--config", str(flag), "--max-tokens", "5") == 5
    (user_dir / "config.json").write_text('{"core": {"max_tokens": 0}}')
    bad = run_gyrosi("generate", "hi", env=env)
    assert bad.returncode == 1
    assert f"Config file {user_dir / 'config.json'}: core.max_tokens" in bad.stderr


def test_a_wheel_install_runs_with_its_packaged_defaults(gyrosi_home, tmp_path):
    """The core built as a wheel and installed (not editable) where no repository is near."""
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ there
    shutil.copytree(REPO / "gyrosi_core", source / "gyrosi_core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(dist), str(source)],
                   check=True, capture_output=True, timeout=300)
    wheel, = dist.glob("gyrosi-*.whl")
    assert "gyrosi_core/defaults.json" in zipfile.ZipFile(wheel).namelist()
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {"GYROSI_HOME": str(gyrosi_home), "PYTHONPATH": str(target),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "GYROSI_LOAD_PLUGINS": "stub",
           "PATH": "/usr/bin:/bin"}
    where = subprocess.run(
        [sys.executable, "-c", "import gyrosi_core; print(gyrosi_core.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(target))
    result = subprocess.run([sys.executable, "-m", "gyrosi_core", "generate", "--json", "hi"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["final"] == "You said: hi"
