"""`gyrosi learn PATH... | -` and `gyrosi memory stats | export | import | reset | repair`."""

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from gyrosi_core.config import validate_section
from gyrosi_core.errors import GyrosiError
from gyrosi_core.frontend import resolve_config

from .settings import GyroConfig

if TYPE_CHECKING:
    from .learn_map import Mapper

BINARY_SNIFF = 8192
CONFIG_OPTION = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False),
    help="Config file (default: $GYROSI_CONFIG, then the built-in defaults).",
)


def _settings(config_file: str | None) -> GyroConfig:
    config = resolve_config(config_file, {})
    return validate_section(GyroConfig, config.backend_section("gyrosi"), "backends.gyrosi")


def _engine(config_file: str | None, *, starter: bool = True):  # noqa: ANN202 - lazy import
    """The engine; with `starter`, as the backend opens it (starter corpus into empty memory)."""
    from .backend import open_engine
    from .engine import Engine

    settings = _settings(config_file)
    return open_engine(settings) if starter else Engine(settings)


@dataclass
class Inputs:
    """What `gyrosi learn` found, read and skipped."""

    files: list[Path] = field(default_factory=list)
    stdin: bool = False
    binary: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    invalid_utf8: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    learned: int = 0  # messages learned
    bytes: int = 0


def _collect(paths: tuple[str, ...]) -> Inputs:
    found = Inputs()
    for raw in paths:
        if raw == "-":
            found.stdin = True
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            found.files.extend(sorted(
                p for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ))
        elif path.is_file():
            found.files.append(path)
        elif path.exists():
            raise GyrosiError(f"{raw} is neither a file nor a folder; nothing was learned.")
        else:
            raise GyrosiError(f"{raw} does not exist; nothing was learned.")
    return found


def _decode(name: str, data: bytes, found: Inputs) -> str | None:
    if not data.strip():
        found.empty.append(name)
        return None
    if b"\x00" in data[:BINARY_SNIFF]:
        found.binary.append(name)
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        found.invalid_utf8.append(name)
        return data.decode("utf-8", errors="replace")


def _texts(found: Inputs, progress: Progress, task: TaskID) -> Iterator[tuple[str, str]]:
    """(name, text) of each input: its absolute path (what sources cite), or "<stdin>"."""
    sources: list[tuple[str, Path | None]] = [(str(p.absolute()), p) for p in found.files]
    if found.stdin:
        sources.append(("<stdin>", None))
    for name, path in sources:
        try:
            data = sys.stdin.buffer.read() if path is None else path.read_bytes()
        except OSError as exc:
            found.unreadable.append(f"{name} ({exc.strerror})")
            continue
        text = _decode(name, data, found)
        progress.update(task, description=Path(name).name[:28])
        if text is not None:
            found.learned += 1
            found.bytes += len(data)
            yield name, text
        progress.advance(task, len(data))


def _skipped(found: Inputs) -> list[str]:
    lines = []
    for label, names in (("binary, skipped", found.binary), ("empty, skipped", found.empty),
                         ("unreadable, skipped", found.unreadable),
                         ("not valid UTF-8, learned with U+FFFD for bad bytes",
                          found.invalid_utf8)):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            lines.append(f"{len(names)} {label}: {shown}")
    return lines


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("paths", nargs=-1, required=True)
    @click.option("--workers", type=click.IntRange(min=1), default=None,
                  help="Threads that tokenise and compute entries (default: every core); with "
                       "--cluster local, its worker processes. Any number gives the same memory.")
    @click.option("--cluster", metavar="ADDRESS", default=None,
                  help="Send the map work (tokenising, entries) to the Dask scheduler at "
                       "tcp://HOST:PORT, or 'local' for a LocalCluster on this machine; the "
                       "memory is written here, the same bytes as learning alone.")
    @CONFIG_OPTION
    def learn(paths: tuple[str, ...], workers: int | None, cluster: str | None,
              config_file: str | None) -> None:
        """Learn files, folders (recursively; text files only) or standard input ('-').

        Order (the same inputs in the same order give byte-identical memory): the arguments in
        the order given, a folder's files in sorted path order (hidden ones skipped), standard
        input last."""
        found = _collect(paths)
        from .learn_map import mapper_for

        mapper = mapper_for(workers, cluster)
        try:
            _learn(found, config_file, mapper)
        finally:
            if mapper is not None:
                mapper.close()

    def _learn(found: Inputs, config_file: str | None, mapper: "Mapper | None") -> None:
        engine = _engine(config_file)
        memory = engine.memory
        before_entries, before_tokens = len(memory.passive), memory.learned_here
        total = sum(p.stat().st_size for p in found.files)
        started = time.perf_counter()
        console = Console(stderr=True)
        columns = [TextColumn("{task.description:<28}"), BarColumn(),
                   TextColumn("{task.completed:>,.0f}/{task.total:,.0f} B" if total
                              else "{task.completed:,.0f} B"),
                   TextColumn("{task.fields[tokens]:,} tokens"), TransferSpeedColumn(),
                   TimeRemainingColumn()]
        interrupted = False
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("learning", total=total or None, tokens=0)

            def on_batch(tokens: int) -> None:
                progress.update(task, tokens=progress.tasks[0].fields["tokens"] + tokens)

            def on_wait() -> None:
                progress.console.print("Waiting for another GyroSI process writing to "
                                       f"{memory.root} …")

            try:
                engine.learn_texts(_texts(found, progress, task), on_batch=on_batch,
                                   on_wait=on_wait, mapper=mapper)
            except KeyboardInterrupt:
                interrupted = True
        memory.compact()
        engine.close()
        elapsed = time.perf_counter() - started
        stats = memory.stats()
        if found.stdin and not found.learned and not found.files:
            click.echo("Standard input was empty: nothing to learn.")
        learned = memory.learned_here - before_tokens  # not what other learners added meanwhile
        click.echo(
            f"Learned {learned:,} tokens from {found.learned:,} "
            f"{'message' if found.learned == 1 else 'messages'} ({found.bytes / 1e6:,.2f} MB in "
            f"{elapsed:.2f} s, {found.bytes / 1e6 / max(elapsed, 1e-9):,.2f} MB/s); "
            f"{stats.entries - before_entries:+,} entries, memory now {stats.entries:,} entries, "
            f"{stats.snapshot_bytes / 2**20:,.2f} MiB."
        )
        for line in _skipped(found):
            click.echo(line)
        if interrupted:
            click.echo("Interrupted: every committed batch is kept; learn again to go on.")
            sys.exit(130)

    @cli.group()
    def memory() -> None:
        """GyroSI passive memory: statistics, export, import, reset and repair."""

    @memory.command()
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @CONFIG_OPTION
    def stats(as_json: bool, config_file: str | None) -> None:
        """Entries, contexts, learned tokens and bytes on disk."""
        engine = _engine(config_file, starter=False)
        s = engine.memory.stats()
        data = asdict(s) | {"bytes_per_entry": round(s.bytes_per_entry, 2),
                            "path": str(engine.memory.root)}
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        table = Table(show_header=False, box=None)
        table.add_row("location", data["path"])
        table.add_row("entries", f"{s.entries:,} in {s.contexts:,} contexts")
        table.add_row("tokens learned", f"{s.tokens_learned:,}")
        table.add_row("content index", f"{s.documents:,} documents, {s.passages:,} passages, "
                                       f"{s.postings:,} postings")
        table.add_row("on disk", f"{(s.snapshot_bytes + s.journal_bytes) / 2**20:,.2f} MiB "
                                 f"(snapshot {s.snapshot_bytes:,} B, "
                                 f"journal {s.journal_bytes:,} B)")
        table.add_row("bytes per entry", f"{s.bytes_per_entry:.1f}")
        if s.stray_files:
            table.add_row("leftovers", f"{s.stray_files} temporary files of killed writers "
                                       f"({s.stray_bytes:,} B); the next write removes them")
        table.add_row("context depth", str(s.depth))
        table.add_row("caps", f"{s.per_context} per context, "
                              f"{s.per_token or 'no cap'} per token")
        Console().print(table)

    @memory.command("export")
    @click.argument("file", type=click.Path(dir_okay=False))
    @CONFIG_OPTION
    def export_cmd(file: str, config_file: str | None) -> None:
        """Write the whole memory to FILE (portable, versioned, checksummed)."""
        engine = _engine(config_file, starter=False)
        target = Path(file)
        if target.exists() and target.resolve() == engine.memory.snapshot_path.resolve():
            raise GyrosiError(f"{file} is the memory's own snapshot; export to another file.")
        s = engine.memory.export(target)
        click.echo(f"Exported {s.entries:,} entries to {file} ({target.stat().st_size:,} B).")

    @memory.command("import")
    @click.argument("file", type=click.Path(dir_okay=False, exists=True))
    @CONFIG_OPTION
    def import_cmd(file: str, config_file: str | None) -> None:
        """Fold an exported memory into this one (its entries count as learned now)."""
        engine = _engine(config_file, starter=False)
        read = engine.memory.import_(Path(file))
        click.echo(f"Imported {read:,} entries from {file}; memory now "
                   f"{len(engine.memory.passive):,} entries.")

    @memory.command()
    @click.option("--yes", is_flag=True, help="Really forget everything learned.")
    @CONFIG_OPTION
    def reset(yes: bool, config_file: str | None) -> None:
        """Forget everything learned (the starter corpus is learned again on next use)."""
        if not yes:
            raise GyrosiError(
                "`gyrosi memory reset` forgets everything learned; add --yes to do it.")
        from gyrosi_core.home import gyrosi_home

        from .memory.store import reset_memory

        root = gyrosi_home() / "memory"
        moved = reset_memory(root, _settings(config_file).depth)
        (root / "starter.done").unlink(missing_ok=True)
        for path in moved:
            name, why = path.name.rsplit("-", 2)[0].rsplit(".", 1)
            what = "old-format" if why == "old-format" else "damaged"
            click.echo(f"Moved the {what} {name} aside to {path}.")
        click.echo(f"Memory in {root} is now empty.")

    @memory.command()
    @CONFIG_OPTION
    def repair(config_file: str | None) -> None:
        """Move damaged memory files aside and keep every intact batch before the damage."""
        from gyrosi_core.home import gyrosi_home

        from .memory.repair import repair_memory
        from .memory.store import memory_depth

        root = gyrosi_home() / "memory"
        settings = _settings(config_file)
        done = repair_memory(root, memory_depth(root, settings.depth,
                                                "depth" in settings.model_fields_set))
        engine = _engine(config_file, starter=False)  # opens as usual: the result is checked
        memory = engine.memory
        if done.changed:
            memory.compact()  # a fresh generation, consistent from the start
        for moved in done.moved:
            click.echo(f"Moved {moved.name} aside to {moved.aside} ({moved.why}).")
        for note in done.notes:
            click.echo(note[0].upper() + note[1:] + ".")
        if done.dropped_bytes:
            click.echo(f"Kept the journal's {done.kept_batches:,} whole "
                       f"{'batch' if done.kept_batches == 1 else 'batches'} before the damage; "
                       f"the {done.dropped_bytes:,} bytes from the damage on are only in the "
                       f"copy moved aside.")
        stats = memory.stats()
        state = "repaired" if done.changed else "intact; nothing was moved"
        click.echo(f"The memory in {root} is {state}: {stats.tokens_learned:,} tokens learned, "
                   f"{stats.entries:,} entries.")
