"""`gyrosi browser index DIR`: build or refresh a corpus's search index, with progress."""

from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .corpus import Corpus


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.0f} files/s" if task.speed else "", style="progress.data.speed")


@click.group("browser")
def browser_group() -> None:
    """The local browser's corpus index."""


@browser_group.command("index")
@click.argument("corpus", type=click.Path(file_okay=False))
@click.option(
    "--index", "index_path", type=click.Path(dir_okay=False),
    help="Index file (default: one per corpus under $GYROSI_HOME/browser).",
)
@click.option(
    "--max-page-mb", type=click.FloatRange(min=0, min_open=True), default=4.0, show_default=True,
    help="Index at most this much of each file (as tools.browser.max_page_mb).",
)
def index(corpus: str, index_path: str | None, max_page_mb: float) -> None:
    """Index (or re-index what changed in) the HTML, Markdown and text files under CORPUS."""
    store = Corpus(Path(corpus), index_path, max_bytes=max(1, int(max_page_mb * 1024 * 1024)))
    columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeRemainingColumn())
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("index", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            stats = store.refresh(advance)
    finally:
        store.close()
    click.echo(
        f"Indexed {stats.files} files ({stats.added} added, {stats.updated} updated, "
        f"{stats.removed} removed) into {store.index_path}."
    )
    if stats.cut:
        shown = ", ".join(stats.cut[:5]) + (f" and {len(stats.cut) - 5} more"
                                            if len(stats.cut) > 5 else "")
        click.echo(f"Larger than {max_page_mb:g} MB, so indexed by their first {max_page_mb:g} "
                   f"MB: {shown}.")
