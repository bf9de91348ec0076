"""Tools: a plugin's tool is off until enabled; a function tool from a plain typed function;
`gyrosi tools` says what there is and what is on."""

import json

import pytest

from gyrosi_core.testing import run_gyrosi

PLUGIN = '''
from typing import Literal

from gyrosi_core import hookimpl
from gyrosi_core.tools import FunctionTool


def add(a: int, b: int = 0) -> int:
    """Add two integers."""
    return a + b


def shout(text: str, mood: Literal["happy", "angry"] = "happy") -> str:
    """Say TEXT loudly."""
    return text.upper() + ("!" if mood == "happy" else "!!!")


@hookimpl
def register_tools(register):
    register(add, enabled=True)  # asks to be on: a plugin's tool stays off all the same
    register(shout)
    register("functions.misnamed", lambda config: FunctionTool("other", "Wrong name", str))
'''


def script(call, args):
    return {"backends": {"stub": {"script": [{
        "match": "", "reply": [{"channel": "commentary", "recipient": call,
                                "content_type": "json", "text": json.dumps(args)}],
        "after_tool": [{"channel": "final", "text": "tool: {tool}"}]}]}}}


@pytest.fixture
def env(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-mytools", "gyrosi_mytools", PLUGIN, entry_point="mytools")
    return site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="mytools,stub")


def answer(env, tmp_path, call, args, *flags):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(script(call, args)))
    result = run_gyrosi("generate", "--json", "--config", str(config), *flags, "go", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["final"]


def test_a_plugins_tool_is_off_until_enabled(env, tmp_path):
    off = answer(env, tmp_path, "functions.add", {"a": 2, "b": 40})
    assert off == "tool: Error: no tool named 'functions.add' (available: none)."
    assert answer(env, tmp_path, "functions.add", {"a": 2, "b": 40},
                  "--tool", "functions.add") == "tool: 42"
    config = tmp_path / "on.json"
    config.write_text(json.dumps({**script("functions.add", {"a": 1}),
                                  "core": {"tools": ["functions.add"]}}))
    on = run_gyrosi("generate", "--config", str(config), "go", env=env)
    assert on.stdout == "tool: 1\n", on.stderr


def test_a_function_tools_arguments_are_checked_against_its_hints(env, tmp_path):
    assert answer(env, tmp_path, "functions.shout", {"text": "hi", "mood": "angry"},
                  "--tool", "functions.shout") == "tool: HI!!!"
    wrong = answer(env, tmp_path, "functions.shout", {"text": "hi", "mood": "sad"},
                   "--tool", "functions.shout")
    assert wrong.startswith("tool: Error: bad arguments for functions.shout:")
    assert "mood" in wrong


def test_a_tool_registered_under_another_name_is_one_sentence(env, tmp_path):
    result = run_gyrosi("generate", "--tool", "functions.misnamed", "go", env=env)
    assert result.returncode == 1
    assert "is a function named 'functions.other'" in result.stderr
    assert "Traceback" not in result.stderr


def test_tools_lists_schemas_and_what_is_on(env, tmp_path):
    rows = {r["name"]: r for r in json.loads(run_gyrosi("tools", "--json", env=env).stdout)}
    assert set(rows) == {"functions.add", "functions.shout", "functions.misnamed"}
    add = rows["functions.add"]
    assert add["enabled"] is False and add["description"] == "Add two integers."
    assert add["schema"]["required"] == ["a"]
    assert add["schema"]["properties"]["a"]["type"] == "integer"
    assert rows["functions.shout"]["schema"]["properties"]["mood"]["enum"] == ["happy", "angry"]
    config = tmp_path / "on.json"
    config.write_text(json.dumps({"core": {"tools": ["functions.shout"]}}))
    text = run_gyrosi("tools", "--config", str(config), env=env).stdout
    assert "functions.shout (on) [gyrosi-mytools]: Say TEXT loudly." in text
    assert "functions.add (off)" in text and '"required": ["a"]' in text
