"""`gyrosi serve` as a real process on a loopback port, driven by real clients: the official
`openai` SDK, gpt-oss's eval samplers, and raw HTTP for what an SDK would not send."""

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gyrosi_core.testing import PluginSite
from gyrosi_core.testing import ServeProcess as Server

from .serve_kit import ADD, ADD_RULE, client, error_of, plugin_site, post, serve, served

FILLER = " ".join(f"w{i % 50}" for i in range(2000))
SCRIPT = [
    ADD_RULE,
    {"match": "shout", "reply": [
        {"channel": "commentary", "recipient": "functions.shout", "content_type": "json",
         "text": '{"text": "hey"}'}]},
    {"match": "^stream", "reply": [{"channel": "analysis", "text": "Streaming."},
                                   {"channel": "final", "text": "{user}: " + FILLER}]},
]
CONFIG = {"core": {"max_tokens": 8000, "context_length": 16384,
                   "tools": ["functions.shout"]},  # a plugin's tool: off unless named
          "backends": {"stub": {"script": SCRIPT}}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PluginSite:
    return plugin_site(tmp_path_factory.mktemp("serve-site"))


def _server(tmp_path_factory: pytest.TempPathFactory, site: PluginSite, config: dict[str, Any],
            *args: str) -> Server:
    # two backends and none of them the engine: the default is named
    config = {**config, "core": {"backend": "stub", **config.get("core", {})}}
    return serve(tmp_path_factory.mktemp("serve"), site, config, *args)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, site: PluginSite) -> Iterator[Server]:
    yield from served(_server(tmp_path_factory, site, CONFIG).start())


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, site: PluginSite) -> Iterator[Server]:
    """API key, one slot per backend, a 64 KiB body limit."""
    config = {"serve": {"max_body_bytes": 65536},
              "backends": {"stub": {"script": [SCRIPT[1]]}}}  # a call to a tool left off
    yield from served(_server(tmp_path_factory, site, config, "--api-key", "sesame", "--slots",
                              "1").start())


# -- the openai SDK -------------------------------------------------------------------------


def test_models_and_health(server: Server) -> None:
    ids = {m.id for m in client(server).models.list()}
    assert {"stub", "slow", "broken"} <= ids
    assert server.health()["status"] == "ok"


def test_responses_create(server: Server) -> None:
    r = client(server).responses.create(model="stub", input="hello there")
    assert r.status == "completed"
    assert r.output_text == "You said: hello there"
    assert [item.type for item in r.output] == ["reasoning", "message"]
    assert r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    fetched = httpx.get(f"{server.url}/v1/responses/{r.id}").json()
    assert fetched["id"] == r.id and fetched["output"][1]["content"][0]["text"] == r.output_text


def test_responses_stream(server: Server) -> None:
    events = list(client(server).responses.create(model="stub", input="hello", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for expected in ("response.output_item.added", "response.content_part.added",
                     "response.reasoning_text.delta", "response.reasoning_text.done",
                     "response.output_text.delta", "response.output_text.done",
                     "response.content_part.done", "response.output_item.done"):
        assert expected in types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "You said: hello"
    assert events[-1].response.output_text == text
    assert events[-1].response.usage.output_tokens > 0


def test_chat_completions(server: Server) -> None:
    c = client(server).chat.completions.create(
        model="stub", messages=[{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "good morning"}])
    assert c.choices[0].message.content == "You said: good morning"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage is not None and c.usage.completion_tokens > 0


def test_chat_completions_stream(server: Server) -> None:
    chunks = list(client(server).chat.completions.create(
        model="stub", messages=[{"role": "user", "content": "good night"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: good night"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_chat_stop_sequence(server: Server) -> None:
    c = client(server).chat.completions.create(
        model="stub", messages=[{"role": "user", "content": "cut here please"}], stop=["here"])
    assert c.choices[0].message.content == "You said: cut "


def test_responses_function_call_round_trip(server: Server) -> None:
    api = client(server)
    tools = [{"type": "function", "name": "add", "description": "Add", "parameters": ADD}]
    first = api.responses.create(model="stub", input="please add", tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "add"
    assert json.loads(calls[0].arguments) == {"a": 2, "b": 40}
    second = api.responses.create(
        model="stub", previous_response_id=first.id, tools=tools,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "42"}])
    assert second.output_text == "The sum is 42"
    assert second.previous_response_id == first.id


def test_responses_function_call_streamed(server: Server) -> None:
    tools = [{"type": "function", "name": "add", "parameters": ADD}]
    events = list(client(server).responses.create(model="stub", input="add", tools=tools,
                                                  stream=True))
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == {"a": 2, "b": 40}
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert done[-1].type == "function_call" and done[-1].arguments == args


def test_chat_function_call_round_trip(server: Server) -> None:
    api = client(server)
    tools = [{"type": "function", "function": {"name": "add", "parameters": ADD}}]
    messages: list[Any] = [{"role": "user", "content": "please add"}]
    first = api.chat.completions.create(model="stub", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "add" and json.loads(call.function.arguments) == {"a": 2, "b": 40}
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "42"}]
    second = api.chat.completions.create(model="stub", messages=messages, tools=tools)
    assert second.choices[0].message.content == "The sum is 42"


def test_chat_function_call_streamed(server: Server) -> None:
    tools = [{"type": "function", "function": {"name": "add", "parameters": ADD}}]
    chunks = list(client(server).chat.completions.create(
        model="stub", messages=[{"role": "user", "content": "add"}], tools=tools, stream=True))
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "add" and deltas[0].id
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"a": 2, "b": 40}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_previous_response_chain(server: Server) -> None:
    api = client(server)
    first = api.responses.create(model="stub", input="my name is Ada")
    alone = api.responses.create(model="stub", input="who am I?")
    chained = api.responses.create(model="stub", input="who am I?",
                                   previous_response_id=first.id)
    assert chained.output_text == "You said: who am I?"
    # the chained prompt carries the first exchange
    assert chained.usage.input_tokens > alone.usage.input_tokens + 10


def test_plugin_tools_are_off_unless_the_config_enables_them(guarded: Server) -> None:
    r = client(guarded, "sesame").responses.create(model="stub", input="shout it")
    assert r.output_text.startswith("The tool answered: Error: no tool named 'functions.shout'")


def test_plugin_tools_run_on_the_server(server: Server) -> None:
    r = client(server).responses.create(model="stub", input="shout it")
    assert r.output_text == "The tool answered: HEY"
    call, result = [item for item in r.output if item.type != "message"][:2]
    assert call.type == "function_call" and call.name == "functions.shout"
    assert result.type == "function_call_output" and result.output == "HEY"
    assert result.call_id == call.call_id
    c = client(server).chat.completions.create(model="stub",
                                               messages=[{"role": "user", "content": "shout"}])
    assert c.choices[0].message.content == "The tool answered: HEY"
    assert c.choices[0].finish_reason == "stop" and not c.choices[0].message.tool_calls


def test_store_false_stores_nothing(server: Server) -> None:
    r = client(server).responses.create(model="stub", input="secret", store=False)
    assert httpx.get(f"{server.url}/v1/responses/{r.id}").status_code == 404


# -- gpt-oss's eval samplers ----------------------------------------------------------------


def _run_eval(sampler: Any) -> Any:
    from gpt_oss.evals.basic_eval import BasicEval

    result: list[Any] = []
    # The samplers retry forever on errors; a daemon thread keeps a failure from hanging us.
    thread = threading.Thread(target=lambda: result.append(BasicEval()(sampler)), daemon=True)
    thread.start()
    thread.join(60)
    assert result, "the eval did not finish"
    return result[0]


@pytest.mark.parametrize("kind", ["responses", "chat_completions"])
def test_gpt_oss_basic_eval(server: Server, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gpt_oss.evals.chat_completions_sampler import ChatCompletionsSampler
    from gpt_oss.evals.responses_sampler import ResponsesSampler

    monkeypatch.setenv("OPENAI_API_KEY", "unused")  # the samplers build a default client
    cls = ResponsesSampler if kind == "responses" else ChatCompletionsSampler
    sampler = cls(model="stub", reasoning_model=True, reasoning_effort="low",
                  base_url=f"{server.url}/v1")
    result = _run_eval(sampler)
    assert result.score == 1.0
    assert result.convos[0][-1]["content"] == "You said: hi"


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/responses", b'{"model": "stub", "input": ', 400, "invalid_json"),
        ("/v1/chat/completions", b"not json at all", 400, "invalid_json"),
        ("/v1/responses", {"model": "stub", "input": 42}, 400, "invalid_value"),
        ("/v1/responses", {"model": "stub", "input": "hi", "temperature": "hot"}, 400,
         "invalid_value"),
        ("/v1/responses", {"model": "stub"}, 400, "missing_required_parameter"),
        ("/v1/chat/completions", {"model": "stub", "messages": "hi"}, 400, "invalid_value"),
        ("/v1/chat/completions", {"model": "stub", "messages": [{"role": "wizard",
                                                                 "content": "x"}]}, 400,
         "invalid_value"),
        ("/v1/responses", {"model": "gpt-9", "input": "hi"}, 404, "model_not_found"),
        ("/v1/chat/completions", {"model": "gpt-9", "messages": [{"role": "user",
                                                                  "content": "x"}]}, 404,
         "model_not_found"),
        ("/v1/responses", {"model": "stub", "input": "hi", "previous_response_id": "resp_nope"},
         404, "previous_response_not_found"),
        ("/v1/responses", {"model": "stub", "input": [
            {"type": "function_call_output", "call_id": "call_nope", "output": "1"}]}, 400, None),
        ("/v1/chat/completions", {"model": "stub", "messages": [
            {"role": "tool", "tool_call_id": "nope", "content": "1"}]}, 400, None),
        ("/v1/responses", {"model": "stub", "input": "hi", "tools": [
            {"type": "code_interpreter"}]}, 400, "unsupported_tool"),
        ("/v1/responses", {"model": "stub", "input": "word " * 20000}, 400,
         "context_length_exceeded"),
        ("/v1/chat/completions", {"model": "stub", "messages": [
            {"role": "user", "content": "word " * 20000}]}, 400, "context_length_exceeded"),
        ("/v1/responses", {"model": "broken", "input": "hi"}, 500, "backend_error"),
        ("/v1/chat/completions", {"model": "broken", "messages": [
            {"role": "user", "content": "x"}]}, 500, "backend_error"),
    ],
)
def test_bad_requests(server: Server, path: str, body: Any, status: int, code: str | None) -> None:
    response = post(server, path, body)
    assert response.status_code == status, response.text
    error = error_of(response)
    if code is not None:
        assert error["code"] == code
    assert "the GPU caught fire" in error["message"] or status != 500


def test_unknown_paths_and_ids(server: Server) -> None:
    assert error_of(httpx.get(f"{server.url}/v1/nothing"))
    missing = httpx.get(f"{server.url}/v1/responses/resp_missing")
    assert missing.status_code == 404 and error_of(missing)["code"] == "response_not_found"


def test_sdk_raises_typed_errors(server: Server) -> None:
    with pytest.raises(openai.NotFoundError):
        client(server).responses.create(model="stub", input="x", previous_response_id="resp_x")
    with pytest.raises(openai.BadRequestError, match="context"):
        client(server).responses.create(model="stub", input="word " * 20000)


def test_streamed_backend_failure_is_an_event(server: Server) -> None:
    events = list(client(server).responses.create(model="broken", input="x", stream=True))
    assert events[-1].type == "response.failed"
    assert "the GPU caught fire" in events[-1].response.error.message


# -- API key and body size ------------------------------------------------------------------


def test_api_key(guarded: Server) -> None:
    url = guarded.url
    assert httpx.get(f"{url}/health").status_code == 200  # open: for load balancers
    missing = httpx.get(f"{url}/v1/models")
    assert missing.status_code == 401 and error_of(missing)["code"] == "invalid_api_key"
    wrong = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        client(guarded, "nope").responses.create(model="stub", input="x")
    assert client(guarded, "sesame").responses.create(model="stub", input="x").output_text == \
        "You said: x"


def test_body_size_limit(guarded: Server) -> None:
    big = {"model": "stub", "input": "x" * 70000}
    auth = {"Authorization": "Bearer sesame"}
    response = post(guarded, "/v1/responses", big, headers=auth)
    assert response.status_code == 413 and error_of(response)["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no content-length: the limit holds while reading
        data = json.dumps(big).encode()
        for i in range(0, len(data), 8192):
            yield data[i:i + 8192]

    chunked = httpx.post(f"{guarded.url}/v1/responses", content=chunks(),
                         headers={"content-type": "application/json", **auth})
    assert chunked.status_code == 413 and error_of(chunked)["code"] == "request_too_large"


# -- concurrency ----------------------------------------------------------------------------


def test_sixteen_streams_and_health(server: Server) -> None:
    api = client(server)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def stream(i: int) -> None:
        try:
            text = []
            for event in api.responses.create(model="stub", input=f"stream {i}", stream=True):
                if event.type == "response.output_text.delta":
                    text.append(event.delta)
            results[i] = "".join(text)
        except BaseException as exc:  # reported below
            errors.append(exc)

    # /health is probed from a process of its own, so the clients' threads here don't slow it
    prober = subprocess.Popen([sys.executable, "-c", PROBE, f"{server.url}/health"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert prober.stdout is not None and prober.stdout.readline() == "ready\n"
    threads = [threading.Thread(target=stream, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    probes = json.loads(prober.communicate("stop\n", timeout=30)[0])
    assert not errors, errors
    assert results == {i: f"stream {i}: {FILLER}" for i in range(16)}
    # /health answered while streams were generating (it reports them busy): generation does
    # not hold the event loop. How fast it answers is bench/serve.py's figure, not a test's.
    during = [seconds for seconds, busy in probes if busy > 0]
    assert len(during) >= 5, "too few /health probes ran while the streams were generating"


PROBE = """
import json, sys, threading, time
import httpx
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
probes = []
with httpx.Client(timeout=5) as http:
    http.get(sys.argv[1])
    print("ready", flush=True)
    while not stop.is_set():
        start = time.perf_counter()
        busy = http.get(sys.argv[1]).json()["backends"]["stub"]["busy"]
        probes.append((time.perf_counter() - start, busy))
        time.sleep(0.005)
print(json.dumps(probes))
"""


def test_cancelled_stream_frees_its_slot(guarded: Server) -> None:
    """`slow` writes forever and has one slot: only a cancelled stream lets the next one in."""
    before = guarded.health()["backends"].get("slow", {}).get("cancelled", 0)
    auth = {"Authorization": "Bearer sesame"}
    body = {"model": "slow", "input": "go", "stream": True, "max_output_tokens": 100000}
    with httpx.stream("POST", f"{guarded.url}/v1/responses", json=body, headers=auth,
                      timeout=30) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        while "response.output_text.delta" not in next(lines):
            pass
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        slow = guarded.health()["backends"]["slow"]
        if slow["busy"] == 0:
            break
        time.sleep(0.05)
    assert slow == {**slow, "busy": 0, "cancelled": before + 1}
    after = client(guarded, "sesame").with_options(timeout=20).responses.create(
        model="slow", input="again", max_output_tokens=5)
    assert after.status == "incomplete" and after.output_text == " tick tick"


# -- restart --------------------------------------------------------------------------------


def test_previous_response_survives_restart(tmp_path_factory: pytest.TempPathFactory,
                                            site: PluginSite) -> None:
    srv = _server(tmp_path_factory, site, CONFIG).start()
    try:
        first = client(srv).responses.create(model="stub", input="remember the number 7")
    finally:
        srv.stop()
    srv.start()
    try:
        api = client(srv)
        assert api.responses.retrieve(first.id).output_text == first.output_text
        alone = api.responses.create(model="stub", input="which number?")
        chained = api.responses.create(model="stub", input="which number?",
                                       previous_response_id=first.id)
        assert chained.usage.input_tokens > alone.usage.input_tokens + 10
    finally:
        srv.stop()
    assert (Path(srv.home) / "responses.sqlite3").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--backend", "nope"], "Unknown backend 'nope'"),
        (["--backend", "nope", "--workers", "2"], "Unknown backend 'nope'"),
        (["--port", "99999"], "--port: Input should be less than or equal to 65535"),
        (["--workers", "0"], "--workers: Input should be greater than or equal to 1"),
    ],
)
def test_bad_flags_are_one_sentence(gyrosi_home: Path, args: list[str], expected: str) -> None:
    from gyrosi_core.testing import run_gyrosi

    result = run_gyrosi("serve", *args)
    assert result.returncode != 0
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_two_processes_share_the_store(tmp_path_factory: pytest.TempPathFactory,
                                       site: PluginSite) -> None:
    srv = _server(tmp_path_factory, site, CONFIG, "--workers", "2").start()
    try:
        api = client(srv)
        ids = [api.responses.create(model="stub", input=f"n{i}").id for i in range(6)]
        # separate connections land on either process; each finds every stored response
        for rid in ids:
            fetched = httpx.get(f"{srv.url}/v1/responses/{rid}", headers={"Connection": "close"})
            assert fetched.status_code == 200 and fetched.json()["id"] == rid
        chained = api.responses.create(model="stub", input="again", previous_response_id=ids[0])
        assert chained.output_text == "You said: again"
    finally:
        srv.stop()
