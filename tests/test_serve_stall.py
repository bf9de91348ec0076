"""A stream whose backend stalls still delivers what it generated before the stall.

The worker hands events over in batches while the client reads; events put while the client
was busy used to wait for the worker's next event, so a backend (or tool) that paused held its
last tokens back for as long as it paused."""

from pathlib import Path

import httpx
import pytest

from gyrosi_core.testing import PluginSite, ServeProcess

STALLING = '''
import os
import time
from pathlib import Path

from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend


class StallingBackend(BaseBackend):
    """Writes 'Before the stall.', then waits for the file `go` in its home, then ends."""

    speaks_harmony = True

    def generate(self, tokens, *, stop_tokens, max_tokens, temperature=0.0, seed=None,
                 session_id=None):
        enc = self.encoding
        yield from enc.encode("<|channel|>final<|message|>Before the stall.",
                              allowed_special="all")
        go = Path(os.environ["GYROSI_HOME"]) / "go"
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        yield from enc.encode(" After.<|return|>", allowed_special="all")


@hookimpl
def register_backends(register):
    register("stalling", StallingBackend)
'''


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_stalled_backend_streams_what_it_wrote(tmp_path: Path, api: str) -> None:
    site = PluginSite(tmp_path / "site")
    site.add("gyrosi-stalling", "gyrosi_stalling", STALLING)
    home = tmp_path / "home"
    home.mkdir()
    env = site.env(GYROSI_LOAD_PLUGINS="gyrosi_stalling")
    server = ServeProcess(home, {"core": {"backend": "stalling"}}, env).start()
    try:
        if api == "responses":
            path, body = "/v1/responses", {"input": "hi", "stream": True}
        else:
            path, body = "/v1/chat/completions", {
                "messages": [{"role": "user", "content": "hi"}], "stream": True}
        seen = ""
        with httpx.stream("POST", server.url + path, json=body, timeout=60) as reply:
            for chunk in reply.iter_text():
                seen += chunk
                # the backend waits for `go` until the text before the stall has arrived
                if "stall." in seen and not (home / "go").exists():
                    assert "After" not in seen
                    (home / "go").touch()
        assert (home / "go").exists(), "the text before the stall never arrived"
        assert "After" in seen
    finally:
        server.stop()
