"""`gyrosi plugins`, `gyrosi backends`, `gyrosi tools`: what is installed and what it offers."""

import sys
from typing import Any

import click

from ..hookspecs import hookimpl
from ..options import pass_host

KINDS = ("backends", "tools", "channel_handlers", "commands", "engine_options", "routes")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _echo_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command()
    @JSON_OPTION
    @pass_host
    def plugins(host: Any, as_json: bool) -> None:
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
            _echo_json({"plugins": rows, "failed": failed})
        else:
            from rich.console import Console
            from rich.table import Table

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

    @cli.command()
    @JSON_OPTION
    @pass_host
    def backends(host: Any, as_json: bool) -> None:
        """List the installed backends; the default one is marked."""
        from ..errors import GyrosiError
        from ..turn import choose_backend

        specs = host.backends()
        try:
            default: str | None = choose_backend(host).name
        except GyrosiError:
            default = None
        rows = [{"name": s.name, "description": s.description, "plugin": s.plugin.name,
                 "distribution": s.plugin.distribution, "default": s.name == default}
                for s in specs.values()]
        if as_json:
            _echo_json(rows)
            return
        if not rows:
            from ..turn import INSTALL_HINT

            click.echo(f"No backend is installed; {INSTALL_HINT}.")
            return
        for row in rows:
            mark = " (default)" if row["default"] else ""
            click.echo(f"{row['name']}{mark}: {row['description']} [{row['distribution']}]")

    @cli.command()
    @click.option("--config", "config_file", type=click.Path(dir_okay=False),
                  help="Config file over the user config (default: $GYROSI_CONFIG).")
    @JSON_OPTION
    @pass_host
    def tools(host: Any, config_file: str | None, as_json: bool) -> None:
        """List the registered tools, whether the config enables them, and what the model sees.

        A plugin's tool is off until enabled with `--tool NAME` or `core.tools` in the config.
        """
        from ..config import resolve_config

        config = resolve_config(config_file, {})
        wanted = config.core.tools
        rows = []
        for spec in host.tools().values():
            enabled = spec.name in wanted if wanted is not None else spec.enabled
            rows.append({"name": spec.name, "enabled": enabled,
                         "description": spec.description, "plugin": spec.plugin.name,
                         "distribution": spec.plugin.distribution,
                         "schema": _schema(spec, config)})
        if as_json:
            _echo_json(rows)
            return
        if not rows:
            click.echo("No tools are installed.")
        for row in rows:
            state = "on" if row["enabled"] else "off"
            click.echo(f"{row['name']} ({state}) [{row['distribution']}]: {row['description']}")
            if row["schema"] is not None:
                import json

                click.echo(f"    parameters: {json.dumps(row['schema'])}")


def _schema(spec: Any, config: Any) -> Any:
    """A function tool's parameters (what the model sees); None for a namespace tool or one
    that cannot be built without more configuration."""
    if not spec.name.startswith("functions."):
        return None
    try:
        tool = spec.factory(config.tool_section(spec.name))
    except Exception:
        return None
    parameters = getattr(tool, "parameters", None)
    close = getattr(tool, "close", None)
    if callable(close):
        close()
    return parameters
