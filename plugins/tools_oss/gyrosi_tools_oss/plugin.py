"""Entry point module: registers the tools, their flags on `run`/`generate`, `gyrosi browser`."""

from pathlib import Path
from typing import Any

import click

from gyrosi_core import hookimpl
from gyrosi_core.options import EngineChoices

# Each tool's module is imported when a conversation starts it (scipy, jupyter_client and the
# corpus index are slow to import), so discovering this plugin stays cheap.


def make_browser(config: dict[str, Any]) -> Any:
    """Search and read pages (local corpus, Exa or You.com)."""
    from .browser import make_browser as make

    return make(config)


def make_python(config: dict[str, Any]) -> Any:
    """Run model-written Python in a local Jupyter kernel."""
    from .python import make_python as make

    return make(config)


def make_apply_patch(config: dict[str, Any]) -> Any:
    """Apply patches to files inside a workspace directory."""
    from .patch import make_apply_patch as make

    return make(config)


@hookimpl
def register_tools(register):
    # All off by default: the browser needs a corpus or a key, python runs model-written code,
    # apply_patch writes files.
    register("browser", make_browser, enabled=False)
    register("python", make_python, enabled=False)
    register("functions.apply_patch", make_apply_patch, enabled=False)


OPTIONS = [
    click.Option(["--browser"], is_flag=True, help="Enable the browser tool."),
    click.Option(
        ["--browser-backend"], type=click.Choice(["local", "exa", "youcom"]),
        help="Browser backend (implies --browser; default: tools.browser.backend, local).",
    ),
    click.Option(
        ["--corpus"], type=click.Path(file_okay=False),
        help="Directory the local browser searches (implies --browser).",
    ),
    click.Option(
        ["--python"], is_flag=True,
        help="Enable the python tool: model-written code runs in a local Jupyter kernel.",
    ),
    click.Option(["--apply-patch"], is_flag=True, help="Enable the apply_patch function."),
    click.Option(
        ["--workspace"], type=click.Path(file_okay=False),
        help="Root apply_patch is confined to, and the python tool's working directory.",
    ),
]


def apply_options(values: dict[str, Any]) -> EngineChoices:
    choices = EngineChoices()
    browser: dict[str, Any] = {}
    if values.get("browser_backend"):
        browser["backend"] = values["browser_backend"]
    if values.get("corpus"):
        browser["corpus"] = str(Path(values["corpus"]).resolve())
    if values.get("browser") or browser:
        choices.enable_tools.append("browser")
        if browser:
            choices.tools["browser"] = browser
    if values.get("python"):
        choices.enable_tools.append("python")
    if values.get("apply_patch"):
        choices.enable_tools.append("functions.apply_patch")
    if values.get("workspace"):
        workspace = str(Path(values["workspace"]).resolve())
        choices.tools["functions.apply_patch"] = {"workspace": workspace}
        choices.tools["python"] = {"cwd": workspace}
    return choices


@hookimpl
def register_engine_options(register):
    register(OPTIONS, apply_options)


@hookimpl
def register_commands(cli):
    cli.add_lazy_command("gyrosi_tools_oss.commands:browser_group",
                         {"browser": "The local browser's corpus index."})
