"""The python tool through the real turn loop, on a real Jupyter kernel.

One conversation (one kernel) serves the module's tests, to keep them fast; each test uses
variable names of its own.
"""

import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gyrosi_core.errors import ConfigError
from gyrosi_tools_oss import python as python_module

from .conftest import Chat, build, call

RULES = [
    call("set", "python", "counter = 41"),
    call("get", "python", "print(counter + 1)"),
    call("expression", "python", "counter * 2"),
    call("silent", "python", "quiet = 1"),
    call("raise", "python", "1 / 0"),
    call("runaway", "python", "import time\nwhile True:\n    time.sleep(0.01)"),
    call("chatty runaway", "python", "while True:\n    print('spam')"),
    call("after runaway", "python", "print('still here', counter)"),
    call("flood", "python", "print('x' * 5000)"),
    call("hog", "python", "block = bytearray(8 * 1024**3)"),
    call("where", "python", "import os\nprint(os.getcwd(), os.getpid())"),
]
SETTINGS = {"python": {"timeout": 3, "max_output_chars": 300, "memory_limit_mb": 2048}}


@pytest.fixture(scope="module")
def kernel_chat(harmony_encoding) -> Iterator[Chat]:
    session = Chat(build(RULES, SETTINGS, ["python"]))
    yield session
    session.close()


def test_state_is_kept_between_calls(kernel_chat):
    assert kernel_chat.ask("set") == "[WARN] No output available. Use print() to output " \
        "anything to stdout to receive the output"
    assert kernel_chat.ask("get") == "42\n"
    assert kernel_chat.ask("expression") == "82\n"  # a cell's value is shown, as in a notebook
    message = kernel_chat.tool_messages()[0]
    assert message.author == "python" and message.recipient == "assistant"
    # The system message announces the tool, stateful, with the configured deadline.
    prompt = kernel_chat.engine.encoding.decode(kernel_chat.engine.render(kernel_chat.conv))
    assert "## python" in prompt and "stateful Jupyter notebook" in prompt
    assert "time out after 3 seconds" in prompt


def test_errors_reach_the_model_as_plain_tracebacks(kernel_chat):
    answer = kernel_chat.ask("raise")
    assert "ZeroDivisionError" in answer and "\x1b[" not in answer


def test_a_runaway_loop_is_stopped_and_the_kernel_survives(kernel_chat):
    kernel_chat.ask("set")
    answer = kernel_chat.ask("runaway")
    assert "ran longer than the 3-second limit and was stopped" in answer
    assert "variables defined before the call are kept" in answer
    assert kernel_chat.ask("after runaway") == "still here 41\n"


def test_output_is_truncated(kernel_chat):
    answer = kernel_chat.ask("flood")
    assert answer.startswith("x" * 300) and "x" * 301 not in answer
    assert "[output truncated: 4701 more characters]" in answer
    # A loop that prints forever is cut too, and still stopped at the deadline.
    spam = kernel_chat.ask("chatty runaway")
    assert len(spam) < 600 and "output truncated" in spam and "was stopped" in spam
    assert kernel_chat.ask("after runaway") == "still here 41\n"


def test_memory_is_limited(kernel_chat):
    answer = kernel_chat.ask("hog")
    assert "MemoryError" in answer


def test_the_kernel_ends_with_the_conversation(harmony_encoding, tmp_path, caplog,
                                               monkeypatch):
    monkeypatch.setattr(python_module, "_warned", False)
    engine = build(RULES, {"python": {"cwd": str(tmp_path)}}, ["python"])
    with caplog.at_level(logging.WARNING):
        conv = engine.new_conversation()
    assert "python tool enabled: model-written code runs on this machine" in caplog.text
    session = Chat.__new__(Chat)
    session.engine, session.conv, session.events = engine, conv, []
    cwd, _ = session.ask("where").split()
    assert cwd == str(tmp_path)
    pid = conv.tools["python"]._jupyter_session.pid  # the kernel, or the sandbox around it
    assert alive(pid)
    engine.end_conversation(conv)
    assert not alive(pid)
    engine.close()


def test_scratch_directory_is_removed(harmony_encoding):
    engine = build(RULES, {}, ["python"])
    conv = engine.new_conversation()
    scratch = conv.tools["python"].cwd
    assert scratch.is_dir() and re.search(r"gyrosi-python-", scratch.parent.name)
    engine.end_conversation(conv)
    assert not scratch.parent.exists()
    engine.close()


def test_python_is_off_unless_enabled(harmony_encoding):
    engine = build(RULES, {}, [])
    assert "python" not in engine.tool_specs
    engine.close()


def test_bad_settings_are_one_sentence(harmony_encoding, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no uv here
    cases = [({"timeout": -1}, "Invalid config: tools.python.timeout"),
             ({"cwd": str(tmp_path / "missing")}, "is not a directory"),
             ({"backend": "uv"}, "needs `uv` on PATH"),
             ({"sandbox": "none"}, "Invalid config: tools.python.sandbox"),
             ({"backend": "docker", "sandbox": "bwrap"},
              "The python tool's sandbox runs the jupyter backend, not docker")]
    for section, message in cases:
        engine = build(RULES, {"python": section}, ["python"])
        with pytest.raises(ConfigError, match=re.escape(message)):
            engine.new_conversation()
        engine.close()


def test_a_kernel_that_ignores_interrupts_is_restarted(harmony_encoding, monkeypatch):
    monkeypatch.setattr(python_module, "INTERRUPT_GRACE", 1.0)
    stubborn = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n" \
        "    except KeyboardInterrupt:\n        pass"
    rules = [*RULES, call("stubborn", "python", stubborn)]
    session = Chat(build(rules, {"python": {"timeout": 2}}, ["python"]))
    try:
        session.ask("set")
        answer = session.ask("stubborn")
        assert "the kernel had to be restarted, so every variable and import is lost" in answer
        assert "NameError" in session.ask("get")  # a fresh kernel...
        session.ask("set")
        assert session.ask("get") == "42\n"  # ...that works
    finally:
        session.close()


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for whoever adopted it to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def fake_uv(tmp_path, monkeypatch):
    """A `uv` that runs `uv run --no-project python SCRIPT` as a child of its own, as uv does."""
    folder = tmp_path / "bin"
    folder.mkdir()
    uv = folder / "uv"
    uv.write_text(f"#!/bin/sh\nshift 3\n{sys.executable} \"$@\"\n")
    uv.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return uv


def test_uv_backend_runs_each_call_fresh_under_a_deadline(harmony_encoding, fake_uv, tmp_path):
    pid_file = tmp_path / "runaway.pid"
    rules = [*RULES, call("runaway pid", "python",
                          f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))"
                          "\nprint('started', flush=True)\nwhile True:\n    time.sleep(0.01)")]
    settings = {"python": {"backend": "uv", "timeout": 2, "max_output_chars": 300}}
    session = Chat(build(rules, settings, ["python"]))
    try:
        assert "a fresh Python process" in session.conv.tools["python"].instruction
        session.ask("set")
        assert "NameError" in session.ask("get")  # stateless: nothing survives a call
        flood = session.ask("flood")
        assert "[output truncated: 4701 more characters]" in flood
        answer = session.ask("runaway pid")
        assert answer.startswith("started\n") and "2-second limit and was stopped" in answer
        assert not alive(int(pid_file.read_text()))  # uv's child went with it
    finally:
        session.close()


def test_docker_backend_needs_docker(harmony_encoding, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    engine = build(RULES, {"python": {"backend": "docker"}}, ["python"])
    with pytest.raises(ConfigError, match="The python tool's docker backend cannot reach Docker"):
        engine.new_conversation()
    engine.close()
