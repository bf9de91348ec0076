"""The `gyrosi` click group: commands a plugin adds lazily are imported only when they run, and
a `GyrosiError` becomes one sentence and its exit code, never a traceback."""

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click

from .errors import GyrosiError, PluginError


class UserError(click.ClickException):
    """Click prints `Error: <message>` and exits with the error's own code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]


@dataclass(frozen=True)
class LazyCommands:
    target: str  # "module:attr"
    help: Mapping[str, str]  # command name -> one line for `gyrosi --help`


class GyrosiGroup(click.Group):
    """A click group that also holds commands by import path until one of them is used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, LazyCommands] = {}
        #: called with each command once it is loaded (the CLI joins plugin flags to it)
        self.on_load: Callable[[click.Command], None] | None = None

    def add_lazy_command(self, target: str, commands: Mapping[str, str]) -> None:
        """Add `commands` (name -> one-line help) that are imported when first used.

        `target` is `"module:attr"`: a click command (then `commands` names just it) or a
        function `register(cli)` that adds the commands to the group it is given.
        """
        entry = LazyCommands(target, dict(commands))
        for name in commands:
            self.lazy[name] = entry

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self._load(self.lazy[cmd_name])
        return self.commands.get(cmd_name)

    def _load(self, entry: LazyCommands) -> None:
        for name in entry.help:
            self.lazy.pop(name, None)
        module_name, _, attr = entry.target.partition(":")
        before = set(self.commands)
        try:
            obj = getattr(importlib.import_module(module_name), attr)
            if isinstance(obj, click.Command):
                self.add_command(obj, next(iter(entry.help), None))
            else:
                obj(self)
        except GyrosiError:
            raise
        except Exception as exc:
            names = ", ".join(entry.help)
            raise PluginError(
                f"The command {names} from {entry.target} failed to load: "
                f"{type(exc).__name__}: {exc}."
            ) from exc
        if self.on_load is not None:
            for name in sorted(set(self.commands) - before):
                self.on_load(self.commands[name])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but a lazy command's help comes from its registration, unimported."""
        names = [n for n in self.list_commands(ctx)
                 if n in self.lazy or not self.commands[n].hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [
            (name, self.commands[name].get_short_help_str(limit) if name in self.commands
             else _shorten(self.lazy[name].help[name], limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GyrosiError as exc:
            raise UserError(str(exc), exc.exit_code) from None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except GyrosiError as exc:  # a lazy command that cannot be imported
            raise UserError(str(exc), exc.exit_code) from None


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    limit = max(limit, 45)  # click's own floor
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
