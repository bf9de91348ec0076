"""`gyrosi serve` with these tools: a request's `web_search` / `code_interpreter` tool types run the
browser and python plugins on the server and stream the reference server's items and events."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from gyrosi_core.testing import ServeProcess

from .conftest import call

RULES = [
    call("search capital", "browser.search", {"query": "capital of France"}),
    call("open paris", "browser.open", {"id": "paris.md"}),
    call("compute", "python", "x = 6 * 7\nprint(x)"),
    {**call("cite paris", "browser.open", {"id": "paris.md"}),
     "after_tool": [{"channel": "final",
                     "text": "Paris is the capital【0†L2-L3】, says the page."}]},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    base = tmp_path_factory.mktemp("serve-tools")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "paris.md").write_text("# Paris\n\nParis is the capital of France.\n")
    home = base / "home"
    home.mkdir()
    config = {
        "backends": {"stub": {"script": RULES}},
        "tools": {"browser": {"corpus": str(corpus)}, "python": {"timeout": 20}},
        "serve": {"builtin_tools": ["browser", "python"]},
    }

    env = {**os.environ, "GYROSI_LOAD_PLUGINS": "stub,tools_oss"}
    srv = ServeProcess(home, config, env).start()
    try:
        yield srv
    finally:
        srv.stop()


def client(srv: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0)


def events_of(srv: ServeProcess, text: str, tools: list[dict[str, Any]]) -> list[Any]:
    with client(srv).responses.create(model="stub", input=text, tools=tools,  # type: ignore
                                      stream=True) as stream:
        return list(stream)


def test_web_search_runs_the_browser(server: ServeProcess) -> None:
    r = client(server).responses.create(model="stub", input="search capital",
                                        tools=[{"type": "web_search"}])  # type: ignore[list-item]
    search = r.output[0]
    assert search.type == "web_search_call" and search.status == "completed"
    assert search.action.type == "search" and search.action.query == "capital of France"
    assert "Paris is the capital of France" in r.output_text  # the stub repeats the tool's answer


def test_web_search_stream_follows_the_reference(server: ServeProcess) -> None:
    events = events_of(server, "open paris", [{"type": "browser_search"}])
    kinds = [e.type for e in events]
    call_events = [k for k in kinds if "web_search_call" in k]
    assert call_events == ["response.web_search_call.in_progress",
                           "response.web_search_call.searching",
                           "response.web_search_call.completed"]
    added = next(e for e in events if e.type == "response.output_item.added")
    done = next(e for e in events if e.type == "response.output_item.done")
    assert added.item.type == done.item.type == "web_search_call"
    assert added.item.id == done.item.id and done.item.status == "completed"
    assert done.item.action.type == "open_page" and done.item.action.url == "paris.md"
    assert kinds.index("response.web_search_call.completed") < kinds.index(
        "response.output_text.delta")
    assert kinds[-1] == "response.completed"


def test_code_interpreter_runs_python(server: ServeProcess) -> None:
    events = events_of(server, "compute", [{"type": "code_interpreter"}])
    kinds = [e.type for e in events]
    assert [k for k in kinds if "code_interpreter" in k] == [
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    done = next(e for e in events if e.type == "response.output_item.done")
    assert done.item.type == "code_interpreter_call"
    assert done.item.code == "x = 6 * 7\nprint(x)"
    assert "42" in done.item.outputs[0].logs
    final = events[-1].response
    assert "42" in final.output_text


def test_builtin_tools_must_be_allowed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()

    env = {**os.environ, "GYROSI_LOAD_PLUGINS": "stub,tools_oss"}
    srv = ServeProcess(home, {"backends": {"stub": {"script": RULES}}}, env).start()
    try:
        with pytest.raises(openai.BadRequestError) as info:
            client(srv).responses.create(model="stub", input="compute",
                                         tools=[{"type": "code_interpreter"}])  # type: ignore
        assert info.value.status_code == 400
        assert "serve.builtin_tools" in str(info.value)
    finally:
        srv.stop()


def test_unconfigured_browser_is_a_400_before_generating(tmp_path: Path) -> None:
    """The default config allows the browser, but without a corpus it cannot start: the
    request is refused with how to configure it, and nothing is generated or stored."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "GYROSI_LOAD_PLUGINS": "stub,tools_oss"}
    srv = ServeProcess(home, {"backends": {"stub": {"script": RULES}}}, env).start()
    try:
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as info:
                client(srv).responses.create(model="stub", input="search capital",
                                             tools=[{"type": "web_search"}],  # type: ignore
                                             stream=stream)
            assert info.value.code == "tool_not_configured"  # type: ignore[attr-defined]
            assert "tools.browser.corpus" in str(info.value)
        assert srv.health()["backends"]["stub"]["busy"] == 0
    finally:
        srv.stop()
    assert "Traceback" not in (tmp_path / "home-server.log").read_text()


def test_browser_citations_are_url_citations(server: ServeProcess) -> None:
    """As the reference server: `【cursor†Lx-Ly】` becomes a link to the page the browser opened,
    with a url_citation annotation, streamed and not."""
    r = client(server).responses.create(model="stub", input="cite paris",
                                        tools=[{"type": "web_search"}])  # type: ignore[list-item]
    part = r.output[-1].content[0]  # type: ignore[union-attr]
    assert "【" not in part.text and part.text.startswith("Paris is the capital (")
    [url] = part.annotations
    assert url.type == "url_citation" and url.url.endswith("paris.md")
    assert part.text[url.start_index:url.end_index] == f" ([{url.title}]({url.url})) "
    events = events_of(server, "cite paris", [{"type": "web_search"}])
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    added = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert text == part.text
    assert [e.annotation.url for e in added] == [url.url]
