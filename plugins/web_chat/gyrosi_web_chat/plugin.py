"""The web chat's hooks: its page on `gyrosi serve`, and the `gyrosi web` command."""

from gyrosi_core import hookimpl

from . import command, page


@hookimpl
def register_routes(register):
    for route in page.routes():
        register(route, public=True)


@hookimpl
def register_commands(cli):
    cli.add_command(command.web)
