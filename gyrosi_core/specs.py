"""What plugins register, and where each registration came from.

A leaf module (dataclasses only): the plugin host builds these, the turn engine, the server and
the CLI read them, and nothing here imports any of those.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str

    @property
    def is_core(self) -> bool:
        """Registered by gyrosi itself (its default plugins), not by an installed plugin."""
        return self.distribution == CORE_DISTRIBUTION


CORE_DISTRIBUTION = "gyrosi"


@dataclass(frozen=True)
class PluginFailure:
    name: str
    distribution: str
    error: str


@dataclass(frozen=True)
class BackendSpec:
    name: str
    factory: Callable[..., Any]
    description: str
    plugin: PluginInfo


@dataclass(frozen=True)
class ToolSpec:
    name: str
    factory: Callable[[dict[str, Any]], Any]
    enabled: bool  # on without being asked for: only ever true for the core's own tools
    description: str
    plugin: PluginInfo


@dataclass(frozen=True)
class EngineOptionSpec:
    options: "tuple[click.Option, ...]"
    apply: Callable[[dict[str, Any]], Any]
    plugin: PluginInfo


@dataclass(frozen=True)
class RouteSpec:
    route: Any  # a starlette BaseRoute
    public: bool
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return str(getattr(self.route, "path", "") or "/")


@dataclass(frozen=True)
class HandlerSpec:
    name: str
    factory: Callable[..., Any]
    plugin: PluginInfo
