"""`gyrosi run` as a user runs it: a real process under a pseudo-terminal (pexpect), and piped."""

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gyrosi_core.testing import run_gyrosi

pexpect = pytest.importorskip("pexpect")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

TIMEOUT = 20  # seconds to wait for any one thing to appear; generous, never asserted on
PROMPT = ">>>"

# -- plugins, installed into a temporary site with `plugin_site` ---------------------------------

SLOW_PLUGIN = """
import time

from gyrosi_core import hookimpl
from gyrosi_stub.backend import StubBackend

STORY = "Once upon a time " + " ".join(f"word{i}" for i in range(300)) + " THE END"
SCRIPT = [{"match": "story", "reply": [{"channel": "final", "text": STORY}]}]


class SlowBackend(StubBackend):
    \"\"\"The stub, one token every 30 ms; asked for a story, a long final answer.\"\"\"

    def __init__(self, config, encoding):
        super().__init__({"script": SCRIPT, **config}, encoding)

    def generate(self, tokens, **options):
        for token in super().generate(tokens, **options):
            time.sleep(0.03)
            yield token


@hookimpl
def register_backends(register):
    register("slow", SlowBackend)
"""

TOOL_PLUGIN = """
from gyrosi_core import hookimpl
from gyrosi_core.tools import FunctionTool

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}


@hookimpl
def register_tools(register):
    register("functions.add",
             lambda config: FunctionTool(name="add", description="Add two integers",
                                         fn=lambda a, b: str(a + b), parameters=SCHEMA))
"""

TOOL_SCRIPT = {"backends": {"stub": {"script": [{
    "match": "add",
    "reply": [{"channel": "commentary", "recipient": "functions.add", "content_type": "json",
               "text": '{"a": 2, "b": 40}'}],
    "after_tool": [{"channel": "final", "text": "The sum is {tool}"}],
}]}}}

PLAIN_TEXT_PLUGIN = """
from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend


class PlainTextBackend(BaseBackend):
    \"\"\"Answers in plain text, with no Harmony structure at all.\"\"\"

    def generate(self, tokens, *, stop_tokens, max_tokens, **options):
        yield from self.encoding.encode("hello world")[:max_tokens]


@hookimpl
def register_backends(register):
    register("plaintext", PlainTextBackend)
"""

MALFORMED = "not valid Harmony"


# -- reading a terminal ------------------------------------------------------------------------

# CSI (colours, cursor moves, modes), OSC (titles) and two-character escapes.
ESCAPE = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def _sgr_dim(params: str, dim: bool) -> bool:
    """Whether text is dim after an SGR sequence `ESC [ params m`."""
    codes = [int(c) if c.isdigit() else 0 for c in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in (0, 22):
            dim = False
        elif code == 2:
            dim = True
        elif code in (38, 48, 58):  # extended colour: skip its arguments
            i += 2 if codes[i + 1 : i + 2] == [5] else 4
        i += 1
    return dim


def render(raw: str) -> tuple[str, str]:
    """What a terminal shows, as (all text, the text drawn dim); escapes and CRs dropped."""
    shown: list[str] = []
    dimmed: list[str] = []
    dim, pos = False, 0
    for m in ESCAPE.finditer(raw):
        text = raw[pos : m.start()]
        shown.append(text)
        if dim:
            dimmed.append(text)
        pos = m.end()
        if m.group(2) == "m" and not (m.group(1) or "").startswith("?"):
            dim = _sgr_dim(m.group(1) or "", dim)
    tail = raw[pos:].split("\x1b", 1)[0]  # an escape still arriving is not text
    shown.append(tail)
    if dim:
        dimmed.append(tail)
    return "".join(shown).replace("\r", ""), "".join(dimmed).replace("\r", "")


class Terminal:
    """`gyrosi run ARGS` under a pseudo-terminal, read as the user sees it."""

    def __init__(self, env: dict[str, str], *args: str, columns: int = 120) -> None:
        # the pty's size is the terminal's: COLUMNS and LINES (pytest-xdist's workers set them)
        # would override it
        env = {key: value for key, value in env.items() if key not in ("COLUMNS", "LINES")}
        env = {**env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color"}
        self.child = pexpect.spawn(
            sys.executable, ["-m", "gyrosi_core", "run", *args],
            env=env, encoding="utf-8", dimensions=(40, columns), timeout=TIMEOUT,
        )
        self.raw = ""
        self.seen = 0  # how much of the shown text `expect` has consumed
        self.banner = ""  # what was shown before the first prompt

    @property
    def text(self) -> str:
        return render(self.raw)[0]

    @property
    def dim_text(self) -> str:
        return render(self.raw)[1]

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False once the process has ended."""
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            return False
        return True

    def expect(self, wanted: str) -> str:
        """Wait until `wanted` is shown after what was already matched; return the text shown
        in between."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            text = self.text
            found = text.find(wanted, self.seen)
            if found >= 0:
                between, self.seen = text[self.seen : found], found + len(wanted)
                return between
            left = deadline - time.monotonic()
            alive = left > 0 and self._read(min(left, 0.5))
            if not alive:
                why = "in time" if left <= 0 else "before the process ended"
                pytest.fail(f"{wanted!r} was not shown {why}; the screen after the last match:\n"
                            f"{text[self.seen:]}")

    def prompt(self) -> str:
        """Wait for the input prompt; return what was shown before it."""
        return self.expect(PROMPT)

    def send(self, line: str) -> None:
        self.child.sendline(line)

    def say(self, message: str) -> str:
        """At the prompt, send `message` and wait for the next prompt; return what was shown
        in between (the answer)."""
        self.send(message)
        self.expect(f"{message}\n")  # the line as typed, accepted; the prompt is redrawn in it
        return self.prompt()

    def exit_status(self) -> int:
        """Wait for the process to end (reading the rest of its output); its exit status."""
        deadline = time.monotonic() + TIMEOUT
        while self._read(0.5):
            if time.monotonic() > deadline:
                pytest.fail(f"the process did not end; the screen:\n{self.text[self.seen:]}")
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}"
        return self.child.exitstatus

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def site(plugin_site):
    return plugin_site()


@pytest.fixture
def env(site, gyrosi_home) -> dict[str, str]:
    """Environment for a `gyrosi` subprocess: the temporary home, and `site` on the path."""
    return site.env(GYROSI_HOME=str(gyrosi_home))


@pytest.fixture
def terminal(env) -> Iterator[Callable[..., Terminal]]:
    """Start `gyrosi run ARGS` under a pseudo-terminal and wait for its first prompt; the
    process is killed at teardown if still running."""
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        term = Terminal(env, *args)
        started.append(term)
        term.banner = term.prompt()
        return term

    yield start
    for term in started:
        term.kill()


@pytest.fixture
def tool_config(site, tmp_path) -> Path:
    site.add("gyrosi-adder", "gyrosi_adder", TOOL_PLUGIN, entry_point="adder")
    path = tmp_path / "tool-config.json"
    # a plugin's tool is off until enabled
    path.write_text(json.dumps({**TOOL_SCRIPT, "core": {"tools": ["functions.add"]}}),
                    encoding="utf-8")
    return path


# -- interactive -------------------------------------------------------------------------------


def test_chat_shows_banner_dim_analysis_and_final_answer(terminal):
    term = terminal("--backend", "stub")
    assert "gyrosi" in term.banner and "/help for commands" in term.banner
    shown = term.say("hello there")
    assert "The user said: hello there" in shown
    assert "You said: hello there" in shown
    assert shown.index("The user said") < shown.index("You said")
    assert "The user said: hello there" in term.dim_text  # analysis is dimmed ...
    assert "You said" not in term.dim_text  # ... the answer is not
    term.send("/exit")
    assert term.exit_status() == 0


def test_hide_analysis_shows_only_the_final_answer(terminal):
    term = terminal("--backend", "stub", "--hide-analysis")
    shown = term.say("hello there")
    assert "You said: hello there" in shown
    assert "The user said" not in term.text
    term.send("/exit")
    assert term.exit_status() == 0


def test_slash_commands(terminal):
    term = terminal("--backend", "stub")
    shown = term.say("/help")
    assert "/reset" in shown and "/exit" in shown
    assert "new conversation" in term.say("/reset")
    assert "Unknown command /bogus" in term.say("/bogus")
    assert "You said: still here" in term.say("still here")  # the session keeps working
    term.send("/exit")
    assert term.exit_status() == 0


def test_ctrl_d_at_the_prompt_exits_cleanly(terminal):
    term = terminal("--backend", "stub")
    assert "You said: hi" in term.say("hi")
    term.child.sendeof()
    assert term.exit_status() == 0


def test_history_is_saved_and_recalled_with_up_arrow(terminal, gyrosi_home):
    first = terminal("--backend", "stub")
    assert "You said: first message" in first.say("first message")
    first.child.sendeof()  # Ctrl-D, so "first message" stays the latest history entry
    assert first.exit_status() == 0
    assert "first message" in (gyrosi_home / "history").read_text(encoding="utf-8")

    second = terminal("--backend", "stub")
    second.child.send("\x1b[A")  # Up arrow
    second.expect("first message")
    second.child.send("\r")  # Enter sends the recalled line
    second.expect("You said: first message")
    second.prompt()
    second.send("/exit")
    assert second.exit_status() == 0


def test_ctrl_c_stops_the_answer_not_the_program(terminal, site):
    site.add("gyrosi-slow", "gyrosi_slow", SLOW_PLUGIN, entry_point="slow")
    term = terminal("--backend", "slow")
    term.send("tell me a story")
    term.expect("Once upon a time")
    term.child.sendintr()
    term.expect("interrupted")
    term.prompt()
    assert "THE END" not in term.text  # the answer stopped where it was interrupted
    # Ctrl-C at the prompt throws away the line being typed
    term.child.send("never sent")
    term.child.sendintr()
    assert "You said: are you there" in term.say("are you there")
    assert term.child.isalive()
    assert "You said: never sent" not in term.text
    term.send("/exit")
    assert term.exit_status() == 0
    assert "THE END" not in term.text


def test_tool_call_round_trip(terminal, tool_config):
    term = terminal("--backend", "stub", "--config", str(tool_config))
    shown = term.say("please add 2 and 40")
    call = shown.index("functions.add")  # the call, with its recipient
    result = shown.index("functions.add: 42")  # the tool's answer
    answer = shown.index("The sum is 42")
    assert call < result < answer
    term.send("/exit")
    assert term.exit_status() == 0


def test_malformed_harmony_is_an_error_not_a_crash(terminal, site):
    site.add("gyrosi-plaintext", "gyrosi_plaintext", PLAIN_TEXT_PLUGIN, entry_point="plaintext")
    term = terminal("--backend", "plaintext")
    assert MALFORMED in term.say("hi")
    assert MALFORMED in term.say("hi again")  # still usable, and still the same error
    assert "Traceback" not in term.text
    term.send("/exit")
    assert term.exit_status() == 0


# -- piped -------------------------------------------------------------------------------------


def test_piped_prints_one_final_answer_per_line(env):
    result = run_gyrosi("run", "--backend", "stub", input="hello\nworld\n", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: hello\nYou said: world\n"
    assert "The user said" not in result.stdout


def test_piped_tool_call_round_trip(env, tool_config):
    result = run_gyrosi("run", "--backend", "stub", "--config", str(tool_config),
                        input="please add 2 and 40\n", env=env)
    assert (result.returncode, result.stdout) == (0, "The sum is 42\n"), result.stderr


def test_trace_records_every_turn(env, tmp_path):
    trace = tmp_path / "trace.jsonl"
    result = run_gyrosi("run", "--backend", "stub", "--trace", str(trace),
                        input="hello\nworld\n", env=env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    types = [e["type"] for e in events]
    assert {"turn.start", "message.start", "message.delta", "message.end", "turn.end"} <= set(
        types)
    assert types.count("turn.end") == 2  # one per input line
    finals = [e["text"] for e in events if e["type"] == "message.end" and e["channel"] == "final"]
    assert finals == ["You said: hello", "You said: world"]
    assert [e["final_text"] for e in events if e["type"] == "turn.end"] == finals


def test_piped_malformed_harmony_is_one_error_per_line(env, site):
    site.add("gyrosi-plaintext", "gyrosi_plaintext", PLAIN_TEXT_PLUGIN, entry_point="plaintext")
    result = run_gyrosi("run", "--backend", "plaintext", input="hi\nhi again\n", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count(MALFORMED) == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_raw_shows_the_harmony_token_stream(terminal):
    term = terminal("--backend", "stub", "--raw")
    shown = term.say("hi")
    assert "<|channel|>analysis<|message|>The user said: hi<|end|>" in shown
    assert "<|start|>assistant<|channel|>final<|message|>You said: hi<|return|>" in shown
    term.send("/exit")
    assert term.exit_status() == 0


def test_a_message_of_several_lines_between_triple_quotes(terminal):
    term = terminal("--backend", "stub")
    term.send('"""first line')
    term.expect("...")  # the continuation prompt
    term.send("second line")
    term.send('last line"""')
    shown = term.prompt()
    assert "You said: first line\nsecond line\nlast line" in shown
    assert "You said: one line" in term.say('"""one line"""')
    term.send("/exit")
    assert term.exit_status() == 0


def test_the_banner_fits_a_narrow_terminal(env):
    term = Terminal(env, "--backend", "stub", columns=50)
    try:
        banner = term.prompt()
        lines = [line for line in banner.splitlines() if line.strip()]
        assert lines and lines[0].startswith("gyrosi") and "/help for commands" in lines[0]
        assert all(len(line) <= 50 for line in lines), lines
        term.send("/exit")
        assert term.exit_status() == 0
    finally:
        term.kill()


def test_run_continues_a_logged_conversation(terminal, gyrosi_home):
    first = terminal("--backend", "stub")
    assert "You said: remember me" in first.say("remember me")
    first.send("/exit")
    assert first.exit_status() == 0
    second = terminal("--backend", "stub", "-c")
    assert "continuing conv_" in second.banner
    assert "You said: again" in second.say("again")
    second.send("/exit")
    assert second.exit_status() == 0
    logged = json.loads(run_gyrosi("logs", "--json", env={"GYROSI_HOME": str(gyrosi_home)})
                        .stdout)
    assert [t["prompt"] for t in logged] == ["remember me", "again"]
    assert len({t["conversation_id"] for t in logged}) == 1
    assert len(logged[1]["messages"]) == 3  # this turn's user, analysis and final messages


SLOW_START_PLUGIN = """
import sys
import time

from gyrosi_core import hookimpl
from gyrosi_stub.backend import StubBackend


class SlowStart(StubBackend):
    \"\"\"The stub, after two seconds of setting up (and saying so).\"\"\"

    def __init__(self, config, encoding):
        print("preparing the model", file=sys.stderr, flush=True)
        time.sleep(2)
        print("model ready", file=sys.stderr, flush=True)
        super().__init__(config, encoding)


@hookimpl
def register_backends(register):
    register("slowstart", SlowStart)
"""


def test_the_prompt_comes_first_and_the_backend_opens_behind_it(terminal, site):
    site.add("gyrosi-slowstart", "gyrosi_slowstart", SLOW_START_PLUGIN, entry_point="slowstart")
    term = terminal("--backend", "slowstart")
    assert "model ready" not in term.banner  # the prompt did not wait for the backend
    term.child.send("typed while it opens")  # typing goes to the prompt meanwhile
    term.expect("model ready")  # what the backend prints does not end the typed line
    term.send("")  # Enter: the line typed before the backend was ready is the message
    term.expect("You said: typed while it opens")
    term.prompt()
    term.send("/exit")
    assert term.exit_status() == 0
