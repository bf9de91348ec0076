"""What every CLI front-end shares: the common flags and building a turn engine from them."""

import functools
from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console

from .channels import HandlerContext
from .config import Config, CoreConfig, _describe, load_config
from .errors import ConfigError
from .plugins import PluginHost
from .turn import TurnEngine, build_engine


def engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags `run` and `generate` share; each overrides its config key (see README)."""
    options = [
        click.option("--backend", "-b", help="Backend name (see `gyrosi plugins`)."),
        click.option(
            "--checkpoint", type=click.Path(),
            help="Model checkpoint for backends that load one (sets backends.NAME.checkpoint).",
        ),
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
    return fn


CORE_FLAGS = ("backend", "reasoning_effort", "developer_message", "max_tokens", "temperature",
              "seed")


def resolve_config(config_file: str | None, flags: dict[str, Any]) -> Config:
    """Config file, then flags on top; a bad flag value is reported like a bad config key."""
    config = load_config(config_file)
    if flags.get("checkpoint") is not None:
        name = flags.get("backend") or config.core.backend
        section = {**config.backend_section(name), "checkpoint": flags["checkpoint"]}
        config = config.model_copy(update={"backends": {**config.backends, name: section}})
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
    options = {**(options or {}), "trace": flags.get("trace")}
    context = HandlerContext(frontend=frontend, config=config, console=console, options=options)
    handlers = [h for spec in host.handlers().values() if (h := spec.factory(context)) is not None]
    return build_engine(
        host,
        config,
        config.core.backend,
        handlers=handlers,
        enable_tools=flags.get("tools") or (),
        no_tools=bool(flags.get("no_tools")),
        raw=bool(options.get("raw")),
    )


def pass_host(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Hand the command the plugin host the CLI was built with."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(click.get_current_context().find_object(PluginHost), *args, **kwargs)

    return wrapper
