"""The page's builtin tools: the web_search and code checkboxes turn on the server's browser and
python tools (plugins/tools_oss), and their calls show as blocks of their own."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gyrosi_core.testing import ServeProcess

from .conftest import expect
from .test_page import ask, completed, open_page

RULES = [
    {"match": "^search capital$", "reply": [
        {"channel": "analysis", "recipient": "browser.search", "content_type": "json",
         "text": json.dumps({"query": "capital of France"})}],
     "after_tool": [{"channel": "final", "text": "Found: {tool}"}]},
    {"match": "^compute$", "reply": [
        {"channel": "analysis", "recipient": "python", "text": "x = 6 * 7\nprint(x)"}],
     "after_tool": [{"channel": "final", "text": "It printed {tool}"}]},
]


@pytest.fixture(scope="module")
def tools_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[ServeProcess]:
    base = tmp_path_factory.mktemp("web-tools")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "paris.md").write_text("# Paris\n\nParis is the capital of France.\n")
    home = base / "home"
    home.mkdir()
    config = {
        "backends": {"stub": {"script": RULES}},
        "tools": {"browser": {"corpus": str(corpus)}, "python": {"timeout": 30}},
        "serve": {"builtin_tools": ["browser", "python"]},
    }
    env = {**os.environ, "GYROSI_LOAD_PLUGINS": "stub,tools_oss,web_chat"}
    srv = ServeProcess(home, config, env).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_web_search_and_code_blocks(page: Any, tools_server: ServeProcess, shots: Path) -> None:
    open_page(page, tools_server)
    page.check("#tools input[value=web_search]")
    turn = ask(page, "search capital")
    completed(turn)
    search = turn.locator("details.tool.web_search_call")
    expect(search.locator("summary")).to_contain_text("Web search")
    expect(search.locator(".state")).to_have_text("done")
    expect(search.locator("pre.args")).to_have_text("search: capital of France")
    expect(turn.locator(".answer")).to_contain_text("Paris is the capital of France")

    page.uncheck("#tools input[value=web_search]")
    page.check("#tools input[value=code_interpreter]")
    turn = ask(page, "compute")
    completed(turn)
    code = turn.locator("details.tool.code_interpreter_call")
    expect(code.locator("summary")).to_contain_text("Code interpreter")
    expect(code.locator("pre.args")).to_have_text("x = 6 * 7\nprint(x)")
    expect(code.locator("pre.output")).to_contain_text("42")
    expect(turn.locator(".answer")).to_contain_text("It printed 42")
    page.screenshot(path=shots / "builtin-tools.png")
    # the tool choice is kept for the next visit
    page.reload()
    expect(page.locator("#tools input[value=code_interpreter]")).to_be_checked()
    expect(page.locator("#tools input[value=web_search]")).not_to_be_checked()


def test_a_tool_the_server_refuses_is_reported(page: Any, server: ServeProcess) -> None:
    open_page(page, server)  # no tool plugins on this server
    page.check("#tools input[value=code_interpreter]")
    turn = ask(page, "hello")
    expect(turn).to_have_attribute("data-state", "failed")
    expect(turn.locator(".status")).to_contain_text("code_interpreter")
    expect(page.locator("#send")).to_be_visible()
