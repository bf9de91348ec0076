"""The web chat: time from page load to an interactive prompt, in headless Chromium.

Starts `gyrosi web --no-open` (stub backend) on a loopback port and loads the page in the
system Chromium through Playwright (no browser download), each load in a fresh profile (cold:
nothing cached) and then reloaded (warm). The page marks when its prompt takes input
(`gyrosi-ready`) and when the model list has arrived (`gyrosi-models`); both are measured from
the navigation's start. Last, one answer streamed by the stub: Enter to a completed turn.

    .venv/bin/python bench/web.py [--runs 10] [--chromium /usr/bin/chromium]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

MARKS = "name => performance.getEntriesByName(name)[0]?.startTime"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    config = home / "config.json"
    config.write_text(json.dumps({"core": {"backend": "stub"}}))
    env = {**os.environ, "GYROSI_HOME": str(home), "GYROSI_LOAD_PLUGINS": "stub,web_chat"}
    proc = subprocess.Popen([sys.executable, "-m", "gyrosi_core", "web", "--no-open", "--port",
                             str(port), "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("gyrosi web did not come up")


def load(page, url: str, reload: bool = False) -> tuple[float, float]:  # noqa: ANN001
    if reload:
        page.reload()
    else:
        page.goto(url)
    page.wait_for_selector("body[data-models]")
    return page.evaluate(MARKS, "gyrosi-ready"), page.evaluate(MARKS, "gyrosi-models")


def row(name: str, values: list[float]) -> str:
    return f"{name:>34}  {statistics.median(values):8.1f} ms  {max(values):8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chromium", default=os.environ.get("GYROSI_CHROMIUM")
                        or shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True)
                cold: list[tuple[float, float]] = []
                warm: list[tuple[float, float]] = []
                answers: list[float] = []
                for _ in range(args.runs):
                    context = browser.new_context()
                    page = context.new_page()
                    cold.append(load(page, url))
                    warm.append(load(page, url, reload=True))
                    page.fill("#prompt", "hello")
                    start = time.perf_counter()
                    page.press("#prompt", "Enter")
                    page.wait_for_selector(".turn.assistant[data-state=completed]")
                    answers.append((time.perf_counter() - start) * 1000)
                    context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"web chat page on loopback, headless Chromium, {args.runs} loads each")
    print(f"{'':>34}  {'median':>11}  {'max':>11}")
    print(row("load -> prompt ready (cold)", [r for r, _ in cold]))
    print(row("load -> models listed (cold)", [m for _, m in cold]))
    print(row("load -> prompt ready (warm)", [r for r, _ in warm]))
    print(row("load -> models listed (warm)", [m for _, m in warm]))
    print(row("Enter -> stub answer completed", answers))


if __name__ == "__main__":
    main()
