"""--config / GYROSI_CONFIG over the packaged defaults, flags on top, one sentence per bad key
(the layers themselves: tests/test_defaults.py)."""

import json

import pytest

from gyrosi_core.testing import run_gyrosi


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"core": {"max_tokens": -1}}, "core.max_tokens: Input should be greater than 0"),
        ({"core": {"bogus": 1}}, "core.bogus: unknown key"),
        ({"core": {"reasoning_effort": "extreme"}}, "core.reasoning_effort: Input should be"),
        ({"nonsense": {}}, "nonsense: unknown key"),
        ({"backends": {"stub": {"script": [{"match": "(", "reply": []}]}}},
         "backends.stub.script.0.match"),
        ({"backends": {"stub": {"context_length": "lots"}}}, "backends.stub.context_length"),
        ({"serve": {"builtin_tools": ["browser", "browsr"]}},
         "serve.builtin_tools.1: Input should be 'browser' or 'python'"),
    ],
)
def test_bad_config_names_the_key(gyrosi_home, tmp_path, raw, expected):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    result = run_gyrosi("generate", "--config", str(path), "hi",
                        env={"GYROSI_HOME": str(gyrosi_home), "GYROSI_LOAD_PLUGINS": "stub"})
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_malformed_json_and_missing_file(gyrosi_home, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"core": {"backend": "stub",}}')
    env = {"GYROSI_HOME": str(gyrosi_home)}
    result = run_gyrosi("generate", "--config", str(bad), "hi", env=env)
    assert result.returncode == 1 and "is not valid JSON (line 1" in result.stderr
    result = run_gyrosi("generate", "--config", str(tmp_path / "nope.json"), "hi", env=env)
    assert result.returncode == 1 and "does not exist" in result.stderr


@pytest.mark.parametrize("where", ["top", "backends"])
def test_deeply_nested_config_is_one_sentence(gyrosi_home, tmp_path, where):
    deep = "[" * 2000 + "]" * 2000
    text = deep if where == "top" else '{"backends": {"stub": {"x": ' + deep + "}}}"
    path = tmp_path / "deep.json"
    path.write_text(text)
    result = run_gyrosi("generate", "--config", str(path), "hi",
                        env={"GYROSI_HOME": str(gyrosi_home)})
    assert result.returncode == 1
    assert "is nested too deeply" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_env_config_and_flag_overrides(gyrosi_home, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"core": {"max_tokens": 5}}))
    env = {"GYROSI_HOME": str(gyrosi_home), "GYROSI_CONFIG": str(path),
           "GYROSI_LOAD_PLUGINS": "stub"}
    short = json.loads(run_gyrosi("generate", "--json", "hello there", env=env).stdout)
    assert short["stop_reason"] == "length" and short["usage"]["completion_tokens"] == 5
    full = json.loads(run_gyrosi("generate", "--json", "--max-tokens", "500", "hello there",
                                 env=env).stdout)
    assert full["stop_reason"] == "stop" and full["final"] == "You said: hello there"
    bad_flag = run_gyrosi("generate", "--max-tokens", "0", "x", env=env)
    assert bad_flag.returncode == 1 and "max-tokens" in bad_flag.stderr
