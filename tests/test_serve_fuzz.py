"""A bounded schemathesis fuzz run against `gyrosi serve`'s own /openapi.json: every POST
endpoint, generated bodies valid and invalid. No answer may be a 5xx (but the one a model that
ignores `tool_choice` earns), every error must be an OpenAI error object, and the server log
must hold no traceback."""

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from gyrosi_core.testing import PluginSite, ServeProcess  # noqa: E402

from .serve_kit import serve, served  # noqa: E402

EXAMPLES = 40  # per endpoint and phase: bounded, a few seconds each on the stub
CONFIG = {"core": {"max_tokens": 64, "context_length": 16384}}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    site = PluginSite(tmp_path_factory.mktemp("site"))
    srv = serve(tmp_path_factory.mktemp("fuzz"), site, CONFIG)
    srv.env["GYROSI_LOAD_PLUGINS"] = "stub"
    yield from served(srv.start())


def _check(case: Any) -> int:
    response = case.call(timeout=30)
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and error["type"], error
        if response.status_code >= 500:
            assert error["code"] == "tool_choice_not_followed", (case.body, error)
    else:
        assert response.status_code == 200, response.text
    return int(response.status_code)


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions", "/v1/completions"])
def test_post_endpoints_never_fail(fuzzed: ServeProcess, path: str, mode: str) -> None:
    operation = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")[path]["POST"]
    statuses: set[int] = set()

    @given(case=operation.as_strategy(schemathesis.GenerationMode(mode)))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        statuses.add(_check(case))

    fuzz()
    # the bodies reached the endpoint: valid ones were answered, invalid ones refused
    assert (200 in statuses) if mode == "positive" else (400 in statuses), statuses
