"""End to end through the installed `gyrosi` command: the flags, `gyrosi browser index`."""

import json
import os
from pathlib import Path

import pytest

from gyrosi_core.testing import run_gyrosi

from .conftest import call


@pytest.fixture
def env(gyrosi_home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k not in ("GYROSI_CONFIG", "EXA_API_KEY")}
    return {**keep, "GYROSI_HOME": str(gyrosi_home)}


@pytest.fixture
def config(tmp_path: Path) -> str:
    rules = [
        call("search", "browser.search", {"query": "lighthouse keeper"}),
        call("patch", "functions.apply_patch",
             {"patch": "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"}),
        call("escape", "functions.apply_patch",
             {"patch": "*** Begin Patch\n*** Add File: ../x.txt\n+hi\n*** End Patch"}),
        call("remember", "python", "secret = 'tide'"),
        call("recall", "python", "print(secret.upper())"),
    ]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"core": {"backend": "stub"},
                                "backends": {"stub": {"script": rules}}}))
    return str(path)


def test_generate_with_the_local_browser(env, config, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "keeper.md").write_text("# The keeper\n\nA lighthouse keeper tends the lamp.\n")
    (corpus / "other.txt").write_text("Nothing to see.\n")
    indexed = run_gyrosi("browser", "index", str(corpus), env=env)
    assert indexed.returncode == 0, indexed.stderr
    assert indexed.stdout.startswith("Indexed 2 files (2 added, 0 updated, 0 removed) into ")
    again = run_gyrosi("browser", "index", str(corpus), env=env)
    assert "Indexed 2 files (0 added, 0 updated, 0 removed)" in again.stdout
    # A FIFO does not hang the command; a file past the cap is indexed by its first part.
    os.mkfifo(corpus / "pipe.txt")
    (corpus / "long.txt").write_text("word " * 100_000)
    capped = run_gyrosi("browser", "index", str(corpus), "--max-page-mb", "0.1", env=env)
    assert capped.returncode == 0, capped.stderr
    assert "Indexed 3 files (1 added, 2 updated, 0 removed)" in capped.stdout  # cap changed
    assert "Larger than 0.1 MB, so indexed by their first 0.1 MB: long.txt." in capped.stdout

    out = run_gyrosi("generate", "--config", config, "--browser", "--corpus", str(corpus),
                     "search", env=env)
    assert out.returncode == 0, out.stderr
    assert "【0†The keeper】" in out.stdout and "lighthouse keeper tends" in out.stdout
    assert out.stderr == ""  # the browser says nothing on the terminal


def test_generate_with_apply_patch(env, config, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    out = run_gyrosi("generate", "--config", config, "--apply-patch", "--workspace",
                     str(workspace), "patch", env=env)
    assert out.stdout == "Done! wrote hello.txt.\n", out.stderr
    assert (workspace / "hello.txt").read_text() == "hi"
    refused = run_gyrosi("generate", "--config", config, "--apply-patch", "--workspace",
                         str(workspace), "--json", "escape", env=env)
    result = json.loads(refused.stdout)
    assert "climbs out of the workspace" in result["final"]
    assert not (tmp_path / "x.txt").exists()


def test_run_with_python_keeps_state(env, config, tmp_path):
    out = run_gyrosi("run", "--config", config, "--python", "--workspace", str(tmp_path),
                     env=env, input="remember\nrecall\n")
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split("\n", 1)
    assert first.startswith("[WARN] No output available") and second.strip() == "TIDE"
    assert "python tool enabled: model-written code runs on this machine" in out.stderr


def test_flags_are_listed_and_errors_are_one_sentence(env, config, tmp_path):
    listing = json.loads(run_gyrosi("plugins", "--json", env=env).stdout)
    mine = next(p for p in listing["plugins"] if p["distribution"] == "gyrosi-tools-oss")
    assert mine["tools"] == ["browser", "python", "functions.apply_patch"]
    assert mine["engine_options"] == ["--browser", "--browser-backend", "--corpus", "--python",
                                      "--apply-patch", "--workspace"]
    assert mine["commands"] == ["browser"]
    assert listing["failed"] == []

    no_corpus = run_gyrosi("generate", "--config", config, "--browser", "hi", env=env)
    assert no_corpus.returncode == 1
    assert no_corpus.stderr == ("Error: The local browser needs a corpus directory: pass "
                                "--corpus DIR or set tools.browser.corpus.\n")
    no_key = run_gyrosi("generate", "--config", config, "--browser-backend", "exa", "hi", env=env)
    assert no_key.returncode == 1
    assert no_key.stderr == ("Error: The browser's exa backend needs an API key: set "
                             "EXA_API_KEY or tools.browser.api_key.\n")
    bad_dir = run_gyrosi("browser", "index", str(tmp_path / "missing"), env=env)
    assert bad_dir.returncode == 1 and "Traceback" not in bad_dir.stderr
    assert "is not a directory" in bad_dir.stderr
