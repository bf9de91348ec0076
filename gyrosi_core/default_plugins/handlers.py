"""Built-in channel handlers: the terminal renderer and the JSON-lines trace (each imported
when a front-end opens its handlers, not when the plugin is loaded)."""

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..channels import HandlerContext


def _terminal(ctx: "HandlerContext") -> Any:
    from ..terminal import TerminalRenderer

    if ctx.console is None or not ctx.options.get("render", False):
        return None
    return TerminalRenderer(
        ctx.console,
        hide_analysis=bool(ctx.options.get("hide_analysis")),
        raw=bool(ctx.options.get("raw")),
    )


def _trace(ctx: "HandlerContext") -> Any:
    from pathlib import Path

    from ..channels import TraceHandler

    path = ctx.options.get("trace")
    return TraceHandler(Path(path)) if path else None


@hookimpl
def register_channel_handlers(register):
    register("terminal", _terminal)
    register("trace", _trace)
