"""Entry point module: registers the `transformers` backend.

torch and transformers take seconds to import, so they are imported when the backend is built,
not when `gyrosi` discovers its plugins.
"""

from typing import Any

from gyrosi_core import hookimpl


def make_backend(config: dict[str, Any], encoding: Any) -> Any:
    from .backend import TransformersBackend

    return TransformersBackend(config, encoding)


@hookimpl
def register_backends(register):
    register(
        "transformers",
        make_backend,
        description="Hugging Face transformers causal LM with a per-conversation KV cache",
    )
