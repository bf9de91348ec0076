"""Entry point module: registers the `transformers` backend and its `--checkpoint` flag.

torch and transformers take seconds to import, so they are imported when the backend is built,
not when `gyrosi` discovers its plugins.
"""

from pathlib import Path
from typing import Any

import click

from gyrosi_core import hookimpl
from gyrosi_core.options import EngineChoices


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


CHECKPOINT = click.Option(
    ["--checkpoint"], type=click.Path(file_okay=False),
    help="Model directory for the transformers backend (sets backends.transformers.checkpoint).",
)


def apply_checkpoint(values: dict[str, Any]) -> EngineChoices | None:
    if values.get("checkpoint") is None:
        return None
    path = str(Path(values["checkpoint"]).expanduser().resolve())
    return EngineChoices(backends={"transformers": {"checkpoint": path}})


@hookimpl
def register_engine_options(register):
    register([CHECKPOINT], apply_checkpoint)
