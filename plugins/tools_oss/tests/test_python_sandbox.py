"""The python tool's confinement, checked from outside with real processes, files and sockets.

With bubblewrap (CI installs it): descendants die with the kernel (`setsid` or not) and with a
server killed by SIGKILL, the environment is cleared, home and GYROSI_HOME are invisible, the
system is read-only, only the scratch folder is writable, no network unless allowed, a process
limit. Without it: the tool says so, the environment is scrubbed, the process group is killed,
RLIMIT_NPROC is set. Scratch folders left by a killed process go at the next start.
"""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gyrosi_core.errors import ConfigError
from gyrosi_tools_oss import python as python_module
from gyrosi_tools_oss import sandbox
from gyrosi_tools_oss.python import Python, PythonConfig

SECRET = "sk-gyrosi-test-secret"
needs_bwrap = pytest.mark.skipif(
    sandbox.bwrap_problem() is not None,
    reason=f"no bubblewrap sandbox here: {sandbox.bwrap_problem()} (CI installs bubblewrap)",
)


def marked(marker: str) -> list[int]:
    """Host pids of processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker.encode() in cmdline and state != "Z":
                found.append(int(entry.name))
    return found


def wait_gone(marker: str) -> list[int]:
    """The marked processes still running once the kernel has had 10 s to take them along."""
    for _ in range(100):
        if not (left := marked(marker)):
            return left
        time.sleep(0.1)
    return marked(marker)


def spawn_escapers(marker: str) -> str:
    """Kernel code that starts a new-session child and a double-forked setsid grandchild."""
    return textwrap.dedent(f"""
        import os, subprocess, sys, time, warnings
        warnings.simplefilter("ignore")  # fork() in a threaded kernel: fine for this
        sleeper = [sys.executable, "-c", "import time; time.sleep(600)", {marker!r}]
        subprocess.Popen(sleeper, start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, sleeper)
            os._exit(0)
        time.sleep(0.5)
        print("spawned")
    """)


@pytest.fixture
def environment(tmp_path, monkeypatch) -> dict[str, Path]:
    """A server's environment: an API key, a GYROSI_HOME with stored conversations, a home."""
    home, data = tmp_path / "home", tmp_path / "gyrosi-home"
    home.mkdir()
    data.mkdir()
    (home / ".netrc").write_text("machine example.com password hunter2\n")
    (data / "responses.sqlite3").write_text("every stored conversation\n")
    monkeypatch.setenv("GYROSI_API_KEY", SECRET)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GYROSI_HOME", str(data))
    return {"home": home, "data": data}


def start(**settings) -> Python:
    return Python(PythonConfig.model_validate({"timeout": 20, **settings}))


@pytest.fixture
def sandboxed(environment) -> Iterator[Python]:
    tool = start(sandbox="bwrap", max_processes=48)
    yield tool
    tool.close()


def run(tool: Python, code: str) -> str:
    return tool._jupyter_session.execute(code)  # type: ignore[attr-defined]


@needs_bwrap
def test_the_sandbox_hides_secrets_and_confines_writes(sandboxed, environment):
    tool = sandboxed
    assert tool.confinement.bwrap
    env = json.loads(run(tool, "import json, os\nprint(json.dumps(dict(os.environ)))"))
    assert "GYROSI_API_KEY" not in env and SECRET not in json.dumps(env)
    assert "GYROSI_HOME" not in env and env["HOME"] == "/tmp"

    looks = run(tool, textwrap.dedent(f"""
        import os
        for path in [{str(environment["home"] / ".netrc")!r},
                     {str(environment["data"] / "responses.sqlite3")!r}]:
            try:
                print(open(path).read())
            except OSError as exc:
                print(type(exc).__name__)
    """))
    assert looks.split() == ["FileNotFoundError", "FileNotFoundError"], looks

    # The system is there to read and run, not to write; the scratch folder takes writes.
    target = Path(python_module.__file__).with_name("written-by-the-sandbox.py")
    wrote = run(tool, textwrap.dedent(f"""
        try:
            open({str(target)!r}, "w").write("x")
        except OSError as exc:
            print(exc.strerror)
        written = open("result.txt", "w").write("made in the sandbox")
    """))
    assert not target.exists() and wrote.strip() in ("Read-only file system",
                                                      "Permission denied"), wrote
    assert (tool.cwd / "result.txt").read_text() == "made in the sandbox"


@needs_bwrap
def test_the_sandbox_limits_processes(sandboxed):
    forked = run(sandboxed, textwrap.dedent("""
        import os, resource, time, warnings
        warnings.simplefilter("ignore")
        children = []
        try:
            for _ in range(200):
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        except OSError as exc:
            print("refused", exc.errno)
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        print(len(children) < 48, resource.getrlimit(resource.RLIMIT_NPROC))
    """))
    assert forked.split("\n")[:2] == ["refused 11", "True (48, 48)"], forked


@needs_bwrap
def test_no_network_unless_allowed(environment):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = textwrap.dedent(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
                print("connected")
            except OSError as exc:
                print(type(exc).__name__)
        """)
        for network, expected in ((False, "ConnectionRefusedError"), (True, "connected")):
            tool = start(sandbox="bwrap", network=network)
            try:
                assert run(tool, code).strip() == expected, network
            finally:
                tool.close()
        server.settimeout(5)
        server.accept()[0].close()  # the allowed one reached the host's loopback


@needs_bwrap
def test_descendants_end_with_the_conversation(sandboxed):
    marker = f"gyrosi-escaper-{uuid.uuid4().hex}"
    assert run(sandboxed, spawn_escapers(marker)).strip() == "spawned"
    assert len(marked(marker)) == 2  # both outside the kernel's session, and visible here
    sandboxed.close()
    assert wait_gone(marker) == []


KILLED_SERVER = """
import sys, time
from gyrosi_tools_oss.python import Python, PythonConfig
tool = Python(PythonConfig(sandbox=sys.argv[1], timeout=20))
print(tool.confinement.scratch.root, flush=True)
print(tool._jupyter_session.execute(sys.argv[2]), flush=True)
time.sleep(600)
"""


@needs_bwrap
def test_a_killed_server_leaves_no_process_and_its_scratch_is_swept(environment):
    marker = f"gyrosi-escaper-{uuid.uuid4().hex}"
    server = subprocess.Popen([sys.executable, "-c", KILLED_SERVER, "bwrap",
                               spawn_escapers(marker)], stdout=subprocess.PIPE, text=True)
    try:
        scratch = Path(server.stdout.readline().strip())  # type: ignore[union-attr]
        assert server.stdout.readline().strip() == "spawned"  # type: ignore[union-attr]
        assert len(set(marked(marker)) - {server.pid}) == 2  # the code is in its argv too
    finally:
        server.kill()  # no atexit, no cleanup: only --die-with-parent can help
        server.wait()
    assert wait_gone(marker) == []
    assert scratch.is_dir()  # left behind by the kill...
    tool = start(sandbox="off")  # ...and swept by the next start
    try:
        assert not scratch.exists()
        assert tool.confinement.scratch.root.is_dir()
    finally:
        tool.close()


def test_without_bubblewrap_the_tool_says_so_and_falls_back(environment, monkeypatch, caplog,
                                                             tmp_path):
    monkeypatch.setattr(python_module, "_warned", False)
    sandbox.bwrap_problem.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as no_bwrap:
            no_bwrap.setenv("PATH", str(tmp_path))  # no bwrap on it
            with pytest.raises(ConfigError, match=r"The python tool's sandbox cannot start: "
                                                  r"bwrap \(Debian/Ubuntu package bubblewrap\)"):
                python_module.make_python({"sandbox": "bwrap"})
            with caplog.at_level(logging.WARNING):
                tool = python_module.make_python({"max_processes": 40, "timeout": 20})
    finally:
        sandbox.bwrap_problem.cache_clear()
    assert "NO SANDBOX (bwrap (Debian/Ubuntu package bubblewrap) is not installed)" in caplog.text
    marker = f"gyrosi-child-{uuid.uuid4().hex}"
    try:
        assert not tool.confinement.bwrap
        env = json.loads(run(tool, "import json, os\nprint(json.dumps(dict(os.environ)))"))
        assert "GYROSI_API_KEY" not in env and "GYROSI_HOME" not in env
        limit = run(tool, "import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC))")
        assert limit.strip() == "(40, 40)"
        # A child in the kernel's process group goes with the kernel.
        run(tool, "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
                  f"'import time; time.sleep(600)', {marker!r}])\nimport time; time.sleep(0.5)")
        assert len(marked(marker)) == 1
    finally:
        tool.close()
    assert wait_gone(marker) == []


def test_stale_scratch_folders_are_swept_and_live_ones_kept(tmp_path):
    live = sandbox.Scratch()
    stale = Path(sandbox.tempfile.gettempdir()) / f"{sandbox.SCRATCH_PREFIX}stale-{os.getpid()}"
    (stale / "work").mkdir(parents=True)
    (stale / "work" / "left.txt").write_text("from a killed server")
    try:
        assert stale in sandbox.sweep()
        assert not stale.exists() and live.root.is_dir()
    finally:
        live.remove()
    assert not live.root.exists()


def test_server_sigterm_ends_the_kernel_and_its_scratch(environment):
    """A server stopped by SIGTERM (which ends the interpreter) takes its kernel along."""
    script = KILLED_SERVER.replace("import sys, time", "import signal, sys, time\n"
                                   "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))")
    code = "import os\nprint(os.getpid())"
    server = subprocess.Popen([sys.executable, "-c", script, "auto", code],
                              stdout=subprocess.PIPE, text=True)
    scratch = Path(server.stdout.readline().strip())  # type: ignore[union-attr]
    assert re.fullmatch(r"\d+", server.stdout.readline().strip())  # type: ignore[union-attr]
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    assert not scratch.exists()


@needs_bwrap
def test_gyrosi_home_stays_hidden_inside_a_chosen_workspace(environment):
    workspace = environment["data"].parent  # GYROSI_HOME is a folder of the workspace
    (workspace / "notes.txt").write_text("the user's own file\n")
    tool = start(sandbox="bwrap", cwd=str(workspace))
    try:
        seen = run(tool, "import os\nprint(sorted(os.listdir('.')))\n"
                         "print(os.listdir('gyrosi-home'))")
    finally:
        tool.close()
    assert seen.split("\n")[:2] == ["['gyrosi-home', 'home', 'notes.txt']", "[]"], seen


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only a server running as root changes user")
def test_as_root_the_kernel_becomes_someone_the_process_limit_binds(environment, tmp_path):
    scratch = start(sandbox="bwrap")
    owned = tmp_path / "owned"
    owned.mkdir()
    os.chown(owned, 1000, 1000)
    chosen = start(sandbox="bwrap", cwd=str(owned))
    try:
        assert run(scratch, "import os\nprint(os.getuid(), os.getgid())").strip() == \
            "65534 65534"
        assert run(chosen, "import os\nprint(os.getuid())\nn = open('mine.txt', 'w').write('x')"
                   ).strip() == "1000"
        assert (owned / "mine.txt").stat().st_uid == 1000
    finally:
        scratch.close()
        chosen.close()
    as_root = python_module.Confinement(PythonConfig(sandbox="bwrap", cwd=tmp_path))
    try:
        assert as_root.user is None and "without a process limit" in as_root.describe()
    finally:
        as_root.close()
