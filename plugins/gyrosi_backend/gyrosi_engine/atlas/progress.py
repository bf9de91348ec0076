"""Progress reporting for long atlas work: a protocol, a silent default and a rich bar."""

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def human(n: float) -> str:
    for limit, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if n >= limit:
            return f"{n / scale:.1f}{suffix}"
    return f"{n:,.0f}"


class CountColumn(ProgressColumn):
    """`done/total unit` and the rate, in compact units (202.0M transitions, 41.3M/s)."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        total = f"/{human(task.total)}" if task.total is not None else ""
        speed = task.finished_speed or task.speed
        rate = f" {human(speed)}/s" if speed else ""
        return Text(f"{human(task.completed)}{total} {unit}{rate}", style="progress.download")


class Reporter(Protocol):
    def phase(self, name: str, total: float | None, unit: str) -> None: ...
    def advance(self, amount: float, note: str | None = None) -> None: ...
    def message(self, text: str) -> None: ...


class Silent:
    def phase(self, name: str, total: float | None, unit: str) -> None:
        pass

    def advance(self, amount: float, note: str | None = None) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class RichReporter(AbstractContextManager["RichReporter"]):
    """One bar per phase on stderr, each with its own count, rate and ETA."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<15}"),
            BarColumn(bar_width=20),
            CountColumn(),
            TextColumn("[dim]{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> "RichReporter":
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish()
        self.progress.stop()

    def _finish(self) -> None:
        if self.task is not None:
            task = self.progress.tasks[self.task]
            if task.total is None:  # an open-ended phase ends at what it counted
                self.progress.update(self.task, total=task.completed)
            self.progress.stop_task(self.task)

    def phase(self, name: str, total: float | None, unit: str) -> None:
        self._finish()
        self.task = self.progress.add_task(name, total=total, unit=unit, note="")

    def advance(self, amount: float, note: str | None = None) -> None:
        if self.task is not None:
            if note is None:
                self.progress.update(self.task, advance=amount)
            else:
                self.progress.update(self.task, advance=amount, note=note)

    def message(self, text: str) -> None:
        self.progress.console.print(text)
