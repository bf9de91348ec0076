"""`gyrosi atlas build | verify | info`."""

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .atlas import AtlasPaths, RichReporter, build_atlas, read_manifest, verify
from .atlas.layout import MAPS


def _summary(manifest: dict[str, Any], paths: AtlasPaths) -> dict[str, Any]:
    counts = manifest["counts"]
    files = {name: manifest["maps"][name]["bytes"] for name in MAPS}
    return {
        "path": str(paths.root),
        "format_version": manifest["format_version"],
        "built_at": manifest["built_at"],
        "build_seconds": manifest["build_seconds"],
        "phase_seconds": manifest["phase_seconds"],
        "states": counts["states"],
        "orbits": counts["orbits"],
        "largest_orbit": counts["largest_orbit"],
        "diameter_from_archetype": counts["bfs_depth"],
        "bfs_layers": counts["bfs_layers"],
        "bytes": files,
        "total_bytes": sum(files.values()),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("location", summary["path"])
    table.add_row("built", f"{summary['built_at']} in {summary['build_seconds']:.1f} s")
    table.add_row("states", f"{summary['states']:,}")
    table.add_row("orbits", f"{summary['orbits']:,} (largest {summary['largest_orbit']:,} states)")
    table.add_row("diameter", f"{summary['diameter_from_archetype']} steps from the archetype "
                              f"(layers {summary['bfs_layers']})")
    for name, size in summary["bytes"].items():
        table.add_row(f"{name}.npy", f"{size / 2**20:,.1f} MiB")
    table.add_row("total", f"{summary['total_bytes'] / 2**20:,.1f} MiB")
    Console().print(table)


def register(cli: click.Group) -> None:
    @cli.group()
    def atlas() -> None:
        """The GyroSI atlas: the engine's 788,986 states and their transitions."""

    @atlas.command()
    @click.option("--force", is_flag=True, help="Rebuild even if a valid atlas exists.")
    def build(force: bool) -> None:
        """Build the atlas under $GYROSI_HOME/atlas (once; about a minute)."""
        paths = AtlasPaths.default()
        with RichReporter() as report:
            manifest, built = build_atlas(paths, force=force, report=report)
        if not built:
            click.echo(f"The atlas in {paths.root} is already built; use --force to rebuild.")
        else:
            click.echo(f"Built the atlas in {manifest['build_seconds']:.1f} s.")
        _print_summary(_summary(manifest, paths))

    @atlas.command("verify")
    def verify_cmd() -> None:
        """Check hashes, shapes and a sample of transitions against the physics."""
        paths = AtlasPaths.default()
        started = time.perf_counter()
        with RichReporter() as report:
            passed = verify(paths, report)
        for label in passed:
            click.echo(f"ok  {label}")
        click.echo(f"The atlas in {paths.root} is valid ({time.perf_counter() - started:.1f} s).")

    @atlas.command()
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def info(as_json: bool) -> None:
        """Where the atlas is, its sizes and counts, and when it was built."""
        paths = AtlasPaths.default()
        summary = _summary(read_manifest(paths), paths)
        if as_json:
            click.echo(json.dumps(summary, indent=2))
        else:
            _print_summary(summary)
