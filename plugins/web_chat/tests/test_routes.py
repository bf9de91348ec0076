"""The page's routes on a live server, `gyrosi plugins`, and `gyrosi web` (no browser needed)."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from gyrosi_core.testing import PluginSite, ServeProcess, free_port, run_gyrosi

from .conftest import CONFIG


def test_page_and_its_files_are_served(server: ServeProcess) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/web/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    for name, kind in [("app.js", "javascript"), ("markdown.js", "javascript"),
                       ("style.css", "text/css")]:
        reply = httpx.get(f"{server.url}/web/{name}")
        assert reply.status_code == 200 and kind in reply.headers["content-type"], name
    assert httpx.get(f"{server.url}/web/../plugin.py").status_code == 404
    # the API keeps its own answers: an unknown path is still an OpenAI error object
    missing = httpx.get(f"{server.url}/v1/nothing")
    assert missing.status_code == 404 and "message" in missing.json()["error"]


def test_page_is_public_the_api_is_not(guarded: ServeProcess) -> None:
    assert httpx.get(f"{guarded.url}/").status_code == 200
    assert httpx.get(f"{guarded.url}/web/app.js").status_code == 200
    assert httpx.get(f"{guarded.url}/v1/models").status_code == 401
    assert httpx.post(f"{guarded.url}/", json={}).status_code == 401  # only GET is public
    auth = {"Authorization": "Bearer sesame"}
    assert httpx.get(f"{guarded.url}/v1/models", headers=auth).status_code == 200


def test_plugins_lists_the_routes_and_the_command(site: PluginSite) -> None:
    env = site.env(GYROSI_LOAD_PLUGINS="stub,web_chat")
    listing = json.loads(run_gyrosi("plugins", "--json", env=env).stdout)
    web = next(p for p in listing["plugins"] if p["name"] == "web_chat")
    assert web["distribution"] == "gyrosi-web-chat"
    assert web["routes"] == ["/", "/web"] and web["commands"] == ["web"]


def test_gyrosi_web_serves_and_opens_the_page(site: PluginSite, tmp_path: Path) -> None:
    """`webbrowser` honours $BROWSER: a script stands in for the browser and records the URL."""
    opened = tmp_path / "opened.txt"
    fake = tmp_path / "browser.py"
    fake.write_text(textwrap.dedent(f"""\
        import sys
        open({str(opened)!r}, "w").write(sys.argv[1])
        """))
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.json"
    # only the stub and the web chat are loaded here: no plugin that registers a tool
    core = {k: v for k, v in CONFIG["core"].items() if k != "tools"}
    config.write_text(json.dumps({**CONFIG, "core": core}))
    port = free_port()
    env = site.env(GYROSI_LOAD_PLUGINS="stub,web_chat", GYROSI_HOME=str(home),
                   BROWSER=f"{sys.executable} {fake} %s")
    proc = subprocess.Popen([sys.executable, "-m", "gyrosi_core", "web", "--port", str(port),
                             "--config", str(config)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while not (opened.exists() and opened.read_text()) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        ended = proc.poll() is not None
        assert opened.exists() and opened.read_text() == url, \
            proc.communicate(timeout=30)[0] if ended else "no browser was opened"
        page = httpx.get(url)
        assert page.status_code == 200 and "GyroSI chat" in page.text
        models = httpx.get(f"{url}v1/models").json()["data"]
        assert "stub" in [m["id"] for m in models]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"gyrosi web: {url}" in out
    assert "Traceback" not in out


def test_gyrosi_web_bad_port_is_one_sentence(site: PluginSite, tmp_path: Path) -> None:
    env = site.env(GYROSI_LOAD_PLUGINS="stub,web_chat", GYROSI_HOME=str(tmp_path))
    done = run_gyrosi("web", "--no-open", "--port", "-5", env=env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "--port" in done.stderr
