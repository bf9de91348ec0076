"""`gyrosi serve` against gpt-oss's reference Responses server, on the same stub tokens.

Both servers run as processes on loopback ports in this run. Ours uses the stub backend with a
scripted answer; the reference (`gpt_oss.responses_api.api_server`) gets an `infer_next_token`
that returns the very tokens our stub emits for the same question, instantly (its stub's
`time.sleep(0.1)` per token is gone), so both are measured on pipeline cost alone: HTTP, Harmony
parsing, event translation, SSE. Streamed Responses API requests, measured by the client:

    one client      tokens/s of one stream at a time (median over --runs requests)
    16 clients      aggregate tokens/s of 16 concurrent streams (median over --runs rounds),
                    and p50/p99 time to the first delta event

    .venv/bin/python bench/serve.py [--words 500] [--runs 5] [--clients 16] [--workers 1,2]
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

QUESTION = "Tell me a long story."

REFERENCE = r"""
import json, sys
import uvicorn
from gyrosi_core.encoding import get_encoding
from openai_harmony import HarmonyEncodingName, load_harmony_encoding
get_encoding()  # puts the offline vocabulary where openai_harmony looks for it
from gpt_oss.responses_api.api_server import create_api_server

completion = json.loads(sys.argv[2])
start = {}

def infer_next_token(tokens, temperature=0.0, new_request=False):
    # Every request asks the same question, so the prompt length is the same for all of them
    # and the position in the answer follows from the context's length.
    if new_request:
        start["n"] = len(tokens)
    return completion[(len(tokens) - start["n"]) % len(completion)]

encoding = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
uvicorn.run(create_api_server(infer_next_token, encoding), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server at {url} exited with {proc.returncode}")
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


async def one_stream(http: httpx.AsyncClient, url: str) -> tuple[int, float, float]:
    """(output tokens, seconds to the first delta, seconds in all)."""
    body = {"model": "stub", "input": QUESTION, "stream": True}
    start = time.perf_counter()
    first = None
    chunks = []
    async with http.stream("POST", url + "/v1/responses", json=body) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            if first is None and b".delta" in chunk:
                first = time.perf_counter() - start
            chunks.append(chunk)
    total = time.perf_counter() - start
    data = b"".join(chunks)
    marker = b"event: response.completed\ndata: "
    completed = json.loads(data[data.rindex(marker) + len(marker):].split(b"\n", 1)[0])
    return completed["response"]["usage"]["output_tokens"], first or total, total


async def measure(url: str, runs: int, clients: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        for _ in range(4):  # warm-up: every server process answers a request or two first
            await asyncio.gather(*(one_stream(http, url) for _ in range(4)))
        single = []
        for _ in range(runs):
            tokens, _, seconds = await one_stream(http, url)
            single.append(tokens / seconds)
        aggregate, ttft = [], []
        for _ in range(runs):
            start = time.perf_counter()
            results = await asyncio.gather(*(one_stream(http, url) for _ in range(clients)))
            wall = time.perf_counter() - start
            aggregate.append(sum(r[0] for r in results) / wall)
            ttft.extend(r[1] for r in results)
    ttft.sort()
    return {"single": statistics.median(single), "aggregate": statistics.median(aggregate),
            "ttft_p50": ttft[len(ttft) // 2], "ttft_p99": ttft[min(len(ttft) - 1,
                                                                   int(len(ttft) * 0.99))]}


def stub_completion(script: dict, home: str) -> list[int]:
    """The tokens our stub answers QUESTION with: the reference replays exactly these."""
    os.environ["GYROSI_HOME"] = home
    from gyrosi_core.config import Config
    from gyrosi_core.encoding import get_encoding
    from gyrosi_core.turn import TurnEngine
    from gyrosi_stub.backend import StubBackend

    encoding = get_encoding()
    backend = StubBackend(script, encoding)
    engine = TurnEngine(backend, encoding, config=Config())
    conv = engine.new_conversation()
    from openai_harmony import Message, Role

    return backend.completion(engine.render(conv, [Message.from_role_and_content(Role.USER,
                                                                                 QUESTION)]))


def run_server(cmd: list[str], env: dict[str, str], health: str, url: str,
               args: argparse.Namespace) -> dict[str, float]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(url, proc, health)
        return asyncio.run(measure(url, args.runs, args.clients))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=500, help="length of the scripted answer")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", default="1", help="gyrosi serve --workers values, e.g. 1,2")
    ap.add_argument("--slots", type=int, help="gyrosi serve --slots (default: the stub's own)")
    ap.add_argument("--skip-reference", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gyrosi-bench-serve-"))
    answer = " ".join(f"word{i % 97}" for i in range(args.words))
    script = {"script": [{"match": "", "reply": [
        {"channel": "analysis", "text": "The user wants a story; I will tell one."},
        {"channel": "final", "text": answer}]}]}
    config = tmp / "config.json"
    config.write_text(json.dumps({"core": {"max_tokens": 100 * args.words},
                                  "backends": {"stub": script}}))
    completion = stub_completion(script, str(tmp / "home"))
    env = {**os.environ, "GYROSI_HOME": str(tmp / "home")}
    env.pop("GYROSI_CONFIG", None)
    print(f"answer: {len(completion)} tokens; {args.clients} clients; median of {args.runs}; "
          f"{os.cpu_count()} CPUs", flush=True)

    port = free_port()
    ref = run_server([sys.executable, "-c", REFERENCE, str(port), json.dumps(completion)], env,
                     "/docs", f"http://127.0.0.1:{port}", args)
    rows = [("gpt-oss reference", ref)]
    for workers in (int(w) for w in args.workers.split(",")):
        port = free_port()
        cmd = [sys.executable, "-m", "gyrosi_core", "serve", "--port", str(port), "--config",
               str(config), "--workers", str(workers)]
        if args.slots:
            cmd += ["--slots", str(args.slots)]
        ours = run_server(cmd, env, "/health", f"http://127.0.0.1:{port}", args)
        rows.append((f"gyrosi serve --workers {workers}", ours))

    print(f"{'':>26} {'1 client tok/s':>15} {'16-client tok/s':>16} {'TTFT p50':>10} "
          f"{'TTFT p99':>10}")
    for name, r in rows:
        print(f"{name:>26} {r['single']:>15,.0f} {r['aggregate']:>16,.0f} "
              f"{r['ttft_p50'] * 1000:>8.1f}ms {r['ttft_p99'] * 1000:>8.1f}ms")
    for name, r in rows[1:]:
        print(f"{name:>26}: {r['single'] / ref['single']:.1f}x one client, "
              f"{r['aggregate'] / ref['aggregate']:.1f}x aggregate, "
              f"TTFT p50 {r['ttft_p50'] / ref['ttft_p50']:.2f}x, "
              f"p99 {r['ttft_p99'] / ref['ttft_p99']:.2f}x of the reference")


if __name__ == "__main__":
    main()
