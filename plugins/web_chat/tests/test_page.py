"""The web chat in headless Chromium against a live `gyrosi serve` (stub and test backends)."""

import re
import time
from pathlib import Path
from typing import Any

import httpx

from gyrosi_core.testing import ServeProcess

from .conftest import MARKUP, TIMEOUT_MS, expect


def open_page(page: Any, srv: ServeProcess) -> None:
    page.goto(f"{srv.url}/")
    expect(page.locator("body")).to_have_attribute("data-models", re.compile(r"^[1-9]"))


def ask(page: Any, text: str, model: str | None = None) -> Any:
    """Send `text` the keyboard way; return the assistant turn it starts."""
    if model is not None:
        page.select_option("#model", model)
    before = page.locator(".turn.assistant").count()
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    turn = page.locator(".turn.assistant").nth(before)
    expect(turn).to_be_attached()
    return turn


def completed(turn: Any) -> None:
    expect(turn).to_have_attribute("data-state", "completed")


def slot(srv: ServeProcess, backend: str, **want: int) -> dict[str, int]:
    """The backend's /health figures once they show `want` (or the last seen, after a while)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        stats: dict[str, int] = srv.health()["backends"].get(backend, {})
        if all(stats.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def test_answer_streams_progressively_and_thinking_collapses(page: Any, server: ServeProcess,
                                                            shots: Path) -> None:
    open_page(page, server)
    turn = ask(page, "hello", model="gated")
    thinking = turn.locator("details.thinking")
    # held at gate 1: part of the analysis is on the page, open, and nothing else yet
    expect(thinking.locator(".body")).to_have_text("Weighing")
    expect(thinking).to_have_js_property("open", True)
    expect(thinking.locator("summary")).to_have_text("Thinking…")
    expect(turn.locator(".answer")).to_have_count(0)
    expect(page.locator("#stop")).to_be_visible()
    expect(page.locator("#send")).to_be_hidden()
    page.screenshot(path=shots / "streaming-thinking.png")
    (server.home / "gate-1").touch()
    # held at gate 2: the analysis has ended and collapsed; half the answer is shown
    expect(turn.locator(".answer")).to_have_text("First half.")
    expect(thinking).to_have_js_property("open", False)
    expect(thinking.locator("summary")).to_have_text("Thought")
    expect(thinking.locator(".body")).to_be_hidden()
    expect(turn).to_have_attribute("data-state", "streaming")
    page.screenshot(path=shots / "streaming-answer.png")
    (server.home / "gate-2").touch()
    expect(turn.locator(".answer")).to_have_text("First half. Second half.")
    completed(turn)
    expect(turn.locator(".status")).to_contain_text("gated · completed")
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#stop")).to_be_hidden()
    thinking.locator("summary").click()  # a collapsed thought opens again on demand
    expect(thinking.locator(".body")).to_be_visible()
    expect(thinking.locator(".body")).to_have_text("Weighing the words.")


def test_tool_call_round_trip_shows_its_blocks(page: Any, server: ServeProcess,
                                               shots: Path) -> None:
    open_page(page, server)
    turn = ask(page, "tool please")
    completed(turn)
    call = turn.locator("details.tool")
    expect(call).to_have_count(1)
    expect(call.locator("summary")).to_contain_text("Tool call: functions.shout")
    expect(call.locator("pre.args")).to_have_text('{\n  "text": "hey"\n}')
    expect(call.locator("pre.output")).to_have_text("HEY")
    expect(call.locator(".state")).to_have_text("done")
    expect(turn.locator("details.thinking .body")).to_have_text("I will shout it.")
    expect(turn.locator(".answer")).to_have_text("The tool said HEY")
    # blocks in the order they happened: thinking, the call, the answer
    order = turn.locator(".item > *").evaluate_all("nodes => nodes.map(n => n.className)")
    assert order == ["block thinking", "block tool function_call", "answer", "citations"]
    expect(turn.locator(".citations")).to_be_hidden()  # no sources cited
    page.screenshot(path=shots / "tool-call.png")


def test_stop_ends_the_stream_and_frees_the_slot(page: Any, server: ServeProcess) -> None:
    open_page(page, server)
    turn = ask(page, "go on", model="ticker")
    answer = turn.locator(".answer")
    expect(answer).to_contain_text("tick tick tick")
    assert slot(server, "ticker", busy=1)["busy"] == 1
    page.click("#stop")
    expect(turn.locator(".status")).to_have_text("Stopped")
    expect(page.locator("#send")).to_be_visible()
    stats = slot(server, "ticker", busy=0, cancelled=1)
    assert stats == {**stats, "busy": 0, "cancelled": 1}
    shown = answer.inner_text()
    assert shown.startswith("tick tick") and page.locator("#stop").is_hidden()
    # the stream is over: nothing arrives after the stop (the server has stopped generating)
    expect(answer).to_have_text(shown)
    # a stopped answer is not stored, so it does not start a conversation in the list
    expect(page.locator("#conversations li")).to_have_count(0)
    turn = ask(page, "after the stop", model="stub")  # the next turn goes through
    completed(turn)


def test_conversation_continues_and_reopens_after_reload(page: Any, server: ServeProcess,
                                                         shots: Path) -> None:
    open_page(page, server)
    page.click("#prompt")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("second line")
    expect(page.locator("#prompt")).to_have_value("first line\nsecond line")
    expect(page.locator(".turn")).to_have_count(0)
    page.keyboard.press("Enter")
    first = page.locator(".turn.assistant").nth(0)
    completed(first)
    assert first.locator(".answer").inner_text() == "You said: first line\nsecond line"
    expect(page.locator("#prompt")).to_have_value("")
    second = ask(page, "second turn")
    completed(second)
    ids = [t.get_attribute("data-response-id") for t in (first, second)]
    stored = httpx.get(f"{server.url}/v1/responses/{ids[1]}").json()
    assert stored["previous_response_id"] == ids[0]
    expect(page.locator("#conversations li")).to_have_count(1)
    expect(page.locator("#conversations li.current")).to_contain_text("first line")

    page.reload()
    expect(page.locator("body")).to_have_attribute("data-models", re.compile(r"^[1-9]"))
    expect(page.locator(".turn")).to_have_count(0)
    page.click("#conversations li button.open")
    answers = page.locator(".turn.assistant .answer")
    expect(answers).to_have_count(2)
    assert [b.inner_text() for b in page.locator(".turn.user .bubble").all()] == \
        ["first line\nsecond line", "second turn"]
    assert [a.inner_text() for a in answers.all()] == \
        ["You said: first line\nsecond line", "You said: second turn"]
    expect(page.locator(".turn.assistant details.thinking")).to_have_count(2)
    page.screenshot(path=shots / "reopened.png")

    third = ask(page, "third turn")  # continues the reopened conversation
    completed(third)
    stored = httpx.get(f"{server.url}/v1/responses/{third.get_attribute('data-response-id')}")
    assert stored.json()["previous_response_id"] == ids[1]
    expect(page.locator("#conversations li")).to_have_count(1)
    page.click("#new-chat")
    expect(page.locator(".turn")).to_have_count(0)
    completed(ask(page, "another chat"))
    expect(page.locator("#conversations li")).to_have_count(2)


def test_markup_in_an_answer_renders_as_text(page: Any, server: ServeProcess,
                                             shots: Path) -> None:
    open_page(page, server)
    turn = ask(page, "markup")
    completed(turn)
    answer = turn.locator(".answer")
    assert answer.inner_text() == MARKUP
    assert page.evaluate("window.pwned") is None
    expect(page.locator("#transcript img")).to_have_count(0)
    expect(page.locator("#transcript script")).to_have_count(0)
    expect(answer.locator("a")).to_have_count(0)  # no javascript: link either
    page.screenshot(path=shots / "markup-as-text.png")


def test_markdown_renders_with_a_copy_button(context: Any, page: Any,
                                             server: ServeProcess) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    open_page(page, server)
    turn = ask(page, "markdown please")
    completed(turn)
    answer = turn.locator(".answer")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("em")).to_have_text("italic")
    expect(answer.locator("p code")).to_have_text("code")
    link = answer.locator("a")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(answer.locator("li")).to_have_text(["one", "two"])
    expect(answer.locator(".code .lang")).to_have_text("python")
    expect(answer.locator(".code pre")).to_have_text("print('hi')")
    answer.locator(".code button.copy").click()
    expect(answer.locator(".code button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')"


def test_api_key_flow(page: Any, guarded: ServeProcess, shots: Path) -> None:
    page.goto(f"{guarded.url}/")  # the page itself is public
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Missing API key")
    expect(page.locator("#key-box")).to_have_js_property("open", True)
    expect(page.locator("#api-key")).to_be_focused()
    page.screenshot(path=shots / "api-key.png")
    page.fill("#api-key", "wrong")
    page.press("#api-key", "Enter")
    expect(notice).to_contain_text("Incorrect API key")
    page.fill("#api-key", "sesame")
    page.press("#api-key", "Enter")
    expect(page.locator("body")).to_have_attribute("data-models", re.compile(r"^[1-9]"))
    expect(notice).to_be_hidden()
    expect(page.locator("#key-box")).to_have_js_property("open", False)
    turn = ask(page, "hello")
    completed(turn)
    expect(turn.locator(".answer")).to_have_text("You said: hello")
    page.reload()  # the key is kept in this browser
    expect(page.locator("body")).to_have_attribute("data-models", re.compile(r"^[1-9]"))
    expect(notice).to_be_hidden()
    page.click("#conversations li button.open")  # reopening fetches with the key too
    expect(page.locator(".turn.assistant .answer")).to_have_text("You said: hello")


def test_phone_width(browser: Any, server: ServeProcess, shots: Path) -> None:
    ctx = browser.new_context(viewport={"width": 375, "height": 720}, is_mobile=True,
                              has_touch=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        open_page(page, server)
        expect(page.locator("#sidebar")).to_be_hidden()
        turn = ask(page, "tool from a phone")
        completed(turn)
        fits = "document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(fits), "the page is wider than a phone screen"
        expect(page.locator("#prompt")).to_be_in_viewport()
        page.screenshot(path=shots / "phone.png")
        page.click("#toggle-sidebar")
        expect(page.locator("#sidebar")).to_be_visible()
        expect(page.locator("#conversations li")).to_have_count(1)
        page.screenshot(path=shots / "phone-conversations.png")
    finally:
        ctx.close()
