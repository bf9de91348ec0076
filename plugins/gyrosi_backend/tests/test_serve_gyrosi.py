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


def test_serve_cites_the_source_and_streams_it(cli, tmp_path: Path,  # noqa: ANN001
                                                built_home: Path) -> None:
    """A question's answer carries its source: a `file_citation` annotation in the Responses
    API (streamed as `response.output_text.annotation.added` before the text), a `url_citation`
    in Chat Completions; the text streams in several deltas; a cut answer is `incomplete`."""
    home = engine_home(tmp_path / "home", built_home)
    config = {"core": {"backend": "gyrosi"}, "backends": {"gyrosi": {"starter": False}}}
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    doc = tmp_path / "lanterns.txt"
    doc.write_text("Harbour Lanterns\n\nThe harbour lanterns of Veskaro are lit with whale "
                   "oil by the tide wardens, who walk the quay at dusk with long brass poles.\n")
    learned = cli.run(home, "learn", str(doc), "--config", str(tmp_path / "cfg.json"))
    assert learned.returncode == 0, learned.stderr
    server = ServeProcess(home, config, {**os.environ, "NO_COLOR": "1"}).start()
    try:
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused")
        question = "Who lights the harbour lanterns of Veskaro?"
        reply = client.responses.create(model="gyrosi", input=question)
        assert "tide wardens" in reply.output_text
        message = next(item for item in reply.output if item.type == "message")
        [note] = message.content[0].annotations
        assert note.type == "file_citation" and note.file_id == str(doc)
        assert note.filename == "lanterns.txt"
        with client.responses.stream(model="gyrosi", input=question) as stream:
            kinds = [event.type for event in stream]
        assert kinds.index("response.output_text.annotation.added") < \
            kinds.index("response.output_text.delta")
        chat = client.chat.completions.create(
            model="gyrosi", messages=[{"role": "user", "content": question}])
        [cited] = chat.choices[0].message.annotations
        assert cited.type == "url_citation" and cited.url_citation.url == f"file://{doc}"
        cut = client.responses.create(model="gyrosi", input=question, max_output_tokens=40)
        assert cut.status == "incomplete"
        assert cut.incomplete_details.reason == "max_output_tokens"
        short = client.chat.completions.create(
            model="gyrosi", messages=[{"role": "user", "content": question}], max_tokens=40)
        assert short.choices[0].finish_reason == "length"
    finally:
        server.stop()
