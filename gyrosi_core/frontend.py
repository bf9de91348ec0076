"""What every CLI front-end shares: the common flags and building a turn engine from them."""

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console

from .channels import HandlerContext, open_handlers
from .config import Config, CoreConfig, _describe, load_config
from .errors import ConfigError, GyrosiError, PluginError
from .plugins import EngineOptionSpec, PluginHost
from .turn import TurnEngine, build_engine

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
        click.option("--backend", "-b", help="Backend name (see `gyrosi plugins`)."),
        click.option(
            "--config", "config_file", type=click.Path(dir_okay=False),
            help="Config file (default: $GYROSI_CONFIG, then the built-in defaults).",
        ),
        click.option(
            "--reasoning-effort", type=click.Choice(["low", "medium", "high"]),
            help="Reasoning effort announced in the system message.",
        ),
        click.option("--developer-message", help="Instructions for the developer message."),
        click.option("--max-tokens", type=int, help="Most tokens generated per round."),
        click.option("--temperature", type=float, help="Sampling temperature (0: greedy)."),
        click.option("--seed", type=int, help="Seed for sampling backends."),
        click.option("--tool", "tools", multiple=True, help="Enable a registered tool (repeat)."),
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


def _commands(group: click.Group) -> Iterator[click.Command]:
    for command in group.commands.values():
        yield command
        if isinstance(command, click.Group):
            yield from _commands(command)


def add_engine_options(host: PluginHost, cli: click.Group) -> None:
    """Give every engine command the flags plugins register with `register_engine_options`.

    The values are taken out of the callback's keyword arguments (commands written before a
    plugin existed keep working) and kept in `ctx.meta` until `open_engine` applies them.
    """
    specs = host.engine_options()
    if not specs:
        return
    for command in _commands(cli):
        callback = command.callback
        if callback is None or not getattr(callback, ENGINE_COMMAND, False):
            continue
        taken = {opt for param in command.params for opt in param.opts}
        names: list[str] = []
        for spec in specs:
            flags = {opt for option in spec.options for opt in option.opts}
            if clash := sorted(flags & taken):
                host._fail(spec.plugin, PluginError(f"flag {clash[0]} is already taken"))
                continue
            taken |= flags
            command.params.extend(spec.options)
            names.extend(str(option.name) for option in spec.options)
        command.callback = _taking_plugin_values(callback, names)


def _taking_plugin_values(callback: Callable[..., Any], names: list[str]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in names if name in kwargs}
        click.get_current_context().meta[PLUGIN_VALUES] = values
        return callback(*args, **kwargs)

    return wrapper


def plugin_choices(specs: list[EngineOptionSpec], values: dict[str, Any]) -> EngineChoices:
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


def _with_sections(config: Config, choices: EngineChoices) -> Config:
    def merge(current: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]):
        return {**current, **{k: {**current.get(k, {}), **v} for k, v in extra.items()}}

    return config.model_copy(update={
        "tools": merge(config.tools, choices.tools),
        "backends": merge(config.backends, choices.backends),
    })


CORE_FLAGS = ("backend", "reasoning_effort", "developer_message", "max_tokens", "temperature",
              "seed")


def resolve_config(config_file: str | None, flags: dict[str, Any]) -> Config:
    """Config file, then flags on top; a bad flag value is reported like a bad config key."""
    config = load_config(config_file)
    overrides = {k: flags[k] for k in CORE_FLAGS if flags.get(k) is not None}
    if not overrides:
        return config
    try:
        core = CoreConfig.model_validate({**config.core.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(f"Invalid option: {_describe(exc).replace('_', '-')}.") from exc
    return config.model_copy(update={"core": core})


def open_engine(
    host: PluginHost,
    frontend: str,
    flags: dict[str, Any],
    *,
    console: Console | None = None,
    options: dict[str, Any] | None = None,
) -> TurnEngine:
    """Build the engine for a front-end: config, handlers from every plugin, backend, tools."""
    config = resolve_config(flags.get("config_file"), flags)
    ctx = click.get_current_context(silent=True)
    values = ctx.meta.get(PLUGIN_VALUES, {}) if ctx is not None else {}
    choices = plugin_choices(host.engine_options(), values) if values else EngineChoices()
    config = _with_sections(config, choices)
    options = {**(options or {}), "trace": flags.get("trace")}
    context = HandlerContext(frontend=frontend, config=config, console=console, options=options)
    handlers = open_handlers(host, context)
    return build_engine(
        host,
        config,
        config.core.backend,
        handlers=handlers,
        enable_tools=[*(flags.get("tools") or ()), *choices.enable_tools],
        no_tools=bool(flags.get("no_tools")),
        raw=bool(options.get("raw")),
    )


def pass_host(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Hand the command the plugin host the CLI was built with."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(click.get_current_context().find_object(PluginHost), *args, **kwargs)

    return wrapper
