"""A real `gyrosi serve` with the web chat, and the system Chromium driven by Playwright.

The browser is Debian's `chromium` (or `GYROSI_CHROMIUM`); Playwright's own browser download
is never used. Without a Chromium the browser tests skip and say why, unless
`GYROSI_REQUIRE_BROWSER=1` (set by `.ci/run`) turns that into a failure. Screenshots of the
main states go to `build/screenshots/web_chat/` (ignored by git), or `GYROSI_SCREENSHOTS`.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gyrosi_core.testing import PluginSite, ServeProcess

REPO = Path(__file__).resolve().parents[3]
TIMEOUT_MS = 20_000  # the longest any expectation waits for the page

# Backends whose pace the test controls: `gated` stops at each gate until the test creates the
# file `gate-N` in the server's home (so an intermediate state is held, not raced), and
# `ticker` writes " tick" every 10 ms until max_tokens or until its client goes away.
TEST_PLUGIN = '''
import os
import time
from pathlib import Path

from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend
from gyrosi_core.tools import FunctionTool

PARTS = ["<|channel|>analysis<|message|>Weighing", 1, " the words.<|end|>",
         "<|start|>assistant<|channel|>final<|message|>First half.", 2, " Second half.<|return|>"]


def wait_for(n):
    gate = Path(os.environ["GYROSI_HOME"]) / f"gate-{n}"
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.unlink(missing_ok=True)


class GatedBackend(BaseBackend):
    """Thinks, then answers in two halves, each held until the test opens its gate."""

    speaks_harmony = True

    def generate(self, tokens, *, stop_tokens, max_tokens, temperature=0.0, seed=None,
                 session_id=None):
        for part in PARTS:
            if isinstance(part, int):
                wait_for(part)
                continue
            for token in self.encoding.encode(part, allowed_special="all"):
                yield token


class TickerBackend(BaseBackend):
    """Writes ' tick' every 10 ms until max_tokens."""

    speaks_harmony = True

    def generate(self, tokens, *, stop_tokens, max_tokens, temperature=0.0, seed=None,
                 session_id=None):
        head = self.encoding.encode("<|channel|>final<|message|>", allowed_special="all")
        tick = self.encoding.encode(" tick")[0]
        for n in range(max_tokens):
            yield head[n] if n < len(head) else tick
            time.sleep(0.01)


@hookimpl
def register_backends(register):
    register("gated", GatedBackend)
    register("ticker", TickerBackend)


@hookimpl
def register_tools(register):
    register("functions.shout", lambda config: FunctionTool(
        "shout", "Shout a text", lambda text: text.upper(),
        {"type": "object", "properties": {"text": {"type": "string"}}}))
'''

MARKUP = ('Look: <script>window.pwned = 1</script> and <img src=x onerror="window.pwned = 2"> '
          'and [click](javascript:window.pwned=3) end.')
MARKDOWN = ("Some **bold** and *italic* with `code`, a [link](https://example.com/docs).\n\n"
            "```python\nprint('hi')\n```\n\n- one\n- two\n")
SCRIPT = [
    {"match": "^tool", "reply": [
        {"channel": "analysis", "text": "I will shout it."},
        {"channel": "commentary", "recipient": "functions.shout", "content_type": "json",
         "text": '{"text": "hey"}'}],
     "after_tool": [{"channel": "final", "text": "The tool said {tool}"}]},
    {"match": "^markup", "reply": [{"channel": "final", "text": MARKUP}]},
    {"match": "^markdown", "reply": [{"channel": "final", "text": MARKDOWN}]},
]
CONFIG = {"core": {"backend": "stub", "max_tokens": 4000, "tools": ["functions.shout"]},
          "backends": {"stub": {"script": SCRIPT}}}


def expect(target: Any) -> Any:
    """Playwright's `expect` (imported late: without Playwright the tests skip, not error)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def chromium() -> str | None:
    given = os.environ.get("GYROSI_CHROMIUM")
    if given:  # a path that is not an executable is no Chromium
        return given if os.access(given, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


def no_browser(reason: str) -> None:
    if os.environ.get("GYROSI_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (GYROSI_REQUIRE_BROWSER is set, so this fails instead of skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium()
    if path is None:
        no_browser("no Chromium found (install Debian's 'chromium' or set GYROSI_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        no_browser("Playwright for Python is not installed (pip install playwright)")
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    folder = Path(os.environ.get("GYROSI_SCREENSHOTS") or REPO / "build" / "screenshots" /
                  "web_chat")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> PluginSite:
    site = PluginSite(tmp_path_factory.mktemp("web-site"))
    site.add("gyrosi-web-test", "gyrosi_web_test", TEST_PLUGIN)
    return site


def start_server(tmp_path_factory: pytest.TempPathFactory, site: PluginSite,
                 *args: str) -> ServeProcess:
    home = tmp_path_factory.mktemp("web") / "home"
    home.mkdir()
    env = site.env(GYROSI_LOAD_PLUGINS="stub,web_chat,gyrosi_web_test")
    return ServeProcess(home, CONFIG, env, *args).start()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, site: PluginSite) -> Iterator[ServeProcess]:
    srv = start_server(tmp_path_factory, site)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def guarded(tmp_path_factory: pytest.TempPathFactory,
            site: PluginSite) -> Iterator[ServeProcess]:
    srv = start_server(tmp_path_factory, site, "--api-key", "sesame")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (empty localStorage) per test."""
    ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A page that must raise no script error and ask nothing of any host but the server."""
    page = context.new_page()
    errors: list[str] = []
    urls: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: urls.append(request.url))
    yield page
    assert not errors, f"script errors on the page: {errors}"
    outside = [u for u in urls if not u.startswith(("http://127.0.0.1:", "data:"))]
    assert not outside, f"the page fetched from outside the server: {outside}"
