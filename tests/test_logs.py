"""Conversations that persist: every turn of `run` and `generate` logged to SQLite, listed and
searched with `gyrosi logs`, and continued with `-c` / `--cid`."""

import json
import sqlite3

import pytest

from gyrosi_core.testing import run_gyrosi

# Answers with what it can see of the conversation: how many user messages the prompt holds
# and the first of them, so a continued conversation shows in the answer.
RECALL_PLUGIN = '''
from gyrosi_core import hookimpl
from gyrosi_core.backend import BaseBackend
from openai_harmony import Message, Role

USER = "<|start|>user<|message|>"


class RecallBackend(BaseBackend):
    """Says how many user messages it sees, and the first."""

    speaks_harmony = True

    def generate(self, tokens, *, stop_tokens, max_tokens, **options):
        prompt = self.encoding.decode(tokens)
        users = [part.split("<|end|>", 1)[0] for part in prompt.split(USER)[1:]]
        text = f"{len(users)} message(s); the first was {users[0]!r}"
        reply = Message.from_role_and_content(Role.ASSISTANT, text).with_channel("final")
        out = self.encoding.render(reply)[2:]  # without `<|start|>assistant`: the prompt has it
        out[-1] = self.encoding.encode("<|return|>", allowed_special="all")[0]
        yield from out[:max_tokens]


@hookimpl
def register_backends(register):
    register("recall", RecallBackend)
'''


@pytest.fixture
def env(gyrosi_home, plugin_site):
    site = plugin_site()
    site.add("gyrosi-recall", "gyrosi_recall", RECALL_PLUGIN, entry_point="recall")
    return site.env(GYROSI_HOME=str(gyrosi_home), GYROSI_LOAD_PLUGINS="recall,stub")


def gyrosi(env, *args, input=None):
    result = run_gyrosi(*args, env=env, input=input)
    assert result.returncode == 0, result.stderr
    return result.stdout


def logged(env, *args):
    return json.loads(gyrosi(env, "logs", "--json", *args))


def test_generate_logs_every_turn_with_its_messages(env, gyrosi_home):
    gyrosi(env, "generate", "-b", "stub", "hello world")
    gyrosi(env, "generate", "-b", "stub", "--max-tokens", "3", "cut short")
    first, second = logged(env)
    assert (first["prompt"], first["answer"]) == ("hello world", "You said: hello world")
    assert first["backend"] == "stub" and first["frontend"] == "generate"
    assert first["stop_reason"] == "stop" and first["completion_tokens"] > 0
    assert first["seconds"] >= 0 and first["conversation_id"].startswith("conv_")
    assert [(m["role"], m.get("channel")) for m in first["messages"]] == [
        ("user", None), ("assistant", "analysis"), ("assistant", "final")]
    assert second["stop_reason"] == "length" and second["completion_tokens"] == 3
    assert first["conversation_id"] != second["conversation_id"]
    assert (gyrosi_home / "logs.sqlite3").is_file()


def test_logs_lists_searches_and_filters(env):
    for text in ("the quick brown fox", "a lazy dog", "the fox again", "nothing here"):
        gyrosi(env, "generate", "-b", "stub", text)
    assert [t["prompt"] for t in logged(env, "-n", "2")] == ["the fox again", "nothing here"]
    assert len(logged(env, "-n", "0")) == 4
    assert [t["prompt"] for t in logged(env, "-q", "fox", "-n", "0")] == [
        "the quick brown fox", "the fox again"]
    assert [t["prompt"] for t in logged(env, "-q", "laz*")] == ["a lazy dog"]
    cid = logged(env, "-n", "1")[0]["conversation_id"]
    assert [t["prompt"] for t in logged(env, "--cid", cid)] == ["nothing here"]
    text = gyrosi(env, "logs", "-n", "1")
    assert "> nothing here" in text and "You said: nothing here" in text and cid in text


def test_a_bad_search_is_one_sentence(env):
    gyrosi(env, "generate", "-b", "stub", "hello")
    result = run_gyrosi("logs", "-q", '"unbalanced', env=env)
    assert result.returncode == 1 and "Cannot search for" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_generate_continues_the_last_or_a_named_conversation(env):
    assert gyrosi(env, "generate", "-b", "recall", "first") == "1 message(s); the first was " \
        "'first'\n"
    assert gyrosi(env, "generate", "-b", "recall", "-c", "second") == \
        "2 message(s); the first was 'first'\n"
    cid = logged(env, "-n", "1")[0]["conversation_id"]
    gyrosi(env, "generate", "-b", "recall", "unrelated")  # a new conversation is now the last
    assert gyrosi(env, "generate", "-b", "recall", "--cid", cid, "third") == \
        "3 message(s); the first was 'first'\n"
    turns = logged(env, "--cid", cid, "-n", "0")
    assert [t["prompt"] for t in turns] == ["first", "second", "third"]


def test_run_logs_and_continues_too(env):
    gyrosi(env, "run", "-b", "recall", input="one\ntwo\n")
    assert gyrosi(env, "run", "-b", "recall", "-c", input="three\n") == \
        "3 message(s); the first was 'one'\n"
    assert [t["frontend"] for t in logged(env, "-n", "0")] == ["run"] * 3


def test_no_log_and_the_config_switch(env, gyrosi_home, tmp_path):
    gyrosi(env, "generate", "-b", "stub", "--no-log", "secret")
    config = tmp_path / "quiet.json"
    config.write_text(json.dumps({"core": {"log": False}}))
    gyrosi(env, "generate", "-b", "stub", "--config", str(config), "also secret")
    gyrosi(env, "run", "-b", "stub", "--no-log", input="piped secret\n")
    assert logged(env) == []
    assert "No logged turns yet." in run_gyrosi("logs", env=env).stderr


def test_continuing_what_is_not_there_is_one_sentence(env):
    nothing = run_gyrosi("generate", "-b", "stub", "-c", "hi", env=env)
    assert nothing.returncode == 1
    assert nothing.stderr.strip() == "Error: There is no logged conversation to continue yet."
    gyrosi(env, "generate", "-b", "stub", "hi")
    wrong = run_gyrosi("generate", "-b", "stub", "--cid", "conv_nope", "hi", env=env)
    assert wrong.returncode == 1 and "No logged conversation has the id 'conv_nope'" in \
        wrong.stderr


def test_an_interrupted_or_failed_turn_is_logged_without_messages(env, gyrosi_home):
    from gyrosi_core.logs import LoggedTurn, open_log

    log = open_log(gyrosi_home)
    log.add(LoggedTurn("conv_x", "run", "stub", 1.0, 0.5, "stopped", "", "interrupted", None,
                       0, 0, 0, []))
    turn, = logged(env)
    assert turn["stop_reason"] == "interrupted" and turn["messages"] == []
    # the file is plain SQLite with a full-text index anyone can query
    with sqlite3.connect(gyrosi_home / "logs.sqlite3") as db:
        assert db.execute("SELECT prompt FROM turns_text WHERE turns_text MATCH 'stopped'"
                          ).fetchall() == [("stopped",)]


def test_stdin_and_a_prompt_together(env):
    out = gyrosi(env, "generate", "-b", "stub", "summarise", input="line one\nline two\n")
    assert out == "You said: line one\nline two\nsummarise\n"
    assert gyrosi(env, "generate", "-b", "stub", input="only stdin\n") == "You said: only stdin\n"
    missing = run_gyrosi("generate", "-b", "stub", env=env)
    assert missing.returncode == 2 and "Give a PROMPT, or pipe text on standard input." in \
        missing.stderr
