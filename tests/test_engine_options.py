"""The `register_engine_options` hook: plugin flags on the engine commands."""

import json
from types import ModuleType

import click
import pytest
from click.testing import CliRunner

from gyrosi_core import hookimpl
from gyrosi_core.cli import make_cli
from gyrosi_core.errors import ConfigError
from gyrosi_core.events import TurnEnd
from gyrosi_core.frontend import EngineChoices, engine_options, open_engine, pass_host
from gyrosi_core.tools import FunctionTool


def _tools_plugin():
    @hookimpl
    def register_tools(register):
        register("functions.greet", lambda config: FunctionTool(
            "greet", "Greets", lambda: f"{config.get('greeting', 'hello')}!"), enabled=False)

    @hookimpl
    def register_engine_options(register):
        def apply(values):
            if values["fail"] == "config":
                raise ConfigError("--fail config: this sentence reaches the user.")
            if values["fail"] == "bug":
                raise KeyError("oops")
            if not values["greet"]:
                return None
            return EngineChoices(enable_tools=["functions.greet"],
                                 tools={"functions.greet": {"greeting": values["greet"]}})

        register([click.Option(["--greet"]), click.Option(["--fail"])], apply)

    @hookimpl
    def register_commands(cli):
        @cli.command()
        @engine_options
        @pass_host
        def fixed(host, backend, config_file, reasoning_effort, developer_message, max_tokens,
                  temperature, seed, tools, no_tools, trace):
            """A command written without **flags: the plugin's values must not reach it."""
            flags = {"backend": backend, "config_file": config_file, "tools": tools}
            engine = open_engine(host, "fixed", flags)
            conv = engine.new_conversation()
            click.echo(",".join(sorted(conv.tools)))
            engine.end_conversation(conv)
            engine.close()

    return _module("greet_plugin", register_tools=register_tools,
                   register_engine_options=register_engine_options,
                   register_commands=register_commands)


def _clashing_plugin():
    @hookimpl
    def register_engine_options(register):
        register([click.Option(["--backend"])], lambda values: None)

    return _module("clashing_plugin", register_engine_options=register_engine_options)


def _module(name, **hooks):
    module = ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, fn)
    return module


@pytest.fixture
def cli(plugin_host, tmp_path):
    from gyrosi_stub import plugin as stub

    config = tmp_path / "config.json"
    script = {"match": "", "reply": [{"channel": "commentary", "recipient": "functions.greet",
                                      "content_type": "json", "text": "{}"}],
              "after_tool": [{"channel": "final", "text": "tool said {tool}"}]}
    config.write_text(json.dumps({"backends": {"stub": {"script": [script]}}}))
    host = plugin_host(stub, _tools_plugin(), _clashing_plugin())
    return make_cli(host), host, str(config)


def test_flags_enable_and_configure_tools(cli):
    group, _, config = cli
    runner = CliRunner()
    out = runner.invoke(group, ["generate", "--config", config, "--greet", "ahoy", "hi"])
    assert out.exit_code == 0, out.output
    assert out.output == "tool said ahoy!\n"
    # Without the flag the tool stays off (registered with enabled=False).
    off = runner.invoke(group, ["generate", "--config", config, "hi"])
    assert "no tool named 'functions.greet'" in off.output


def test_command_without_kwargs_still_works(cli):
    group, _, config = cli
    out = CliRunner().invoke(group, ["fixed", "--config", config, "--greet", "hey"])
    assert out.exit_code == 0, out.output
    assert out.output == "functions.greet\n"
    assert "--greet" in CliRunner().invoke(group, ["fixed", "--help"]).output


def test_errors_are_one_sentence(cli):
    group, _, config = cli
    own = CliRunner().invoke(group, ["generate", "--config", config, "--fail", "config", "hi"])
    assert own.exit_code == 1
    assert own.output == "Error: --fail config: this sentence reaches the user.\n"
    bug = CliRunner().invoke(group, ["generate", "--config", config, "--fail", "bug", "hi"])
    assert bug.exit_code == 1
    assert "failed: KeyError: 'oops'" in bug.output and "Traceback" not in bug.output


def test_clashing_flag_is_refused_and_reported(cli):
    group, host, config = cli
    assert any("--backend is already taken" in f.error for f in host.failures)
    out = CliRunner().invoke(group, ["generate", "--config", config, "--backend", "stub", "hi"])
    assert out.exit_code == 0, out.output  # the core's --backend still works


def test_open_engine_outside_click(plugin_host):
    """Without a click context (a library caller), plugin flags simply do not apply."""
    from gyrosi_stub import plugin as stub

    engine = open_engine(plugin_host(stub, _tools_plugin()), "lib", {})
    conv = engine.new_conversation()
    assert conv.tools == {}
    assert isinstance(list(engine.user_turn(conv, "hi"))[-1], TurnEnd)
    engine.end_conversation(conv)
    engine.close()
