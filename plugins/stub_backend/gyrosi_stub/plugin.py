"""Entry point module: registers the `stub` backend."""

from gyrosi_core import hookimpl

from .backend import StubBackend


@hookimpl
def register_backends(register):
    register("stub", StubBackend, description="Deterministic scripted Harmony backend (no model)")
