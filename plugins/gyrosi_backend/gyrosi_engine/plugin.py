"""Entry point module: the `gyrosi atlas` commands (the `gyrosi` backend arrives with memory)."""

from gyrosi_core import hookimpl

from . import commands


@hookimpl
def register_commands(cli):
    commands.register(cli)
