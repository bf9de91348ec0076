"""`gyrosi generate` as a user runs it."""

import json

from gyrosi_core.testing import run_gyrosi

TOOL_PLUGIN = """
from gyrosi_core import hookimpl
from gyrosi_core.tools import FunctionTool

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}


@hookimpl
def register_tools(register):
    register("functions.add",
             lambda config: FunctionTool("add", "Add two integers", lambda a, b: str(a + b),
                                         SCHEMA))
"""

SCRIPT = {"backends": {"stub": {"script": [{
    "match": "add",
    "reply": [{"channel": "commentary", "recipient": "functions.add", "content_type": "json",
               "text": "{\"a\": 2, \"b\": 40}"}],
    "after_tool": [{"channel": "final", "text": "The sum is {tool}"}],
}]}}}


def stub_only(home):
    return {"GYROSI_HOME": str(home), "GYROSI_LOAD_PLUGINS": "stub"}


def test_generate_prints_only_the_final_answer(gyrosi_home):
    result = run_gyrosi("generate", "hello world", env=stub_only(gyrosi_home))
    assert (result.returncode, result.stdout) == (0, "You said: hello world\n")


def test_generate_reads_stdin(gyrosi_home):
    result = run_gyrosi("generate", "-", input="from stdin",
                        env=stub_only(gyrosi_home))
    assert result.stdout == "You said: from stdin\n"


def test_generate_json_has_every_channel_and_usage(gyrosi_home):
    data = json.loads(run_gyrosi("generate", "--json", "hi", env=stub_only(gyrosi_home)).stdout)
    assert [(m["channel"], m["text"]) for m in data["messages"]] == [
        ("analysis", "The user said: hi"), ("final", "You said: hi")]
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert data["stop_reason"] == "stop" and data["error"] is None


def test_generate_tool_round_trip(gyrosi_home, plugin_site, tmp_path):
    site = plugin_site()
    site.add("gyrosi-adder", "gyrosi_adder", TOOL_PLUGIN, entry_point="adder")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SCRIPT))
    env = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="adder,stub")
    result = run_gyrosi("generate", "--config", str(config), "--json", "--tool", "functions.add",
                        "please add", env=env)
    data = json.loads(result.stdout)
    assert data["final"] == "The sum is 42" and data["tool_rounds"] == 1
    tool = [m for m in data["messages"] if m["role"] == "tool"]
    assert tool == [{"type": "message.end", "role": "tool", "channel": "commentary",
                     "recipient": "assistant", "text": "42", "author": "functions.add",
                     "content_type": None}]
    # --no-tools: the call reaches no tool, and the model is told so
    result = run_gyrosi("generate", "--config", str(config), "--no-tools", "please add", env=env)
    assert "no tool named 'functions.add'" in result.stdout
    result = run_gyrosi("generate", "--tool", "functions.nope", "x", env=env)
    assert result.returncode == 1 and "Unknown tool 'functions.nope'" in result.stderr


def test_context_too_long_is_one_sentence(gyrosi_home, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"core": {"context_length": 60}}))
    result = run_gyrosi("generate", "--config", str(config), "word " * 100,
                        env=stub_only(gyrosi_home))
    assert result.returncode == 1 and "context" in result.stderr
    assert "Traceback" not in result.stderr


FAILING_FACTORIES = """
from gyrosi_core import hookimpl


def broken_backend(config, encoding):
    raise FileNotFoundError("weights.bin is missing")


def broken_tool(config):
    raise RuntimeError("kernel did not start")


@hookimpl
def register_backends(register):
    register("fragile", broken_backend)


@hookimpl
def register_tools(register):
    register("python", broken_tool, enabled=False)
"""


def test_plugins_that_fail_to_start_are_one_sentence(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-fragile", "gyrosi_fragile", FAILING_FACTORIES, entry_point="fragile")
    # Only this plugin and the stub: an installed tools plugin registers `python` too.
    env = site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="fragile,stub")
    backend = run_gyrosi("generate", "--backend", "fragile", "x", env=env)
    assert backend.returncode == 1 and "Traceback" not in backend.stderr
    assert backend.stderr.strip() == (
        "Error: The backend 'fragile' from gyrosi-fragile failed to start: "
        "FileNotFoundError: weights.bin is missing.")
    tool = run_gyrosi("generate", "-b", "stub", "--tool", "python", "x", env=env)
    assert tool.returncode == 1 and "The tool 'python' from gyrosi-fragile failed to start: "\
        "RuntimeError: kernel did not start." in tool.stderr
    assert run_gyrosi("generate", "-b", "stub", "x", env=env).returncode == 0  # off: no harm


def test_unwritable_home_and_trace_are_one_sentence(gyrosi_home, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_gyrosi("generate", "x", env={"GYROSI_HOME": str(blocker / "home")})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Cannot create the GyroSI data directory" in result.stderr
    assert "set GYROSI_HOME to a writable directory" in result.stderr
    result = run_gyrosi("generate", "--trace", str(blocker / "trace.jsonl"), "x",
                        env=stub_only(gyrosi_home))
    assert result.returncode == 1 and "Cannot write the trace file" in result.stderr


CRASHING_BACKEND = """
from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend


class Crashing(BaseBackend):
    def generate(self, tokens, **options):
        yield from self.encoding.encode("<|channel|>final<|message|>Hi", allowed_special="all")
        raise RuntimeError("device lost")


@hookimpl
def register_backends(register):
    register("crashing", Crashing)
"""


def test_backend_crash_mid_turn_is_an_error_event_not_a_traceback(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-crashing", "gyrosi_crashing", CRASHING_BACKEND, entry_point="crashing")
    env = site.env(GYROSI_HOME=str(gyrosi_home))
    result = run_gyrosi("generate", "--backend", "crashing", "x", env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "Error: The backend failed: RuntimeError: device lost\n"
    data = json.loads(run_gyrosi("generate", "--backend", "crashing", "--json", "x",
                                 env=env).stdout)
    assert data["stop_reason"] == "error" and data["error"].endswith("device lost")
    assert data["usage"]["completion_tokens"] == 4  # <|channel|> final <|message|> Hi
