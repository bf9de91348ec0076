"""What every CLI front-end shares once it runs: building a turn engine from the flags."""

from typing import Any

import click
from openai_harmony import Message
from rich.console import Console

from .channels import HandlerContext, open_handlers
from .config import Config, resolve_config
from .errors import GyrosiError
from .home import gyrosi_home
from .logs import TurnRecorder, open_log
from .options import (  # re-exported: plugins written against the older layout import them here
    PLUGIN_VALUES,
    EngineChoices,
    engine_options,
    pass_host,
    plugin_choices,
)
from .plugins import PluginHost
from .turn import Conversation, EnginePlan, TurnEngine, plan_engine

__all__ = [
    "EngineChoices", "engine_options", "open_engine", "pass_host", "resolve_config",
    "logged_history", "start_conversation",
]


def _with_sections(config: Config, choices: EngineChoices) -> Config:
    def merge(current: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]):
        return {**current, **{k: {**current.get(k, {}), **v} for k, v in extra.items()}}

    return config.model_copy(update={
        "tools": merge(config.tools, choices.tools),
        "backends": merge(config.backends, choices.backends),
    })


def open_engine(
    host: PluginHost,
    frontend: str,
    flags: dict[str, Any],
    *,
    console: Console | None = None,
    options: dict[str, Any] | None = None,
) -> TurnEngine:
    """Build the engine for a front-end: config, handlers from every plugin, backend, tools."""
    return plan_front_end(host, frontend, flags, console=console, options=options).build()


def plan_front_end(
    host: PluginHost,
    frontend: str,
    flags: dict[str, Any],
    *,
    console: Console | None = None,
    options: dict[str, Any] | None = None,
) -> EnginePlan:
    """What `open_engine` builds, checked but not started (call `build()`, maybe in a thread;
    plugin flags are read here, from the click context of the calling command)."""
    config = resolve_config(flags.get("config_file"), flags)
    ctx = click.get_current_context(silent=True)
    values = ctx.meta.get(PLUGIN_VALUES, {}) if ctx is not None else {}
    choices = plugin_choices(host.engine_options(), values) if values else EngineChoices()
    config = _with_sections(config, choices)
    options = {**(options or {}), "trace": flags.get("trace")}
    context = HandlerContext(frontend=frontend, config=config, console=console, options=options)
    handlers = open_handlers(host, context)
    return plan_engine(
        host,
        config,
        config.core.backend,
        handlers=handlers,
        enable_tools=[*(flags.get("tools") or ()), *choices.enable_tools],
        no_tools=bool(flags.get("no_tools")),
        raw=bool(options.get("raw")),
    )


def logged_history(flags: dict[str, Any]) -> tuple[str, list[Message]] | None:
    """The conversation `--continue` (the latest) or `--cid ID` names, from the log: its id and
    messages; None when neither flag is given."""
    cid = flags.get("cid")
    if not (cid or flags.get("continue_last")):
        return None
    log = open_log(gyrosi_home())
    if not cid:
        cid = log.latest_conversation()
        if cid is None:
            raise GyrosiError("There is no logged conversation to continue yet.")
    return cid, log.messages(cid)


def start_conversation(
    engine: TurnEngine, frontend: str, flags: dict[str, Any],
    history: tuple[str, list[Message]] | None = None,
) -> tuple[Conversation, TurnRecorder]:
    """A new conversation, or the logged one `--continue`/`--cid` names (`history`, read from
    the log when not given), and the recorder that logs its turns (one that logs nothing with
    `--no-log` or `core.log: false`)."""
    if history is None:
        history = logged_history(flags)
    conv = engine.new_conversation()
    if history is not None:
        conv.id, conv.messages = history[0], list(history[1])
    log = open_log(gyrosi_home()) if engine.config.core.log else None
    return conv, TurnRecorder(log, frontend, engine.backend_name)
