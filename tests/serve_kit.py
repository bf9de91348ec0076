"""What the server tests share: the test plugin they load, a server on a plugin site, and the
client helpers (the server process itself is `gyrosi_core.testing.ServeProcess`)."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai

from gyrosi_core.testing import PluginSite, ServeProcess

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

# The `add` function the tests declare, and the stub's script rule that calls it: "add" in the
# input -> analysis, a call to functions.add, then "The sum is {tool}" with its result.
ADD = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
       "required": ["a", "b"]}
ADD_RULE = {"match": "add", "reply": [
    {"channel": "analysis", "text": "The user wants a sum."},
    {"channel": "commentary", "recipient": "functions.add", "content_type": "json",
     "text": '{"a": 2, "b": 40}'}],
    "after_tool": [{"channel": "final", "text": "The sum is {tool}"}]}


def plugin_site(folder: Path) -> PluginSite:
    """A plugin site holding the test plugin (`TEST_BACKENDS`, as gyrosi_test_backends)."""
    site = PluginSite(folder)
    site.add("gyrosi-test-backends", "gyrosi_test_backends", TEST_BACKENDS)
    return site


def served(srv: ServeProcess) -> Iterator[ServeProcess]:
    """A module fixture's body for a started server (`yield from served(srv)`): after the
    tests it is stopped, and its log must hold no traceback."""
    try:
        yield srv
    finally:
        srv.stop()
    log = (srv.home.parent / f"{srv.home.name}-server.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def serve(home_parent: Path, site: PluginSite, config: dict[str, Any],
          *args: str) -> ServeProcess:
    """A server (not started) with its own home, loading only the stub and the test plugin."""
    home = home_parent / "home"
    home.mkdir()
    env = site.env(GYROSI_LOAD_PLUGINS="stub,gyrosi_test_backends")
    return ServeProcess(home, config, env, *args)


def client(srv: ServeProcess, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{srv.url}/v1", api_key=key, max_retries=0, timeout=30)


def post(srv: ServeProcess, path: str, body: Any, **kw: Any) -> httpx.Response:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"content-type": "application/json", **kw.pop("headers", {})}
    return httpx.post(f"{srv.url}{path}", content=data, headers=headers, timeout=30, **kw)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI error object of a response (and no traceback anywhere in it)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]
