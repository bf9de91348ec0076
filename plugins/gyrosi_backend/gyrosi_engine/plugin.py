"""Entry point module: the `gyrosi` backend, its `--learn/--no-learn` flag, and the `gyrosi atlas`,
`gyrosi learn` and `gyrosi memory` commands."""

from typing import Any

import click

from gyrosi_core import hookimpl
from gyrosi_core.options import EngineChoices


def make_backend(config: dict[str, Any], encoding: Any) -> Any:
    from .backend import GyroBackend

    return GyroBackend(config, encoding)


@hookimpl
def register_backends(register):
    register("gyrosi", make_backend,
             description="GyroSI engine: deterministic generation from folded memory")


LEARN = click.Option(
    ["--learn/--no-learn"], default=None,
    help="gyrosi backend: learn your messages into memory (default: on; `gyrosi serve` reads "
         "backends.gyrosi.learn_from_users, off unless set).",
)


def apply_learn(values: dict[str, Any]) -> EngineChoices:
    # `cli` marks the terminal front-ends, whose default is to learn; the server never sets it.
    section: dict[str, Any] = {"cli": True}
    if values.get("learn") is not None:
        section["learn_from_users"] = values["learn"]
    return EngineChoices(backends={"gyrosi": section})


@hookimpl
def register_engine_options(register):
    register([LEARN], apply_learn)


@hookimpl
def register_commands(cli):
    # imported when one of them runs, so `gyrosi --help` does not load the engine
    cli.add_lazy_command("gyrosi_engine.commands:register",
                         {"atlas": "The GyroSI atlas: the engine's states and transitions."})
    cli.add_lazy_command("gyrosi_engine.memory_commands:register", {
        "learn": "Learn files, folders or standard input into memory.",
        "memory": "GyroSI passive memory: statistics, export, import and reset.",
    })
