"""The web chat with the GyroSI engine: it answers from memory in the page (builds an atlas)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gyrosi_core.testing import ServeProcess

from .test_page import ask, completed, open_page

LANTERNS = ("Harbour Lanterns\n\nThe harbour lanterns of Veskaro are lit with whale oil by the "
            "tide wardens, who walk the quay at dusk with long brass poles.\n")
LEARNED = ("Marmalade engines hum softly beneath the violet harbour while seven clockwork herons "
           "count the lanterns one by one until the tide forgets its name.")


def gyrosi(home: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "gyrosi_core", *args],
                          env={**os.environ, "GYROSI_HOME": str(home), "NO_COLOR": "1"},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[ServeProcess]:
    """`gyrosi serve --backend gyrosi` on a home whose memory holds one learned sentence (the
    browser fixture first, so a machine without Chromium skips before building an atlas)."""
    root = tmp_path_factory.mktemp("web-gyrosi")
    home = root / "home"
    home.mkdir()
    config = {"core": {"backend": "gyrosi"}, "backends": {"gyrosi": {"starter": False}}}
    (root / "config.json").write_text(json.dumps(config))
    (root / "story.txt").write_text(LEARNED + "\n")
    (root / "lanterns.txt").write_text(LANTERNS)
    gyrosi(home, "atlas", "build")
    gyrosi(home, "learn", str(root / "story.txt"), str(root / "lanterns.txt"), "--config",
           str(root / "config.json"))
    env = {**os.environ, "GYROSI_LOAD_PLUGINS": "gyrosi,web_chat", "NO_COLOR": "1"}
    srv = ServeProcess(home, config, env).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_gyrosi_engine_answers_from_memory_in_the_page(page: Any, engine_server: ServeProcess,
                                                       shots: Path) -> None:
    open_page(page, engine_server)
    turn = ask(page, "Marmalade engines hum softly beneath the violet harbour")
    completed(turn)
    assert turn.locator(".answer").inner_text().startswith("while seven clockwork herons")
    # the engine shows its walk in the analysis channel: a collapsed thinking block
    thinking = turn.locator("details.thinking")
    assert thinking.count() == 1 and thinking.evaluate("d => !d.open")
    assert "gyrosi" in turn.locator(".status").inner_text()
    page.screenshot(path=shots / "gyrosi-engine.png")


def test_gyrosi_engine_cites_the_learned_document(page: Any, engine_server: ServeProcess,
                                                  shots: Path) -> None:
    open_page(page, engine_server)
    turn = ask(page, "Who lights the harbour lanterns of Veskaro?")
    completed(turn)
    assert "tide wardens" in turn.locator(".answer").inner_text()
    source = turn.locator(".citations li .source")
    assert source.inner_text() == "lanterns.txt"
    assert (source.get_attribute("title") or "").endswith("/lanterns.txt")
    page.screenshot(path=shots / "gyrosi-citation.png")
