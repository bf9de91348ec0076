"""Every example in docs/plugins.md works, installed as one plugin and run through `gyrosi`."""

import json
import re

import httpx

from gyrosi_core.testing import ServeProcess, run_gyrosi

from .conftest import REPO

DOC = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"<!-- example -->\n```python\n(.*?)```", DOC, re.S)


def test_there_is_an_example_per_hook():
    hooks = ["register_backends", "register_tools", "register_channel_handlers",
             "register_commands", "register_engine_options", "register_routes"]
    assert [next(h for h in hooks if f"def {h}(" in ex) for ex in EXAMPLES] == hooks


def _install(plugin_site, gyrosi_home):
    site = plugin_site()
    for i, source in enumerate(EXAMPLES):
        site.add(f"gyrosi-doc-example-{i}", f"gyrosi_doc_example_{i}", source)
    return site.env(GYROSI_HOME=str(gyrosi_home))


def test_doc_examples_run(plugin_site, gyrosi_home, tmp_path):
    env = _install(plugin_site, gyrosi_home)
    counts = tmp_path / "counts.txt"
    script = {"match": "times", "reply": [{"channel": "commentary",
                                           "recipient": "functions.multiply",
                                           "content_type": "json", "text": '{"a": 6, "b": 7}'}],
              "after_tool": [{"channel": "final", "text": "six times seven is {tool}"}]}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "backends": {"stub": {"script": [script]}},
        "tools": {"functions.multiply": {"scale": 10}},
        "handlers": {"word_counter": {"path": str(counts)}},
    }))
    listing = json.loads(run_gyrosi("plugins", "--json", env=env).stdout)
    registered = {k: v for p in listing["plugins"] for k, v in p.items()
                  if k in ("backends", "tools", "channel_handlers", "commands", "engine_options",
                           "routes")
                  and p["distribution"].startswith("gyrosi-doc-example")}
    assert registered == {"backends": ["reverse"], "tools": ["functions.multiply"],
                          "channel_handlers": ["word_counter"], "commands": ["each"],
                          "engine_options": ["--scale"], "routes": ["/uptime", "/hello"]}

    reverse = run_gyrosi("generate", "--backend", "reverse", "stressed", env=env)
    assert reverse.stdout == "desserts\n", reverse.stderr
    tool = run_gyrosi("generate", "--config", str(config), "what is six times seven", env=env)
    assert tool.stdout == "six times seven is 420\n", tool.stderr
    assert counts.read_text() == "5\n"  # the handler counted the final answer's words
    each = run_gyrosi("each", "--backend", "reverse", "abc", "xyz", env=env)
    assert each.stdout == "cba\nzyx\n", each.stderr
    # The plugin's --scale flag overrides tools.functions.multiply.scale from the config file.
    scaled = run_gyrosi("generate", "--config", str(config), "--scale", "100",
                        "what is six times seven", env=env)
    assert scaled.stdout == "six times seven is 4200\n", scaled.stderr
    # ...on every engine command, `each` included, without `each` knowing the flag.
    each = run_gyrosi("each", "--backend", "reverse", "--scale", "2", "abc", env=env)
    assert each.stdout == "cba\n", each.stderr


def test_doc_routes_are_served(plugin_site, gyrosi_home, tmp_path):
    """The register_routes example on a real server with an API key: the public route answers
    without it, the other needs it, and the API keeps its own 404s."""
    env = _install(plugin_site, gyrosi_home)
    home = tmp_path / "serve-home"
    home.mkdir()
    server = ServeProcess(home, {}, env, "--api-key", "sesame").start()
    try:
        assert httpx.get(f"{server.url}/hello").text == "hello"
        assert httpx.get(f"{server.url}/uptime").status_code == 401
        auth = {"Authorization": "Bearer sesame"}
        assert httpx.get(f"{server.url}/uptime", headers=auth).json()["seconds"] >= 0
        assert httpx.post(f"{server.url}/hello").status_code == 401  # public is GET only
        missing = httpx.get(f"{server.url}/v1/nothing", headers=auth)
        assert missing.status_code == 404 and "error" in missing.json()
    finally:
        server.stop()
