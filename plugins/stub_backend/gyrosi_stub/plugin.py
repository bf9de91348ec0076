"""Entry point module: registers the `stub` backend (imported when it is built)."""

from typing import Any

from gyrosi_core import hookimpl


def make_backend(config: dict[str, Any], encoding: Any) -> Any:
    """Deterministic scripted Harmony backend (no model)"""
    from .backend import StubBackend

    return StubBackend(config, encoding)


@hookimpl
def register_backends(register):
    register("stub", make_backend, description="Deterministic scripted Harmony backend (no model)")
