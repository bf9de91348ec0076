"""`gyrosi run`: the interactive chat (line editing, history, slash commands) and its piped mode."""

import sys

import click
from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from rich.console import Console

from ..errors import ContextLengthError
from ..events import TurnEnd, TurnError
from ..frontend import engine_options, open_engine, pass_host
from ..home import gyrosi_home
from ..hookspecs import hookimpl
from ..turn import Conversation, TurnEngine

HELP = """Commands:
  /reset   start a new conversation
  /help    show this help
  /exit    leave (Ctrl-D works too)
Ctrl-C stops the answer being written; at an empty prompt it clears the line."""


def _interactive(engine: TurnEngine, console: Console) -> None:
    history = gyrosi_home() / "history"
    session: PromptSession[str] = PromptSession(history=FileHistory(str(history)))
    conv = engine.new_conversation()
    console.print(f"[bold]gyrosi[/bold] · {engine.backend.describe()} · /help for commands")
    try:
        while True:
            try:
                line = session.prompt(">>> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            command = line.strip()
            if command in ("/exit", "/quit"):
                break
            if command == "/help":
                console.print(HELP)
                continue
            if command == "/reset":
                engine.end_conversation(conv)
                conv = engine.new_conversation()
                console.print("[dim]new conversation[/dim]")
                continue
            if command.startswith("/"):
                console.print(f"Unknown command {command.split()[0]}; /help lists the commands.")
                continue
            conv = _answer(engine, conv, line, console)
    finally:
        engine.end_conversation(conv)


def _answer(engine: TurnEngine, conv: Conversation, line: str, console: Console) -> Conversation:
    events = engine.user_turn(conv, line)
    try:
        for _ in events:  # the terminal renderer (a channel handler) draws as events arrive
            pass
    except KeyboardInterrupt:
        events.close()
        console.print("\n[yellow]interrupted[/yellow]")
    except ContextLengthError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}")
    return conv


def _piped(engine: TurnEngine) -> int:
    """One message per input line; only final answers on stdout, errors on stderr."""
    conv = engine.new_conversation()
    status = 0
    try:
        for line in sys.stdin:
            try:
                for event in engine.user_turn(conv, line.rstrip("\n")):
                    if isinstance(event, TurnError):
                        click.echo(f"error: {event.message}", err=True)
                        status = 1
                    elif isinstance(event, TurnEnd) and event.stop_reason != "error":
                        click.echo(event.final_text)
            except ContextLengthError as exc:
                click.echo(f"error: {exc}", err=True)
                status = 1
    finally:
        engine.end_conversation(conv)
    return status


@hookimpl
def register_commands(cli):
    @cli.command()
    @engine_options
    @click.option("--hide-analysis", is_flag=True, help="Do not show the analysis channel.")
    @click.option("--raw", is_flag=True, help="Show the raw Harmony token stream.")
    @pass_host
    def run(host, hide_analysis: bool, raw: bool, **flags):
        """Chat with a backend in the terminal.

        With standard input not a terminal, reads one message per line and prints only the
        final answers, so the chat can be scripted.
        """
        interactive = sys.stdin.isatty()
        console = Console(highlight=False)
        options = {"render": interactive, "hide_analysis": hide_analysis, "raw": raw}
        engine = open_engine(host, "run", flags, console=console, options=options)
        try:
            if interactive:
                _interactive(engine, console)
            else:
                sys.exit(_piped(engine))
        finally:
            engine.close()
