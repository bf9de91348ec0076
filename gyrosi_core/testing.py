"""Test kit for GyroSI plugin authors; installed as a pytest plugin (entry point `pytest11`).

Fixtures:
    gyrosi_home        a temporary GYROSI_HOME (and no GYROSI_CONFIG) for one test
    harmony_encoding   the offline o200k_harmony encoding (session-wide)
    plugin_host        factory: a PluginHost with only the plugins you pass
    plugin_site        factory: write an installed-looking plugin distribution into a temp dir
                       that a `gyrosi` subprocess discovers through PYTHONPATH

For tool and channel-handler authors:
    scripted_turn      factory: one turn on a scripted backend (no model) with your plugins;
                       `call=("functions.NAME", {...})` makes the model call your tool (it is
                       enabled for the turn), and the final answer quotes the tool's reply
    EventRecorder      a channel handler that keeps every event it sees (`.events`, `.finals`)

For backend authors: `harmony_reply(encoding, text)` is what a backend yields for a final answer
(and `harmony_reply(encoding, args, recipient=...)` for a tool call).

Servers: `ServeProcess(home, config, env).start()` runs `gyrosi serve` as a real process on a
free 127.0.0.1 port (`free_port()`); its `url` takes any HTTP or OpenAI client.

The backend conformance suite: subclass `BackendConformance` in your tests and implement
`make_backend(encoding)`; pytest collects the inherited tests.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ENV_KEYS = ("GYROSI_HOME", "GYROSI_CONFIG", "GYROSI_LOAD_PLUGINS")


@pytest.fixture
def gyrosi_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary GYROSI_HOME, and an empty user config directory (XDG_CONFIG_HOME), so the
    test sees the packaged defaults and nothing of the user's own config."""
    home = tmp_path / "gyrosi-home"
    home.mkdir()
    monkeypatch.setenv("GYROSI_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    monkeypatch.delenv("GYROSI_CONFIG", raising=False)
    monkeypatch.delenv("GYROSI_LOAD_PLUGINS", raising=False)
    return home


@pytest.fixture(scope="session")
def harmony_encoding(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from .encoding import get_encoding

    if "GYROSI_HOME" not in os.environ:  # keep the vocabulary cache out of the user's home
        os.environ["GYROSI_HOME"] = str(tmp_path_factory.mktemp("gyrosi-session-home"))
    return get_encoding()


@pytest.fixture
def plugin_host(gyrosi_home: Path) -> Callable[..., Any]:
    from .plugins import PluginHost

    def make(*plugins: ModuleType | object, entry_points: bool = False) -> PluginHost:
        host = PluginHost(entry_points=entry_points)
        for plugin in plugins:
            host.register(plugin)
        return host

    return make


class PluginSite:
    """A directory that looks like site-packages holding plugin distributions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add(self, dist: str, module: str, source: str, entry_point: str | None = None) -> None:
        """Install module `module` (from `source`) as distribution `dist`, entry point
        `entry_point` (default: the module name) in the `gyrosi` group."""
        (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = self.root / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[gyrosi]\n{entry_point or module} = {module}\n", encoding="utf-8"
        )

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess that sees these distributions."""
        env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.root), os.environ.get("PYTHONPATH", "")) if p
        )
        env.update(extra)
        return env


@pytest.fixture
def plugin_site(tmp_path: Path) -> Callable[..., PluginSite]:
    def make(name: str = "site") -> PluginSite:
        return PluginSite(tmp_path / name)

    return make


def run_gyrosi(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real `gyrosi` CLI in a subprocess (same interpreter) and capture its output.

    Standard input is `input`, or empty: never the test runner's own (piped stdin is read).
    """
    return subprocess.run(
        [sys.executable, "-m", "gyrosi_core", *args],
        env=env, input=input if input is not None else "", capture_output=True, text=True,
        timeout=timeout,
    )


# -- scripted turns, for tool and handler authors ------------------------------------------------


def harmony_reply(encoding: Any, text: str, *, recipient: str | None = None,
                  channel: str | None = None) -> list[int]:
    """The tokens a backend yields for one assistant message: a final answer ending the turn with
    `<|return|>`, or (with `recipient`) a tool call ending it with `<|call|>`.

    The prompt a backend receives already ends with `<|start|>assistant`, so what it yields
    starts at the message's header (`<|channel|>...`) and ends with the stop token.
    """
    from openai_harmony import Message, Role

    message = Message.from_role_and_content(Role.ASSISTANT, text)
    if recipient:
        message = message.with_recipient(recipient).with_content_type("<|constrain|>json")
    message = message.with_channel(channel or ("commentary" if recipient else "final"))
    rendered = encoding.decode(encoding.render(message))
    body = rendered.removeprefix("<|start|>assistant").removesuffix("<|end|>")
    return list(encoding.encode(body + ("<|call|>" if recipient else "<|return|>"),
                                 allowed_special="all"))


class ScriptedBackend:
    """A backend that follows a script: call `call` (recipient, arguments) if given, then, once
    the tool has answered, give `final` with `{tool}` replaced by the tool's reply."""

    context_length = 131072
    speaks_harmony = True

    def __init__(self, encoding: Any, call: tuple[str, Any] | None, final: str) -> None:
        self.encoding = encoding
        self.call = call
        self.final = final

    def generate(self, request: Any) -> Iterator[int]:
        prompt = self.encoding.decode(list(request.tokens))
        turn = prompt[prompt.rfind("<|start|>user"):]
        if self.call is not None and f"<|start|>{self.call[0]} to=assistant" not in turn:
            args = self.call[1] if isinstance(self.call[1], str) else json.dumps(self.call[1])
            out = harmony_reply(self.encoding, args, recipient=self.call[0])
        else:
            answered = turn.rsplit("<|message|>", 1)[-1].split("<|end|>", 1)[0]
            out = harmony_reply(self.encoding, self.final.replace("{tool}", answered))
        yield from out[: request.max_tokens]

    def describe(self) -> str:
        return "Scripted test backend"

    def close(self) -> None:
        pass


class EventRecorder:
    """A channel handler that keeps every turn event it is given."""

    def __init__(self, channels: frozenset[str] | None = None) -> None:
        self.channels = channels
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    @property
    def finals(self) -> list[str]:
        """The text of each final-channel message."""
        from .events import MessageEnd

        return [e.text for e in self.events if isinstance(e, MessageEnd) and e.channel == "final"]

    def of_type(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def scripted_turn(gyrosi_home: Path, harmony_encoding: Any) -> Callable[..., EventRecorder]:
    """`scripted_turn(*plugins, text="hi", call=None, final="{tool}", config=None,
    frontend="test")`: run one turn with `plugins` registered (their tools, their handlers) on
    a scripted backend; returns an `EventRecorder` holding every event of the turn."""
    from .channels import HandlerContext, open_handlers
    from .config import Config
    from .plugins import PluginHost
    from .turn import plan_engine

    def run(*plugins: ModuleType | object, text: str = "hi",
            call: tuple[str, Any] | None = None, final: str = "{tool}",
            config: dict[str, Any] | None = None, frontend: str = "test") -> EventRecorder:
        host = PluginHost(entry_points=False)
        for plugin in plugins:
            host.register(plugin)
        settings = Config.model_validate(config or {})
        recorder = EventRecorder()
        handlers = [*open_handlers(host, HandlerContext(frontend, settings)), recorder]
        scripted = _scripted_plugin(call, final)
        host.register(scripted)
        tool = call[0] if call else None
        enable = [name for name in host.tools() if tool and (tool == name or
                                                            tool.startswith(name + "."))]
        engine = plan_engine(host, settings, "scripted", handlers=handlers,
                             enable_tools=enable).build()
        conv = engine.new_conversation()
        try:
            for _ in engine.user_turn(conv, text):
                pass
        finally:
            engine.end_conversation(conv)
            engine.close()
        return recorder

    return run


def _scripted_plugin(call: tuple[str, Any] | None, final: str) -> object:
    from .hookspecs import hookimpl

    class Scripted:
        @hookimpl
        def register_backends(self, register: Callable[..., None]) -> None:
            register("scripted", lambda config, encoding: ScriptedBackend(encoding, call, final))

    return Scripted()


# -- backend conformance suite ---------------------------------------------------------------


class BackendConformance:
    """Inherit in a test class and implement `make_backend`; every backend must pass these.

    Backends that declare `speaks_harmony = True` are also checked for well-formed Harmony that
    ends the turn with `<|return|>` or `<|call|>`.
    """

    max_tokens = 64

    def make_backend(self, encoding: Any) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def backend(self, harmony_encoding: Any) -> Iterator[Any]:
        backend = self.make_backend(harmony_encoding)
        try:
            yield backend
        finally:
            backend.close()

    @pytest.fixture
    def engine(self, backend: Any, harmony_encoding: Any) -> Any:
        from .config import Config, CoreConfig
        from .turn import TurnEngine

        config = Config(core=CoreConfig(max_tokens=self.max_tokens))
        return TurnEngine(backend, harmony_encoding, config=config)

    def _prompt(self, engine: Any, text: str, history: Sequence[tuple[str, str]] = ()) -> list[int]:
        from openai_harmony import Message, Role

        conv = engine.new_conversation()
        for user, answer in history:
            conv.messages.append(Message.from_role_and_content(Role.USER, user))
            conv.messages.append(
                Message.from_role_and_content(Role.ASSISTANT, answer).with_channel("final")
            )
        conv.messages.append(Message.from_role_and_content(Role.USER, text))
        return engine.render(conv)

    def _generate(self, backend: Any, engine: Any, prompt: list[int], **kw: Any) -> list[int]:
        from .backend import GenerateRequest, start_generation

        options = {"stop_tokens": engine.stop_tokens, "max_tokens": self.max_tokens,
                   "temperature": 0.0, "seed": 0, "session_id": "conformance"} | kw
        # the token ids; `Source` objects a backend may yield among them are not tokens
        return [t for t in start_generation(backend, GenerateRequest(prompt, **options))
                if isinstance(t, int)]

    def test_describes_itself(self, backend: Any) -> None:
        assert isinstance(backend.describe(), str) and backend.describe().strip()
        assert isinstance(backend.context_length, int) and backend.context_length > 0

    def test_honours_max_tokens(self, backend: Any, engine: Any) -> None:
        prompt = self._prompt(engine, "Tell me about the sea.")
        for limit in (1, 3):
            assert 1 <= len(self._generate(backend, engine, prompt, max_tokens=limit)) <= limit

    def test_stops_on_stop_tokens(self, backend: Any, engine: Any) -> None:
        prompt = self._prompt(engine, "Tell me about the sea.")
        out = self._generate(backend, engine, prompt)
        stops = set(engine.stop_tokens)
        assert all(t not in stops for t in out[:-1]), "tokens were generated after a stop token"
        # Whatever comes first, declared a stop token, must end the stream right there.
        first = self._generate(backend, engine, prompt, stop_tokens=[out[0]])
        assert first == [out[0]]

    def test_deterministic_at_temperature_zero(self, backend: Any, engine: Any) -> None:
        prompt = self._prompt(engine, "Say something twice.")
        assert self._generate(backend, engine, prompt) == self._generate(backend, engine, prompt)

    def test_empty_user_message(self, backend: Any, engine: Any) -> None:
        from .events import TurnEnd

        events = list(engine.user_turn(engine.new_conversation(), ""))
        assert isinstance(events[-1], TurnEnd)
        if backend.speaks_harmony:
            assert events[-1].stop_reason in ("stop", "length")

    def test_long_conversation(self, backend: Any, engine: Any) -> None:
        history = [(f"Question {i}: what is {i} plus {i}?", f"It is {2 * i}.") for i in range(60)]
        prompt = self._prompt(engine, "And 61 plus 61?", history)
        if len(prompt) + self.max_tokens > backend.context_length:
            pytest.skip("the backend's context is shorter than the long-conversation prompt")
        out = self._generate(backend, engine, prompt)
        assert 1 <= len(out) <= self.max_tokens

    def test_speaks_harmony(self, backend: Any, engine: Any) -> None:
        from openai_harmony import Role, StreamableParser

        if not backend.speaks_harmony:
            pytest.skip("the backend does not promise Harmony output")
        out = self._generate(backend, engine, self._prompt(engine, "Hello!"), max_tokens=4096)
        parser = StreamableParser(engine.encoding, role=Role.ASSISTANT)
        for token in out:
            parser.process(token)
        assert out[-1] in engine.stop_tokens, "the turn did not end with <|return|> or <|call|>"
        assert parser.messages, "no complete Harmony message"
        last = parser.messages[-1]
        assert last.channel == "final" or last.recipient, "the turn ended without an answer"

    def test_turn_completes_through_engine(self, backend: Any, engine: Any) -> None:
        from .events import TurnEnd, TurnError

        events = list(engine.user_turn(engine.new_conversation(), "Hello!"))
        end = events[-1]
        assert isinstance(end, TurnEnd)
        errors = [e for e in events if isinstance(e, TurnError)]
        if backend.speaks_harmony:
            assert not errors and end.stop_reason in ("stop", "length")
        else:  # malformed output must end the turn cleanly, with an error event saying so
            assert end.stop_reason != "error" or errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """One `gyrosi serve` process on a free loopback port, with its own home and config file;
    `start()` waits for /health, `stop()` ends it (call it in a finally)."""

    def __init__(self, home: Path, config: dict[str, Any], env: dict[str, str],
                 *args: str) -> None:
        self.home = home
        self.config_path = home.parent / f"{home.name}-config.json"
        self.config_path.write_text(json.dumps(config), encoding="utf-8")
        self.env = {**env, "GYROSI_HOME": str(home)}
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServeProcess":
        self.port = free_port()
        self.log = open(self.home.parent / f"{self.home.name}-server.log", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gyrosi_core", "serve", "--port", str(self.port),
             "--config", str(self.config_path), *self.args],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )
        import httpx  # a test dependency, needed only here

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gyrosi serve exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gyrosi serve did not come up: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.home.parent / f"{self.home.name}-server.log").read_text()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()

    def health(self) -> dict[str, Any]:
        import httpx

        return httpx.get(f"{self.url}/health", timeout=5).json()
