"""Cost of the turn pipeline per token, with the stub backend (which costs ~nothing).

Prints tokens/s for: the stub's own generate; StreamableParser alone on the same tokens; the
whole turn engine (render, generate, parse, events, handlers). Median of --runs runs.

    .venv/bin/python bench/turn.py [--words 2000] [--runs 7]
"""

import argparse
import os
import statistics
import tempfile
import time

from openai_harmony import Role, StreamableParser

from gyrosi_core.config import Config
from gyrosi_core.encoding import get_encoding
from gyrosi_core.turn import TurnEngine
from gyrosi_stub.backend import StubBackend


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=2000, help="length of the scripted answer")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    os.environ.setdefault("GYROSI_HOME", tempfile.mkdtemp(prefix="gyrosi-bench-"))
    encoding = get_encoding()
    answer = " ".join(f"word{i % 97}" for i in range(args.words))
    script = {"script": [{"match": "", "reply": [{"channel": "analysis", "text": "Thinking."},
                                                 {"channel": "final", "text": answer}]}]}
    backend = StubBackend(script, encoding)
    engine = TurnEngine(backend, encoding, config=Config.model_validate(
        {"core": {"max_tokens": 10 * args.words}}))
    conv = engine.new_conversation()
    prompt = engine.render(engine.new_conversation())
    tokens = backend.completion(prompt)
    n = len(tokens)

    def generate() -> None:
        list(backend.generate(prompt, stop_tokens=engine.stop_tokens, max_tokens=10 * n))

    def parse() -> None:
        parser = StreamableParser(encoding, role=Role.ASSISTANT)
        for token in tokens:
            parser.process(token)

    def turn() -> None:
        for _ in engine.user_turn(conv, "go"):
            pass
        conv.messages.clear()  # keep every run's prompt the same size

    print(f"completion: {n} tokens; median of {args.runs} runs")
    rates = {}
    for name, fn in (("stub generate", generate), ("StreamableParser", parse),
                     ("turn engine", turn)):
        rates[name] = n / timed(fn, args.runs)
        print(f"{name:>18}: {rates[name]:>12,.0f} tokens/s")
    overhead = 1e6 / rates["turn engine"] - 1e6 / rates["stub generate"]
    print(f"{'pipeline cost':>18}: {overhead:>12.1f} µs/token over the stub's own generate")


if __name__ == "__main__":
    main()
