"""The test plugin the server tests load; the server process itself is `ServeProcess`."""

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
