"""Plugin discovery through real entry points, in real `gyrosi` processes."""

import json
import subprocess
import sys
import textwrap

from gyrosi_core.testing import run_gyrosi

ECHO_BACKEND = """
from gyrosi_core import hookimpl
from gyrosi_stub.backend import StubBackend


class EchoBackend(StubBackend):
    '''Echo backend from a third-party package'''

    def __init__(self, config, encoding):
        super().__init__({"script": [{"match": "", "reply": [
            {"channel": "final", "text": "echo plugin: {user}"}]}]}, encoding)


@hookimpl
def register_backends(register):
    register("echo", EchoBackend)
"""

BROKEN = """
import no_such_module_anywhere  # noqa
"""

DUPLICATE_STUB = """
from gyrosi_core import hookimpl
from gyrosi_stub.backend import StubBackend


@hookimpl
def register_backends(register):
    register("stub", StubBackend)
"""


def test_plugins_lists_the_stub(gyrosi_home, plugin_site):
    site = plugin_site()
    result = run_gyrosi("plugins", "--json", env=site.env(GYROSI_HOME=str(gyrosi_home)))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    stub = next(p for p in data["plugins"] if p["name"] == "stub")
    assert stub["distribution"] == "gyrosi-stub-backend" and stub["backends"] == ["stub"]
    assert any(p.get("commands") == ["run"] for p in data["plugins"])
    assert data["failed"] == []
    table = run_gyrosi("plugins", env=site.env(GYROSI_HOME=str(gyrosi_home)))
    assert "gyrosi-stub-backend" in table.stdout and "backends: stub" in table.stdout


def test_pip_installed_plugin_package_is_discovered_and_used(gyrosi_home, tmp_path):
    """A throwaway package with its own pyproject.toml, built and installed by pip."""
    pkg = tmp_path / "gyrosi-echo"
    (pkg / "gyrosi_echo").mkdir(parents=True)
    (pkg / "gyrosi_echo" / "__init__.py").write_text(textwrap.dedent(ECHO_BACKEND))
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=69"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "gyrosi-echo"
        version = "1.2.3"

        [project.entry-points.gyrosi]
        echo = "gyrosi_echo"
    """))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(pkg)],
        check=True, capture_output=True, timeout=300,
    )
    env = {"GYROSI_HOME": str(gyrosi_home), "PYTHONPATH": str(target),
           "PATH": "/usr/bin:/bin"}
    listing = json.loads(run_gyrosi("plugins", "--json", env=env).stdout)
    echo = next(p for p in listing["plugins"] if p["name"] == "echo")
    assert (echo["distribution"], echo["version"], echo["backends"]) == (
        "gyrosi-echo", "1.2.3", ["echo"])
    result = run_gyrosi("generate", "--backend", "echo", "hello", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo plugin: hello\n"


def test_broken_plugin_is_reported_once_and_skipped(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-broken", "gyrosi_broken", BROKEN, entry_point="broken")
    env = site.env(GYROSI_HOME=str(gyrosi_home))
    ok = run_gyrosi("generate", "--backend", "stub", "hi", env=env)
    assert ok.returncode == 0 and ok.stdout == "You said: hi\n"
    assert ok.stderr.count("failed to load") == 1
    assert "'broken' from gyrosi-broken" in ok.stderr and "no_such_module_anywhere" in ok.stderr
    assert "Traceback" not in ok.stderr
    listing = run_gyrosi("plugins", env=env)
    assert listing.returncode == 1 and "gyrosi-broken" in listing.stdout
    wanted = run_gyrosi("generate", "--backend", "broken", "hi", env=env)
    assert wanted.returncode == 2
    assert "Unknown backend 'broken'" in wanted.stderr and "failed to load" in wanted.stderr


def test_duplicate_backend_names_both_distributions(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-imposter", "gyrosi_imposter", DUPLICATE_STUB, entry_point="imposter")
    result = run_gyrosi("generate", "hi", env=site.env(GYROSI_HOME=str(gyrosi_home)))
    assert result.returncode == 1
    assert "Two plugins register the backend 'stub'" in result.stderr
    assert "gyrosi-stub-backend" in result.stderr and "gyrosi-imposter" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_load_plugins_env_restricts(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-echo-two", "gyrosi_echo_two", ECHO_BACKEND, entry_point="echo")
    only_stub = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="stub")
    names = [p["name"] for p in json.loads(run_gyrosi("plugins", "--json", env=only_stub)
                                           .stdout)["plugins"]]
    assert "stub" in names and "echo" not in names
    by_dist = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="gyrosi-echo-two")
    result = run_gyrosi("generate", "--backend", "echo", "x", env=by_dist)
    assert result.stdout == "echo plugin: x\n"
    none = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="")
    result = run_gyrosi("generate", "--backend", "stub", "x", env=none)
    assert result.returncode == 2 and "no backend is installed; install" in result.stderr


def test_unknown_backend_lists_installed(gyrosi_home, plugin_site):
    # only the stub: other installed plugins (transformers, ...) would lengthen the list
    env = plugin_site().env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="stub")
    result = run_gyrosi("generate", "--backend", "nope", "x", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "Error: Unknown backend 'nope'; installed backends: stub."


HANDLER = """
import json
from gyrosi_core import hookimpl


class Recorder:
    channels = frozenset({"final"})

    def __init__(self, path):
        self.path = path

    def on_event(self, event):
        with open(self.path, "a") as fh:
            fh.write(json.dumps(event.to_dict()) + "\\n")


@hookimpl
def register_channel_handlers(register):
    register("recorder", lambda ctx: Recorder(ctx.config.handlers["recorder"]["path"])
             if "recorder" in ctx.config.handlers else None)
"""


def test_third_party_channel_handler_receives_events(gyrosi_home, plugin_site, tmp_path):
    site = plugin_site()
    site.add("gyrosi-recorder", "gyrosi_recorder", HANDLER, entry_point="recorder")
    out = tmp_path / "events.jsonl"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"handlers": {"recorder": {"path": str(out)}}}))
    result = run_gyrosi("generate", "-b", "stub", "--config", str(config), "hey",
                        env=site.env(GYROSI_HOME=str(gyrosi_home)))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    deltas = "".join(e["text"] for e in events if e["type"] == "message.delta")
    assert deltas == "You said: hey"
    assert {e.get("channel") for e in events if "channel" in e} == {"final"}
    assert events[-1]["type"] == "turn.end" and events[-1]["usage"]["total_tokens"] > 0


def test_version_and_help(gyrosi_home, plugin_site):
    env = plugin_site().env(GYROSI_HOME=str(gyrosi_home))
    from gyrosi_core import __version__

    assert run_gyrosi("--version", env=env).stdout.strip() == f"gyrosi, version {__version__}"
    for command in ([], ["run"], ["generate"], ["plugins"], ["logs"], ["tools"], ["backends"]):
        result = run_gyrosi(*command, "--help", env=env)
        assert result.returncode == 0 and "Usage:" in result.stdout


RAISING_HOOK = """
from gyrosi_core import hookimpl


@hookimpl
def register_backends(register):
    raise RuntimeError("misconfigured plugin")
"""


def test_plugin_whose_hook_raises_is_skipped(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-raising", "gyrosi_raising", RAISING_HOOK, entry_point="raising")
    result = run_gyrosi("generate", "-b", "stub", "hi", env=site.env(GYROSI_HOME=str(gyrosi_home)))
    assert (result.returncode, result.stdout) == (0, "You said: hi\n")
    assert result.stderr.count("misconfigured plugin") == 1 and "Traceback" not in result.stderr
