"""`gyrosi run`: the interactive chat (line editing, history, slash commands) and its piped mode.

Only click is imported at start-up; the terminal, the turn engine and the log are imported when
the command runs.
"""

import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

import click

from ..hookspecs import hookimpl
from ..options import engine_options, log_options, pass_host

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from rich.console import Console

    from ..logs import TurnRecorder
    from ..turn import Conversation, EnginePlan, TurnEngine

HELP = '''Commands:
  /reset   start a new conversation
  /help    show this help
  /exit    leave (Ctrl-D works too)
A message of several lines: paste it, or start it with """ and end it with """.
Ctrl-C stops the answer being written; at an empty prompt it clears the line.'''

FENCE = '"""'


def read_message(session: "PromptSession[str]") -> str:
    """One message: a line, or the lines between a line that starts with \"\"\" and one that
    ends with it (the fences themselves dropped)."""
    line = session.prompt(">>> ")
    if not line.lstrip().startswith(FENCE):
        return line
    first = line.lstrip()[len(FENCE):]
    if first.rstrip().endswith(FENCE):  # """one line"""
        return first.rstrip()[: -len(FENCE)]
    lines = [first] if first else []
    while True:
        more = session.prompt("... ")
        if more.rstrip().endswith(FENCE):
            last = more.rstrip()[: -len(FENCE)]
            if last:
                lines.append(last)
            return "\n".join(lines)
        lines.append(more)


def banner(title: str, described: str, width: int, continuing: str | None = None) -> str:
    """One line that fits `width` columns: what answers, and where to get help."""
    tail = (f" · continuing {continuing}" if continuing else "") + " · /help for commands"
    room = width - len("gyrosi · ") - len(tail)
    if len(described) > room:
        described = title if len(title) <= room else ""
    return f"gyrosi · {described}{tail}" if described else f"gyrosi{tail}"[:width]


class Starting:
    """The engine, started in a thread while the prompt is already shown (a backend such as
    the GyroSI engine takes seconds to open); the first message waits for it."""

    def __init__(self, plan: "EnginePlan") -> None:
        self.engine: TurnEngine | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._build, args=(plan,), daemon=True,
                                       name="gyrosi-engine-start")
        self.thread.start()

    def _build(self, plan: "EnginePlan") -> None:
        try:
            self.engine = plan.build()
        except BaseException as exc:  # handed to the main thread by result()
            self.error = exc

    def result(self, console: "Console | None" = None) -> "TurnEngine":
        if self.thread.is_alive() and console is not None:
            console.print("[dim]starting the backend…[/dim]")
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.engine is not None
        return self.engine


def _interactive(plan: "EnginePlan", flags: dict[str, Any], console: "Console") -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    from ..frontend import logged_history, start_conversation
    from ..home import gyrosi_home, private_file

    logged = logged_history(flags)  # a bad --cid is one sentence now, not after a message
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(private_file(gyrosi_home() / "history"))))
    starting = Starting(plan)
    console.print(banner(plan.backend.name, plan.backend.description, console.width,
                         logged[0] if logged else None), style="bold", highlight=False)
    engine: TurnEngine | None = None
    conv: Conversation | None = None
    try:
        while True:
            try:
                if starting.thread.is_alive():  # what the backend prints while it opens goes
                    with patch_stdout(raw=True):  # above the prompt, not into the typed line
                        message = read_message(session)
                else:
                    message = read_message(session)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            command = message.strip()
            if command in ("/exit", "/quit"):
                break
            if command == "/help":
                console.print(HELP)
                continue
            if command == "/reset":
                if engine is not None and conv is not None:
                    engine.end_conversation(conv)
                    conv = engine.new_conversation()
                console.print("[dim]new conversation[/dim]")
                continue
            if command.startswith("/") and "\n" not in command:
                console.print(f"Unknown command {command.split()[0]}; /help lists the commands.")
                continue
            if engine is None:
                try:
                    engine = starting.result(console)
                except KeyboardInterrupt:
                    console.print("[yellow]interrupted[/yellow]")
                    continue
            if conv is None:
                conv, recorder = start_conversation(engine, "run", flags, logged)
            _answer(engine, conv, recorder, message, console)
    finally:
        if engine is None:  # never asked anything: still close what the thread opens
            try:
                engine = starting.result()
            except BaseException:
                engine = None
        if engine is not None:
            if conv is not None:
                engine.end_conversation(conv)
            engine.close()


class CtrlC:
    """While an answer streams, Ctrl-C raises KeyboardInterrupt as usual *and* leaves a mark
    the event loop checks after every event: an interrupt raised where Python cannot pass it
    on (inside a finaliser or a callback, where it is printed and dropped) still stops the
    answer at the next token instead of being lost."""

    def __init__(self) -> None:
        self.pressed = False
        self.previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def __enter__(self) -> "CtrlC":
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.previous)


def _answer(engine: "TurnEngine", conv: "Conversation", recorder: "TurnRecorder", text: str,
            console: "Console") -> None:
    from ..errors import ContextLengthError

    try:
        with CtrlC() as ctrl_c, recorder.turn(conv, text) as watch:
            events = engine.user_turn(conv, text)
            try:
                for event in events:  # the terminal renderer (a handler) draws as events arrive
                    watch.see(event)
                    if ctrl_c.pressed:
                        raise KeyboardInterrupt
            finally:
                events.close()
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted[/yellow]")
    except ContextLengthError as exc:
        console.print(f"[bold red]error:[/bold red] {exc}")


def _piped(engine: "TurnEngine", conv: "Conversation", recorder: "TurnRecorder") -> int:
    """One message per input line; only final answers on stdout, errors on stderr."""
    from ..errors import ContextLengthError
    from ..events import TurnEnd, TurnError

    status = 0
    try:
        for line in sys.stdin:
            text = line.rstrip("\n")
            try:
                with recorder.turn(conv, text) as watch:
                    for event in engine.user_turn(conv, text):
                        watch.see(event)
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
def register_commands(cli: click.Group) -> None:
    @cli.command()
    @engine_options
    @log_options
    @click.option("--hide-analysis", is_flag=True, help="Do not show the analysis channel.")
    @click.option("--raw", is_flag=True, help="Show the raw Harmony token stream.")
    @pass_host
    def run(host: Any, hide_analysis: bool, raw: bool, **flags: Any) -> None:
        """Chat with a backend in the terminal.

        With standard input not a terminal, reads one message per line and prints only the
        final answers, so the chat can be scripted. Every turn is logged (see `gyrosi logs`)
        unless --no-log is given.
        """
        from rich.console import Console

        from ..frontend import plan_front_end, start_conversation

        interactive = sys.stdin.isatty()
        console = Console(highlight=False)
        options = {"render": interactive, "hide_analysis": hide_analysis, "raw": raw}
        plan = plan_front_end(host, "run", flags, console=console, options=options)
        if interactive:
            _interactive(plan, flags, console)
            return
        engine = plan.build()
        try:
            conv, recorder = start_conversation(engine, "run", flags)
            sys.exit(_piped(engine, conv, recorder))
        finally:
            engine.close()
