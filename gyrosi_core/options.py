"""The flags engine commands share, and the plugin flags joined to them.

Imports click and nothing heavy: command modules import this at start-up, while the turn engine
they build (`gyrosi_core.frontend`) is imported only when a command runs.
"""

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from .errors import GyrosiError, PluginError

if TYPE_CHECKING:
    from .plugins import PluginHost
    from .specs import EngineOptionSpec

ENGINE_COMMAND = "__gyrosi_engine_command__"  # marks callbacks that take `engine_options`
PLUGIN_VALUES = "gyrosi.engine_option_values"  # where plugin flag values wait in `ctx.meta`


@dataclass
class EngineChoices:
    """What a plugin's engine flags ask for (see the `register_engine_options` hook)."""

    enable_tools: list[str] = field(default_factory=list)  # as if `--tool NAME` were given
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)  # over `tools.NAME`
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)  # over `backends.NAME`


def engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags `run` and `generate` share; each overrides its `core.*` config key."""
    options = [
        click.option("--backend", "-b", help="Backend name (see `gyrosi backends`)."),
        click.option(
            "--config", "config_file", type=click.Path(dir_okay=False),
            help="Config file over the user config (default: $GYROSI_CONFIG).",
        ),
        click.option(
            "--reasoning-effort", type=click.Choice(["low", "medium", "high"]),
            help="Reasoning effort announced in the system message.",
        ),
        click.option("--developer-message", help="Instructions for the developer message."),
        click.option("--max-tokens", type=int, help="Most tokens generated per round."),
        click.option("--temperature", type=float, help="Sampling temperature (0: greedy)."),
        click.option("--seed", type=int, help="Seed for sampling backends."),
        click.option("--tool", "tools", multiple=True,
                     help="Enable a registered tool (repeat; see `gyrosi tools`)."),
        click.option("--no-tools", is_flag=True, help="Disable every tool."),
        click.option(
            "--trace", type=click.Path(dir_okay=False),
            help="Append every turn event to FILE as JSON lines.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    setattr(fn, ENGINE_COMMAND, True)  # plugins' own flags join these (add_engine_options)
    return fn


def log_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`run` and `generate`: the conversation log, and continuing a logged conversation."""
    options = [
        click.option("--continue", "-c", "continue_last", is_flag=True,
                     help="Continue the most recent logged conversation."),
        click.option("--cid", help="Continue the logged conversation with this id."),
        click.option("--no-log", is_flag=True,
                     help="Do not log this conversation (see `gyrosi logs`)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def commands_of(command: click.Command) -> Iterator[click.Command]:
    """The command and, for a group, every command under it that is already loaded."""
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from commands_of(sub)


def add_engine_options(host: "PluginHost", command: click.Command) -> None:
    """Give the engine commands in `command` the flags plugins register with
    `register_engine_options`.

    The values are taken out of the callback's keyword arguments (commands written before a
    plugin existed keep working) and kept in `ctx.meta` until `open_engine` applies them.
    """
    specs = host.engine_options()
    if not specs:
        return
    for cmd in commands_of(command):
        callback = cmd.callback
        if callback is None or not getattr(callback, ENGINE_COMMAND, False):
            continue
        taken = {opt for param in cmd.params for opt in param.opts}
        names: list[str] = []
        for spec in specs:
            flags = {opt for option in spec.options for opt in option.opts}
            if clash := sorted(flags & taken):
                host.fail(spec.plugin, PluginError(f"flag {clash[0]} is already taken"))
                continue
            taken |= flags
            cmd.params.extend(spec.options)
            names.extend(str(option.name) for option in spec.options)
        cmd.callback = _taking_plugin_values(callback, names)


def _taking_plugin_values(callback: Callable[..., Any], names: list[str]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in names if name in kwargs}
        click.get_current_context().meta[PLUGIN_VALUES] = values
        return callback(*args, **kwargs)

    return wrapper


def plugin_choices(specs: "list[EngineOptionSpec]", values: dict[str, Any]) -> EngineChoices:
    """Run each plugin's `apply` on the values of its own flags and merge what they ask for."""
    merged = EngineChoices()
    for spec in specs:
        mine = {str(o.name): values[str(o.name)] for o in spec.options if str(o.name) in values}
        if not mine:
            continue  # the plugin's flags were not added to this command
        try:
            choices = spec.apply(mine)
        except GyrosiError:
            raise
        except Exception as exc:
            raise PluginError(
                f"The flags of plugin {spec.plugin.name!r} from {spec.plugin.distribution} "
                f"failed: {type(exc).__name__}: {exc}."
            ) from exc
        if choices is None:
            continue
        merged.enable_tools.extend(choices.enable_tools)
        for target, source in ((merged.tools, choices.tools), (merged.backends, choices.backends)):
            for name, section in source.items():
                target[name] = {**target.get(name, {}), **section}
    return merged


def pass_host(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Hand the command the plugin host the CLI was built with (the root context's object)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(click.get_current_context().find_root().obj, *args, **kwargs)

    return wrapper
