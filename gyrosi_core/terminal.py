"""The terminal renderer: how `gyrosi run` draws a turn as its events arrive."""

from rich.console import Console
from rich.text import Text

from .events import (
    ContentDelta,
    Event,
    MessageEnd,
    MessageStart,
    RawText,
    SourceCited,
    TurnEnd,
    TurnError,
)

STYLES = {"analysis": "dim", "commentary": "cyan", "final": ""}
TOOL_RESULT_PREVIEW = 400  # characters of a tool's answer shown in the terminal


class TerminalRenderer:
    """Streams a turn to the terminal: `final` as the answer, `analysis` dimmed (or hidden),
    tool calls with their recipient, tool results abbreviated."""

    channels = None

    def __init__(self, console: Console, hide_analysis: bool = False, raw: bool = False) -> None:
        self.console = console
        self.hide_analysis = hide_analysis
        self.raw = raw
        self._column0 = True

    def _out(self, text: str, style: str = "") -> None:
        if text:
            self.console.print(Text(text, style=style), end="", soft_wrap=True)
            self.console.file.flush()
            self._column0 = text.endswith("\n")

    def _newline(self) -> None:
        if not self._column0:
            self._out("\n")

    def _shown(self, channel: str | None) -> bool:
        return not (self.hide_analysis and channel == "analysis")

    def on_event(self, event: Event) -> None:
        if self.raw:
            if isinstance(event, RawText):
                self._out(event.text)
            elif isinstance(event, TurnEnd | TurnError):
                self._end(event)
            return
        match event:
            case MessageStart(role="assistant", channel=channel, recipient=recipient):
                if recipient:
                    self._newline()
                    self._out(f"→ {recipient} ", "bold cyan")
                elif channel == "analysis" and self._shown(channel):
                    self._newline()
                    self._out("thinking: ", "dim italic")
                elif channel == "final":
                    self._newline()
            case ContentDelta(role="assistant", channel=channel, text=text) if self._shown(channel):
                self._out(text, STYLES.get(channel or "", ""))
            case MessageEnd(role="assistant", channel=channel) if self._shown(channel):
                self._newline()
            case MessageEnd(role="tool", author=author, text=text):
                cut = len(text) > TOOL_RESULT_PREVIEW
                preview = text[:TOOL_RESULT_PREVIEW] + ("…" if cut else "")
                self._newline()
                self._out(f"← {author}: {preview}\n", "cyan")
            case SourceCited(name=name, position=position):
                self._newline()
                self._out(f"source: {name} (token {position:,})\n", "dim cyan")
            case TurnEnd() | TurnError():
                self._end(event)

    def _end(self, event: Event) -> None:
        self._newline()
        if isinstance(event, TurnError):
            self._out(f"error: {event.message}\n", "bold red")
        elif isinstance(event, TurnEnd) and event.stop_reason == "length":
            self._out("[stopped: max tokens reached]\n", "yellow")
