"""The `gyrosi` command: a click group whose commands come from front-end plugins."""

import logging
import sys

import click

from . import __version__
from .errors import GyrosiError
from .group import GyrosiGroup
from .options import add_engine_options
from .plugins import PluginHost


def make_cli(host: PluginHost) -> click.Group:
    @click.group(cls=GyrosiGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, "--version", "-V", prog_name="gyrosi")
    @click.option(
        "--log-level", default="WARNING", show_default=True,
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    )
    @click.pass_context
    def cli(ctx: click.Context, log_level: str) -> None:
        """GyroSI: a plugin host for Harmony-format language models."""
        logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
        ctx.obj = host

    assert isinstance(cli, GyrosiGroup)
    host.add_commands(cli)
    add_engine_options(host, cli)
    cli.on_load = lambda command: add_engine_options(host, command)  # lazy commands, when used
    return cli


def main(argv: list[str] | None = None) -> None:
    try:
        host = PluginHost()
    except GyrosiError as exc:  # pragma: no cover - defensive: discovery itself failed
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    make_cli(host).main(args=argv, prog_name="gyrosi", obj=host)
