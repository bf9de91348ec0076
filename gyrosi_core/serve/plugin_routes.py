"""Routes plugins add to the server (`register_routes`), and which of them skip the API key."""

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from ..plugins import PluginHost


def mount(app: FastAPI, host: PluginHost) -> list[BaseRoute]:
    """Append every plugin route after the server's own (so none shadows the API); return the
    public ones."""
    specs = host.routes()
    app.router.routes.extend(spec.route for spec in specs)
    return [spec.route for spec in specs if spec.public]


def is_public(routes: Sequence[BaseRoute], scope: Scope) -> bool:
    """Whether the request is for one of the public plugin routes (path and method)."""
    return any(route.matches(scope)[0] == Match.FULL for route in routes)
