"""Channel handlers: consumers of turn events, selected per channel."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from .config import Config
from .errors import ConfigError
from .events import TURN_LEVEL, Event


class ChannelHandler(Protocol):
    #: Channels this handler wants (e.g. {"final"}); None for every channel.
    channels: frozenset[str] | None

    def on_event(self, event: Event) -> None: ...


@dataclass
class HandlerContext:
    """What a handler factory may look at to decide whether and how to take part."""

    frontend: str  # "run", "generate", "serve", ...
    config: Config
    console: Console | None = None  # set when a terminal renders the turn
    options: dict[str, Any] = field(default_factory=dict)  # hide_analysis, trace, raw, ...


def open_handlers(host: Any, context: HandlerContext) -> list[ChannelHandler]:
    """Every registered handler that takes part in this context (a factory may return None)."""
    return [h for spec in host.handlers().values() if (h := spec.factory(context)) is not None]


def wants(handler: ChannelHandler, event: Event) -> bool:
    if isinstance(event, TURN_LEVEL) or handler.channels is None:
        return True
    return getattr(event, "channel", None) in handler.channels


class TraceHandler:
    """Appends every event as one JSON line to a file (`--trace FILE`)."""

    channels = None

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fh = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot write the trace file {path} ({exc.strerror}).") from exc

    def on_event(self, event: Event) -> None:
        self._fh.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self._fh.flush()  # a trace is most useful exactly when the process dies

    def close(self) -> None:
        self._fh.close()
