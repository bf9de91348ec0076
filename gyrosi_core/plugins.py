"""Plugin discovery and the registries built from the hooks.

Plugins are found through `importlib.metadata` entry points in the `gyrosi` group. A plugin that
fails to import is reported once on stderr and skipped; the others keep working.
`GYROSI_LOAD_PLUGINS` (comma-separated entry-point or distribution names; empty for none)
restricts what is loaded. Tests build a host with `PluginHost(entry_points=False)` and
`host.register(module)`.
"""

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import click
import pluggy

from . import hookspecs
from .errors import PluginError
from .group import GyrosiGroup
from .specs import (
    CORE_DISTRIBUTION,
    BackendSpec,
    EngineOptionSpec,
    HandlerSpec,
    PluginFailure,
    PluginInfo,
    RouteSpec,
    ToolSpec,
)

__all__ = [
    "BackendSpec", "EngineOptionSpec", "HandlerSpec", "PluginFailure", "PluginHost", "PluginInfo",
    "ToolSpec",
]

ENTRY_POINT_GROUP = "gyrosi"
# The core's own front-ends and handlers, registered through the same hooks as any plugin.
# Named, not imported, so this module depends on none of them.
DEFAULT_PLUGINS = (
    "gyrosi_core.default_plugins.handlers",
    "gyrosi_core.default_plugins.run",
    "gyrosi_core.default_plugins.generate",
    "gyrosi_core.default_plugins.serve",
    "gyrosi_core.default_plugins.logs",
    "gyrosi_core.default_plugins.info",
)
_reported_failures: set[str] = set()  # "reported once" holds across hosts in one process


def _allowed() -> set[str] | None:
    raw = os.environ.get("GYROSI_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _report(failure: PluginFailure) -> None:
    if failure.name in _reported_failures:
        return
    _reported_failures.add(failure.name)
    print(
        f"gyrosi: plugin {failure.name!r} from {failure.distribution} failed to load and was "
        f"skipped ({failure.error}).",
        file=sys.stderr,
    )


@dataclass
class PluginHost:
    """The pluggy manager plus what each plugin registered, with where it came from."""

    entry_points: bool = True
    pm: pluggy.PluginManager = field(init=False)
    info: dict[str, PluginInfo] = field(init=False, default_factory=dict)
    failures: list[PluginFailure] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.pm = pluggy.PluginManager("gyrosi")
        self.pm.add_hookspecs(hookspecs)
        for dotted in DEFAULT_PLUGINS:
            name = "core." + dotted.rsplit(".", 1)[-1]
            module = importlib.import_module(dotted)
            self.register(module, PluginInfo(name, CORE_DISTRIBUTION, _core_version()))
        if self.entry_points:
            self._load_entry_points()

    def register(self, plugin: ModuleType | object, info: PluginInfo | None = None) -> None:
        name = info.name if info else getattr(plugin, "__name__", None) or type(plugin).__name__
        self.pm.register(plugin, name=name)
        self.info[name] = info or PluginInfo(name, "(registered directly)", "")

    def _load_entry_points(self) -> None:
        allowed = _allowed()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "(unknown distribution)"
            version = ep.dist.version if ep.dist else ""
            if allowed is not None and ep.name not in allowed and dist not in allowed:
                continue
            if ep.name in self.info:
                continue  # the same distribution visible twice on sys.path
            try:
                module = ep.load()
            except Exception as exc:
                self.fail(PluginInfo(ep.name, dist, version), exc)
                continue
            self.pm.register(module, name=ep.name)
            self.info[ep.name] = PluginInfo(ep.name, dist, version)

    # -- registries -------------------------------------------------------------------------

    def _collect(self, hook_name: str, make: Callable[..., Any]) -> list[Any]:
        """Call each implementation of `hook_name` with a `register` that records its plugin."""
        found: list[Any] = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            info = self._info_of(impl.plugin_name)

            def register(*args: Any, _info: PluginInfo = info, **kwargs: Any) -> None:
                found.append(make(_info, *args, **kwargs))

            try:
                impl.function(register)
            except Exception as exc:  # a plugin whose hook raises is skipped, like one that
                self.fail(info, exc)  # fails to import
        return found

    def _info_of(self, plugin_name: str) -> PluginInfo:
        return self.info.get(plugin_name, PluginInfo(plugin_name, "?", ""))

    def fail(self, info: PluginInfo, exc: Exception) -> None:
        """Record and report (once, on stderr) a plugin that cannot do what it registered."""
        failure = PluginFailure(info.name, info.distribution, f"{type(exc).__name__}: {exc}")
        if failure not in self.failures:
            self.failures.append(failure)
        _report(failure)

    def backends(self) -> dict[str, BackendSpec]:
        def make(info: PluginInfo, name: str, factory: Callable[..., Any], description=None):
            doc = description or (factory.__doc__ or "").strip().split("\n")[0]
            return BackendSpec(name, factory, doc, info)

        return _unique(self._collect("register_backends", make), "backend")

    def tools(self) -> dict[str, ToolSpec]:
        """Registered tools. Only the core's own may be on by default: a plugin's tool is off
        until the user enables it (`--tool NAME`, `core.tools`), whatever it registers."""

        def make(info: PluginInfo, name: Any, factory: Any = None, enabled: bool = False,
                 description: str | None = None) -> ToolSpec:
            if factory is None and callable(name):  # register(fn): a plain typed function
                from .tools import FunctionTool

                tool = FunctionTool.from_function(name)
                name, factory = tool.recipient, _constant(tool)
                description = description or tool.description
            doc = description or (getattr(factory, "__doc__", None) or "").strip().split("\n")[0]
            return ToolSpec(name, factory, enabled and info.is_core, doc, info)

        return _unique(self._collect("register_tools", make), "tool")

    def handlers(self) -> dict[str, HandlerSpec]:
        def make(info: PluginInfo, name: str, factory: Callable[..., Any]):
            return HandlerSpec(name, factory, info)

        return _unique(self._collect("register_channel_handlers", make), "channel handler")

    def engine_options(self) -> list[EngineOptionSpec]:
        def make(info: PluginInfo, options: Iterable[click.Option], apply: Callable[..., Any]):
            return EngineOptionSpec(tuple(options), apply, info)

        return self._collect("register_engine_options", make)

    def routes(self) -> list[RouteSpec]:
        def make(info: PluginInfo, route: Any, public: bool = False) -> RouteSpec:
            return RouteSpec(route, public, info)

        return self._collect("register_routes", make)

    def add_commands(self, cli: click.Group) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli)
            except Exception as exc:  # one bad front-end must not take the CLI down
                self.fail(self._info_of(impl.plugin_name), exc)

    def registrations(self) -> dict[str, dict[str, list[str]]]:
        """What each plugin registers, for `gyrosi plugins`."""
        table: dict[str, dict[str, list[str]]] = {name: {} for name in self.info}
        groups: Iterable[tuple[str, Iterable[Any]]] = (
            ("backends", self.backends().values()),
            ("tools", self.tools().values()),
            ("channel_handlers", self.handlers().values()),
            ("routes", self.routes()),
        )
        for kind, specs in groups:
            for spec in specs:
                table[spec.plugin.name].setdefault(kind, []).append(spec.name)
        for option_spec in self.engine_options():
            flags = table[option_spec.plugin.name].setdefault("engine_options", [])
            flags.extend(o.opts[0] for o in option_spec.options)
        probe = GyrosiGroup()
        for impl in self.pm.hook.register_commands.get_hookimpls():
            before = {*probe.commands, *probe.lazy}
            try:
                impl.function(probe)
            except Exception:
                continue
            added = sorted({*probe.commands, *probe.lazy} - before)
            if added:
                table[impl.plugin_name]["commands"] = added
        return table


def _unique[S: (BackendSpec, ToolSpec, HandlerSpec)](specs: list[S], kind: str) -> dict[str, S]:
    seen: dict[str, S] = {}
    for spec in specs:
        if (other := seen.get(spec.name)) is not None:
            raise PluginError(
                f"Two plugins register the {kind} {spec.name!r}: {other.plugin.distribution} "
                f"({other.plugin.name}) and {spec.plugin.distribution} ({spec.plugin.name}); "
                f"uninstall one of them or restrict loading with GYROSI_LOAD_PLUGINS."
            )
        seen[spec.name] = spec
    return seen


def _constant(tool: Any) -> Callable[[dict[str, Any]], Any]:
    def factory(config: dict[str, Any]) -> Any:
        return tool

    factory.__doc__ = tool.description
    return factory


def _core_version() -> str:
    from . import __version__

    return __version__
