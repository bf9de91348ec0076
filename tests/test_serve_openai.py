"""`gyrosi serve` where clients look: OpenAI's status codes and error objects, every parameter
honoured or refused with a 400 that names it, tool_choice, echoed settings, and the endpoints
beyond create (models/{id}, input_items, delete, /v1/completions). A real server on loopback,
the official `openai` SDK and raw HTTP for what an SDK would not send."""

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gyrosi_core.testing import ServeProcess

from .serve_kit import ADD, ADD_RULE, client, error_of, plugin_site, post, serve, served

ADD_TOOL = {"type": "function", "name": "add", "parameters": ADD}
CHAT_ADD = {"type": "function", "function": {"name": "add", "parameters": ADD}}
SCRIPT = [ADD_RULE]
CONFIG = {"core": {"backend": "stub", "context_length": 16384},
          "backends": {"stub": {"script": SCRIPT}}}
HI = {"model": "stub", "input": "hi"}
CHAT_HI = {"model": "stub", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    site = plugin_site(tmp_path_factory.mktemp("site"))
    # a home that does not exist yet: the server creates it, private
    srv = serve(tmp_path_factory.mktemp("openai"), site, CONFIG)
    srv.home.rmdir()
    yield from served(srv.start())


# -- validation: 400 invalid_request_error, the parameter as the client wrote it -------------


@pytest.mark.parametrize(
    ("path", "body", "param", "code"),
    [
        ("/v1/responses", {**HI, "stream": "yes"}, "stream", "invalid_value"),
        ("/v1/responses", {**HI, "max_output_tokens": "5"}, "max_output_tokens",
         "invalid_value"),
        ("/v1/chat/completions", {**CHAT_HI, "max_tokens": "5"}, "max_tokens", "invalid_value"),
        ("/v1/chat/completions", {**CHAT_HI, "max_tokens": -1}, "max_tokens", "invalid_value"),
        ("/v1/chat/completions", {**CHAT_HI, "stream": 1}, "stream", "invalid_value"),
        ("/v1/responses", {"model": "stub"}, "input", "missing_required_parameter"),
        ("/v1/responses", {"model": "stub", "input": 42}, "input", "invalid_value"),
        ("/v1/responses", {**HI, "tools": [{"type": "function", "parameters": {}}]},
         "tools[0].name", "missing_required_parameter"),
        ("/v1/responses", {**HI, "tools": [{**ADD_TOOL, "bogus": 1}]}, "tools[0].bogus",
         "unknown_parameter"),
        ("/v1/responses", {**HI, "tools": [{"type": "file_search"}]}, "tools[0]",
         "invalid_value"),
        ("/v1/responses", {"model": "stub", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": 5}]}]},
         "input[0].content[0].text", "invalid_value"),
        ("/v1/chat/completions", {"model": "stub", "messages": [
            {"role": "user", "content": 5}]}, "messages[0].content", "invalid_value"),
        ("/v1/chat/completions", {"model": "stub", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         "messages[0].content[0]", "unsupported_content"),
        ("/v1/responses", {**HI, "frobnicate": True}, "frobnicate", "unknown_parameter"),
        ("/v1/chat/completions", {**CHAT_HI, "functions": []}, "functions",
         "unknown_parameter"),
        ("/v1/completions", {"model": "stub", "prompt": "x", "max_tokens": "5"}, "max_tokens",
         "invalid_value"),
        ("/v1/completions", {"model": "stub"}, "prompt", "missing_required_parameter"),
    ],
)
def test_validation_is_a_400_naming_the_parameter(server: ServeProcess, path: str,
                                                  body: dict[str, Any], param: str,
                                                  code: str) -> None:
    response = post(server, path, body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == \
        ("invalid_request_error", param, code), error
    assert param in error["message"]


def test_sdk_sees_a_bad_request_not_a_retryable_error(server: ServeProcess) -> None:
    """gpt-oss's samplers stop on BadRequestError and retry anything else."""
    with pytest.raises(openai.BadRequestError) as info:
        client(server).chat.completions.create(
            model="stub", messages=[{"role": "user", "content": "hi"}],
            extra_body={"max_tokens": "five"})
    assert info.value.status_code == 400 and info.value.param == "max_tokens"  # type: ignore


LONE = b'"x \\ud800 y"'


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/responses", b'{"model": "stub", "input": %s}' % LONE, "input"),
        ("/v1/responses", b'{"model": "stub", "input": "hi", "instructions": %s}' % LONE,
         "instructions"),
        ("/v1/responses", b'{"model": "stub", "input": [{"role": "user", "content": '
                          b'[{"type": "input_text", "text": %s}]}]}' % LONE,
         "input[0].content[0].text"),
        ("/v1/chat/completions", b'{"model": "stub", "messages": [{"role": "user", '
                                 b'"content": %s}]}' % LONE, "messages[0].content"),
        ("/v1/chat/completions", b'{"model": "stub", "messages": [{"role": "user", '
                                 b'"content": "hi"}], "tools": [{"type": "function", '
                                 b'"function": {"name": "f", "description": %s}}]}' % LONE,
         "tools[0].function.description"),
        ("/v1/chat/completions", b'{"model": "stub", "messages": [{"role": "user", '
                                 b'"content": "hi"}], "stop": [%s]}' % LONE, "stop[0]"),
        ("/v1/completions", b'{"model": "stub", "prompt": %s}' % LONE, "prompt"),
    ],
)
def test_lone_surrogate_is_a_400(server: ServeProcess, path: str, body: bytes,
                                 param: str) -> None:
    response = post(server, path, body)
    assert response.status_code == 400, response.text
    assert error_of(response)["param"] == param


def test_paired_surrogates_are_a_character(server: ServeProcess) -> None:
    response = post(server, "/v1/responses", b'{"model": "stub", "input": "\\ud83d\\ude00"}')
    assert response.status_code == 200, response.text
    assert response.json()["output"][-1]["content"][0]["text"] == "You said: \U0001f600"


@pytest.mark.parametrize("content_type", [None, "text/plain",
                                          "application/x-www-form-urlencoded"])
def test_json_body_whatever_the_content_type(server: ServeProcess,
                                             content_type: str | None) -> None:
    """curl -d sends form-urlencoded, a browser's string body text/plain: both are JSON."""
    headers = {"content-type": content_type} if content_type else {}
    request = httpx.Request("POST", f"{server.url}/v1/responses", content=json.dumps(HI),
                            headers=headers)
    assert request.headers.get("content-type") == content_type
    response = httpx.Client(timeout=30).send(request)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty"), (b"[1, 2]", "must be a JSON object"), (b"input=hi", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"), (b"[" * 100000, "nested too deeply"),
])
def test_bodies_that_are_not_a_json_object(server: ServeProcess, body: bytes,
                                           says: str) -> None:
    response = post(server, "/v1/chat/completions", body)
    assert response.status_code == 400, response.text
    assert says in error_of(response)["message"]


# -- no parameter accepted and ignored -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "extra", "param"),
    [
        ("/v1/chat/completions", {"n": 2, "stream": True}, "n"),
        ("/v1/chat/completions", {"logprobs": True}, "logprobs"),
        ("/v1/chat/completions", {"top_logprobs": 3}, "top_logprobs"),
        ("/v1/chat/completions", {"top_p": 0.5}, "top_p"),
        ("/v1/chat/completions", {"response_format": {"type": "json_object"}},
         "response_format"),
        ("/v1/chat/completions", {"frequency_penalty": 0.5}, "frequency_penalty"),
        ("/v1/chat/completions", {"logit_bias": {"42": 10}}, "logit_bias"),
        ("/v1/chat/completions", {"store": True}, "store"),
        ("/v1/responses", {"background": True}, "background"),
        ("/v1/responses", {"text": {"format": {"type": "json_schema", "name": "x",
                                               "schema": {"type": "object"}}}}, "text.format"),
        ("/v1/responses", {"include": ["reasoning.encrypted_content"]}, "include"),
        ("/v1/responses", {"truncation": "auto"}, "truncation"),
        ("/v1/responses", {"reasoning": {"effort": "low", "summary": "auto"}},
         "reasoning.summary"),
        ("/v1/responses", {"top_p": 0.9}, "top_p"),
        ("/v1/responses", {"top_logprobs": 2}, "top_logprobs"),
        ("/v1/completions", {"n": 3}, "n"),
        ("/v1/completions", {"logprobs": 1}, "logprobs"),
        ("/v1/completions", {"suffix": "end"}, "suffix"),
    ],
)
def test_unsupported_parameters_are_refused(server: ServeProcess, path: str,
                                            extra: dict[str, Any], param: str) -> None:
    base = {"/v1/responses": HI, "/v1/chat/completions": CHAT_HI,
            "/v1/completions": {"model": "stub", "prompt": "hi"}}[path]
    response = post(server, path, {**base, **extra})
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, "unsupported_parameter")


def test_response_echoes_the_request(server: ServeProcess) -> None:
    r = client(server).responses.create(
        model="stub", input="hello", instructions="Be brief.", temperature=0.5, top_p=1,
        max_output_tokens=200, tools=[ADD_TOOL], tool_choice="auto",  # type: ignore[list-item]
        parallel_tool_calls=False, reasoning={"effort": "low"}, store=True,
        metadata={"ticket": "42"}, user="u-1", text={"format": {"type": "text"}})
    assert (r.temperature, r.top_p, r.max_output_tokens, r.tool_choice) == (0.5, 1.0, 200, "auto")
    assert r.parallel_tool_calls is False and r.instructions == "Be brief."
    assert r.reasoning is not None and r.reasoning.effort == "low"
    assert r.metadata == {"ticket": "42"} and r.user == "u-1"
    assert [t.name for t in r.tools] == ["add"]  # type: ignore[union-attr]
    assert r.text is not None and r.text.format is not None and r.text.format.type == "text"
    raw = httpx.get(f"{server.url}/v1/responses/{r.id}").json()
    assert raw["store"] is True
    assert r.usage is not None
    assert r.usage.input_tokens_details.cached_tokens == 0
    # the stub reasons "The user said: hello" before it answers
    assert 0 < r.usage.output_tokens_details.reasoning_tokens < r.usage.output_tokens


def test_chat_usage_counts_reasoning(server: ServeProcess) -> None:
    c = client(server).chat.completions.create(
        model="stub", messages=[{"role": "user", "content": "hello"}], n=1, top_p=1,
        parallel_tool_calls=True, frequency_penalty=0, user="u-1")
    assert c.usage is not None and c.usage.completion_tokens_details is not None
    assert 0 < c.usage.completion_tokens_details.reasoning_tokens < c.usage.completion_tokens  # type: ignore[operator]


def test_chat_n_choices(server: ServeProcess) -> None:
    api = client(server)
    one = api.chat.completions.create(model="stub", messages=[{"role": "user",
                                                              "content": "hello"}])
    three = api.chat.completions.create(model="stub", n=3, seed=7,
                                        messages=[{"role": "user", "content": "hello"}])
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert {c.message.content for c in three.choices} == {"You said: hello"}  # deterministic
    assert one.usage is not None and three.usage is not None
    assert three.usage.prompt_tokens == one.usage.prompt_tokens
    assert three.usage.completion_tokens == 3 * one.usage.completion_tokens
    assert three.usage.total_tokens == three.usage.prompt_tokens + \
        three.usage.completion_tokens


# -- tool_choice -----------------------------------------------------------------------------


def test_tool_choice_none_hides_the_tools(server: ServeProcess) -> None:
    api = client(server)
    auto = api.responses.create(model="stub", input="hello", tools=[ADD_TOOL])  # type: ignore[list-item]
    none = api.responses.create(model="stub", input="hello", tools=[ADD_TOOL],  # type: ignore[list-item]
                                tool_choice="none")
    assert none.tool_choice == "none" and none.output_text == "You said: hello"
    assert none.usage is not None and auto.usage is not None
    assert none.usage.input_tokens < auto.usage.input_tokens  # the tool is not in the prompt


def test_tool_choice_named_and_required_call_the_tool(server: ServeProcess) -> None:
    api = client(server)
    named = api.responses.create(model="stub", input="add 2 and 40", tools=[ADD_TOOL],  # type: ignore[list-item]
                                 tool_choice={"type": "function", "name": "add"})
    assert [item.type for item in named.output][-1] == "function_call"
    assert named.tool_choice.type == "function" and named.tool_choice.name == "add"  # type: ignore[union-attr]
    required = api.chat.completions.create(
        model="stub", messages=[{"role": "user", "content": "add 2 and 40"}],
        tools=[CHAT_ADD], tool_choice="required")  # type: ignore[list-item]
    assert required.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/responses", {**HI, "tools": [ADD_TOOL], "tool_choice": "required"}),
    ("/v1/responses", {"model": "stub", "input": "add", "tools": [ADD_TOOL],
                       "tool_choice": "none"}),
    ("/v1/chat/completions", {**CHAT_HI, "tools": [CHAT_ADD], "tool_choice": {
        "type": "function", "function": {"name": "add"}}}),
])
def test_a_model_that_ignores_tool_choice_is_an_error(server: ServeProcess, path: str,
                                                      body: dict[str, Any]) -> None:
    """The stub follows its script whatever the prompt says: the server reports that it did
    not comply instead of passing its answer off as compliant."""
    response = post(server, path, body)
    assert response.status_code == 500, response.text
    assert error_of(response)["code"] == "tool_choice_not_followed"


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/responses", {**HI, "tools": [ADD_TOOL], "tool_choice": {
        "type": "function", "name": "mul"}}, "tool_choice.name"),
    ("/v1/responses", {**HI, "tool_choice": "required"}, "tool_choice"),
    ("/v1/chat/completions", {**CHAT_HI, "tools": [CHAT_ADD], "tool_choice": {
        "type": "function", "function": {"name": "mul"}}}, "tool_choice.function.name"),
    ("/v1/chat/completions", {**CHAT_HI, "tool_choice": "sometimes"}, "tool_choice"),
])
def test_impossible_tool_choice_is_a_400(server: ServeProcess, path: str, body: dict[str, Any],
                                         param: str) -> None:
    response = post(server, path, body)
    assert response.status_code == 400, response.text
    assert error_of(response)["param"] == param


# -- endpoints -------------------------------------------------------------------------------


def test_model_by_id(server: ServeProcess) -> None:
    assert client(server).models.retrieve("stub").id == "stub"
    with pytest.raises(openai.NotFoundError):
        client(server).models.retrieve("gpt-9")


def test_input_items_and_delete(server: ServeProcess) -> None:
    api = client(server)
    r = api.responses.create(model="stub", input=[
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "input_text", "text": "hello"}]}])
    items = list(api.responses.input_items.list(r.id, order="asc"))
    assert [(i.type, i.role) for i in items] == [("message", "developer"),  # type: ignore[union-attr]
                                                 ("message", "user")]
    assert items[1].content[0].text == "hello"  # type: ignore[union-attr]
    newest = api.responses.input_items.list(r.id, limit=1)
    assert [i.id for i in newest.data] == [items[1].id] and newest.has_more
    plain = api.responses.create(model="stub", input="hi")
    [only] = api.responses.input_items.list(plain.id).data
    assert only.content[0].text == "hi"  # type: ignore[union-attr]
    api.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        api.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        api.responses.create(model="stub", input="again", previous_response_id=r.id)


def test_completions_text_tokens_and_stream(server: ServeProcess) -> None:
    api = client(server)
    text = api.completions.create(model="stub", prompt="hello", max_tokens=200)
    # the stub continues any prompt with its Harmony default answer; the stop token ends it
    assert text.choices[0].text.endswith("You said: ")
    assert text.choices[0].finish_reason == "stop"
    assert text.usage is not None and text.usage.prompt_tokens == 1
    ids = api.completions.create(model="stub", prompt=[[24912]], max_tokens=200)
    assert ids.choices[0].text == text.choices[0].text
    streamed = list(api.completions.create(model="stub", prompt="hello", max_tokens=200,
                                           stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text.choices[0].text
    assert streamed[-1].usage is not None and streamed[-1].usage.completion_tokens > 0
    short = api.completions.create(model="stub", prompt="hello", max_tokens=3, echo=True)
    assert short.choices[0].finish_reason == "length"
    assert short.choices[0].text.startswith("hello<|channel|>")
    cut = api.completions.create(model="stub", prompt="hello", max_tokens=200, stop=["<|end|>"])
    assert cut.choices[0].text == "<|channel|>analysis<|message|>The user said: "


@pytest.mark.parametrize(("prompt", "param"), [
    (["one", "two"], "prompt"), ([10**9], "prompt"), ([], "prompt"), ("", "prompt"),
])
def test_completions_bad_prompts(server: ServeProcess, prompt: Any, param: str) -> None:
    response = post(server, "/v1/completions", {"model": "stub", "prompt": prompt})
    assert response.status_code == 400, response.text
    assert error_of(response)["param"] == param


def test_home_files_are_private(server: ServeProcess) -> None:
    client(server).responses.create(model="stub", input="secret")
    home = Path(server.home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("responses.sqlite3", "responses.sqlite3-wal"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize("endpoint", ["responses", "chat/completions", "completions"])
def test_readme_lists_every_parameter(endpoint: str) -> None:
    from gyrosi_core.serve.chat_completions.protocol import ChatRequest
    from gyrosi_core.serve.completions.protocol import CompletionRequest
    from gyrosi_core.serve.responses.protocol import ResponsesRequest

    from .conftest import REPO

    model = {"responses": ResponsesRequest, "chat/completions": ChatRequest,
             "completions": CompletionRequest}[endpoint]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split(f"| `POST /v1/{endpoint}` | |\n", 1)[1].split("\n\n", 1)[0]
    supported, refused = table.splitlines()[1:3]
    assert supported.endswith("| supported |") and refused.endswith("| refused (400) |")
    missing = [name for name in model.model_fields if f"`{name}`" not in supported]
    assert not missing, f"README's /v1/{endpoint} table does not mention {missing}"
