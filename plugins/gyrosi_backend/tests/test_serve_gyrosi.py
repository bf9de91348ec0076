"""`gyrosi serve --backend gyrosi` with the official openai SDK: answers from memory, and learns
from users only when the config says so."""

import json
import os
from pathlib import Path

import pytest
from openai import OpenAI

from gyrosi_core.testing import ServeProcess

from .test_backend import LEARNED, engine_home


def memory_tokens(cli, home: Path) -> int:  # noqa: ANN001 - the conftest's Cli
    out = cli.run(home, "memory", "stats", "--json")
    assert out.returncode == 0, out.stderr
    return int(json.loads(out.stdout)["tokens_learned"])


@pytest.mark.parametrize("learn", [None, True])
def test_serve_answers_from_memory(cli, tmp_path: Path, built_home: Path,  # noqa: ANN001
                                   learn: bool | None) -> None:
    home = engine_home(tmp_path / "home", built_home)
    section: dict[str, object] = {"starter": False}
    if learn is not None:
        section["learn_from_users"] = learn
    config = {"core": {"backend": "gyrosi"}, "backends": {"gyrosi": section}}
    story = tmp_path / "story.txt"
    story.write_text(LEARNED)
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    learned = cli.run(home, "learn", str(story), "--config", str(tmp_path / "cfg.json"))
    assert learned.returncode == 0, learned.stderr
    before = memory_tokens(cli, home)
    server = ServeProcess(home, config, {**os.environ, "NO_COLOR": "1"}).start()
    try:
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
        reply = client.responses.create(
            model="gyrosi", input="Marmalade engines hum softly beneath the violet harbour")
        assert reply.output_text.startswith(" while seven clockwork herons")
        chat = client.chat.completions.create(
            model="gyrosi",
            messages=[{"role": "user", "content": "Marmalade engines hum softly beneath"}])
        assert chat.choices[0].message.content.startswith(" the violet harbour while seven")
    finally:
        server.stop()
    after = memory_tokens(cli, home)
    assert (after > before) if learn else (after == before)
