"""The OpenAI Agents SDK against `gyrosi serve`, through both of its model classes (Responses and
Chat Completions): a plain run, a streamed run, a function-tool round trip and (Responses)
`previous_response_id` chaining. A real server on loopback; tracing off (it would upload)."""

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

pytest.importorskip("agents")
from agents import (  # noqa: E402
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI  # noqa: E402

from gyrosi_core.testing import ServeProcess  # noqa: E402

from .serve_kit import ADD_RULE, plugin_site, serve, served  # noqa: E402

SCRIPT = [ADD_RULE]
CONFIG = {"core": {"backend": "stub", "context_length": 16384},
          "backends": {"stub": {"script": SCRIPT}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    set_tracing_disabled(True)
    site = plugin_site(tmp_path_factory.mktemp("site"))
    yield from served(serve(tmp_path_factory.mktemp("agents"), site, CONFIG).start())


def _model(srv: ServeProcess, kind: str) -> Model:
    api = AsyncOpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=30)
    if kind == "responses":
        return OpenAIResponsesModel(model="stub", openai_client=api)
    return OpenAIChatCompletionsModel(model="stub", openai_client=api)


calls: list[tuple[int, int]] = []


@function_tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    calls.append((a, b))
    return a + b


def _run(coro: Any) -> Any:
    """asyncio.run on a thread of its own: this thread may hold a running loop already (the web
    chat's Playwright fixture keeps one for the session, and with `-n` shares workers with us)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.mark.parametrize("kind", ["responses", "chat"])
def test_plain_run(server: ServeProcess, kind: str) -> None:
    agent = Agent(name="echo", instructions="Answer briefly.", model=_model(server, kind))
    result = _run(Runner.run(agent, "hello agents"))
    assert result.final_output == "You said: hello agents"


@pytest.mark.parametrize("kind", ["responses", "chat"])
def test_streamed_run(server: ServeProcess, kind: str) -> None:
    agent = Agent(name="echo", model=_model(server, kind))

    async def go() -> tuple[str, list[str]]:
        result = Runner.run_streamed(agent, "stream me")
        deltas = []
        async for event in result.stream_events():
            if event.type == "raw_response_event" and \
                    getattr(event.data, "type", "") == "response.output_text.delta":
                deltas.append(event.data.delta)  # type: ignore[union-attr]
        return str(result.final_output), deltas

    final, deltas = _run(go())
    assert final == "You said: stream me" and "".join(deltas) == final


@pytest.mark.parametrize("kind", ["responses", "chat"])
def test_function_tool_round_trip(server: ServeProcess, kind: str) -> None:
    calls.clear()
    agent = Agent(name="calc", tools=[add], model=_model(server, kind))
    result = _run(Runner.run(agent, "add 2 and 40"))
    assert calls == [(2, 40)]
    assert result.final_output == "The sum is 42"


def test_previous_response_id_chaining(server: ServeProcess) -> None:
    calls.clear()
    agent = Agent(name="calc", tools=[add], model=_model(server, "responses"))

    async def go() -> tuple[Any, Any]:
        first = await Runner.run(agent, "hello there")
        second = await Runner.run(agent, "add 2 and 40",
                                  previous_response_id=first.last_response_id)
        return first, second

    first, second = _run(go())
    assert first.final_output == "You said: hello there"
    assert second.final_output == "The sum is 42" and calls == [(2, 40)]
    # the server continued the stored conversation: its first response names the previous one
    stored = httpx.get(f"{server.url}/v1/responses/{second.raw_responses[0].response_id}")
    assert stored.json()["previous_response_id"] == first.last_response_id
