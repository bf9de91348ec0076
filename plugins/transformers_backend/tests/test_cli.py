"""`gyrosi` as a user runs it with this backend: real subprocesses, the real plugin discovery."""

import json

import pytest

from gyrosi_core.testing import run_gyrosi


def gyrosi(home, *args, env=None):
    return run_gyrosi(*args, env={"GYROSI_HOME": str(home), **(env or {})}, timeout=120)


def one_sentence(result):
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_random_model_ends_in_a_malformed_harmony_error(tiny_checkpoint, gyrosi_home, tmp_path):
    config = tmp_path / "config.json"  # one torch thread: see conftest.py
    config.write_text(json.dumps({"backends": {"transformers": {"threads": 1}}}))
    # a random model's tokens never close a Harmony header: the turn engine drops the turn
    result = gyrosi(gyrosi_home, "generate", "--config", str(config), "--backend", "transformers",
                    "--checkpoint", str(tiny_checkpoint), "--max-tokens", "100", "Hello!")
    assert result.stdout == ""
    assert one_sentence(result).startswith("Error: The backend's output is not valid Harmony")


def test_plugin_is_listed(gyrosi_home):
    result = gyrosi(gyrosi_home, "plugins")
    assert result.returncode == 0 and "transformers" in result.stdout


def test_missing_checkpoint_is_one_sentence(gyrosi_home, tmp_path):
    result = gyrosi(gyrosi_home, "generate", "--backend", "transformers", "--checkpoint",
                    str(tmp_path / "nope"), "hi")
    message = one_sentence(result)
    assert "does not exist" in message and "never downloaded" in message


def test_checkpoint_from_the_config_file(gyrosi_home, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"core": {"backend": "transformers"}, "backends": {
        "transformers": {"checkpoint": str(tmp_path / "from-config")}}}))
    message = one_sentence(gyrosi(gyrosi_home, "generate", "--config", str(config), "hi"))
    assert "from-config does not exist" in message
    # the flag wins over the file
    message = one_sentence(gyrosi(gyrosi_home, "generate", "--config", str(config),
                                  "--checkpoint", str(tmp_path / "from-flag"), "hi"))
    assert "from-flag does not exist" in message


@pytest.mark.parametrize("missing", ["torch", "transformers"])
def test_missing_torch_gives_an_install_hint(gyrosi_home, tmp_path, tiny_checkpoint, missing):
    # a module ahead of site-packages that fails to import, as if it were not installed
    (tmp_path / f"{missing}.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{missing}'\", name='{missing}')\n")
    result = gyrosi(gyrosi_home, "generate", "--backend", "transformers", "--checkpoint",
                    str(tiny_checkpoint), "hi", env={"PYTHONPATH": str(tmp_path)})
    message = one_sentence(result)
    assert f"{missing} is not installed" in message and "pip install torch transformers" in message
