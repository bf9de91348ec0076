"""`gyrosi plugins`: what is installed and what each plugin registers."""

import json
import sys

import click
from rich.console import Console
from rich.table import Table

from ..frontend import pass_host
from ..hookspecs import hookimpl

KINDS = ("backends", "tools", "channel_handlers", "commands", "engine_options", "routes")


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_host
    def plugins(host, as_json: bool):
        """List installed plugins, their distribution and version, and what they register.

        Exits 1 when a plugin failed to load.
        """
        table = host.registrations()
        rows = [
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                **{k: v for k, v in table.get(info.name, {}).items()},
            }
            for info in host.info.values()
        ]
        failed = [
            {"name": f.name, "distribution": f.distribution, "error": f.error}
            for f in host.failures
        ]
        if as_json:
            click.echo(json.dumps({"plugins": rows, "failed": failed}, indent=2))
        else:
            view = Table("plugin", "distribution", "version", "registers")
            for row in rows:
                registers = "; ".join(
                    f"{kind.replace('_', ' ')}: {', '.join(names)}"
                    for kind in KINDS
                    if (names := row.get(kind))
                )
                view.add_row(row["name"], row["distribution"], row["version"], registers)
            console = Console()
            console.print(view)
            for f in failed:
                console.print(f"[red]failed:[/red] {f['name']} ({f['distribution']}): {f['error']}")
        if failed:
            sys.exit(1)
