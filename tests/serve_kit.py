"""Start `gyrosi serve` as a real process on a free loopback port, and stop it."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

# A plugin for the server tests: a backend that writes " tick" forever, one token per 5 ms (so
# a stream is still running when the client goes away), one that always fails, and a function
# tool the server runs itself.
TEST_BACKENDS = '''
import time

from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend
from gyrosi_core.tools import FunctionTool


class SlowBackend(BaseBackend):
    """Writes ' tick' until max_tokens, one token every 5 ms."""

    speaks_harmony = True
    parallel_sessions = 4

    def generate(self, tokens, *, stop_tokens, max_tokens, temperature=0.0, seed=None,
                 session_id=None):
        enc = self.encoding
        head = enc.encode("<|channel|>final<|message|>", allowed_special="all")
        tick = enc.encode(" tick")[0]
        for n in range(max_tokens):
            yield head[n] if n < len(head) else tick
            time.sleep(0.005)


class BrokenBackend(BaseBackend):
    """Fails on every call."""

    def generate(self, tokens, **kw):
        raise RuntimeError("the GPU caught fire")
        yield


@hookimpl
def register_backends(register):
    register("slow", SlowBackend)
    register("broken", BrokenBackend)


@hookimpl
def register_tools(register):  # a tool the server runs itself
    register("functions.shout", lambda config: FunctionTool(
        "shout", "Shout a text", lambda text: text.upper(),
        {"type": "object", "properties": {"text": {"type": "string"}}}))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One `gyrosi serve` process; `stop()` ends it (tests always do, in a finally)."""

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

    def start(self) -> "Server":
        self.port = free_port()
        self.log = open(self.home.parent / f"{self.home.name}-server.log", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gyrosi_core", "serve", "--port", str(self.port),
             "--config", str(self.config_path), *self.args],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )
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
        return httpx.get(f"{self.url}/health", timeout=5).json()
