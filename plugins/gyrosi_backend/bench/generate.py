"""Generation benchmark: tokens/s for one session with no terminal, and determinism.

    python plugins/gyrosi_backend/bench/generate.py [--runs 3] [--max-tokens 2000]

Learns `pydoc_data.topics` (each topic a message) into an empty memory (a fresh GYROSI_HOME whose
atlas is a symlink to the default home's) and compacts it. Then, per run, a freshly opened engine
reads each fixed prompt (`generator.walk` from `engine.start()`) and emits up to `--max-tokens`
tokens (`generator.emit`), which halts earlier at a learned end of message:
    cold  the first pass of a freshly opened engine (token addresses and the admissibility cache
          are computed as they are needed, as in a new session) - the headline figure;
    warm  the same prompts again in that engine;
    backend  `GyroBackend.generate` on a Harmony prompt rendered by the core's `TurnEngine` (system
          message + the prompt as the user's message), same engine, warm: the walk, emission, the
          physics trace and Harmony rendering; its tokens/s counts the tokens it yields;
    turn  a whole `TurnEngine.user_turn` (adds the streaming Harmony parser and events).
Determinism: every pass and run must give the same tokens per prompt, and so must a separate
process opening the same memory. Target (GYROSI_ENGINE.md §6): >= 2,000 tokens/s.
"""

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import benchlib

if TYPE_CHECKING:
    from gyrosi_engine.engine import Engine

TARGET = 2000.0

#: Prefixes of learned topics (the engine continues them) and prompts that are not in them.
PROMPTS = (
    "The \"with\" statement is used to wrap the execution of a block",
    "Python supports string and bytes literals and various numeric literals:",
    "An object's type determines the operations that the object supports",
    "A class definition defines a class object",
    "What does the global statement do?",
    "def fibonacci(n):",
    "Tell me about exceptions.",
    "zebra quantum marmalade",
)


def emit_all(engine: "Engine", max_tokens: int) -> tuple[list[list[int]], float, list[str]]:
    """Tokens per prompt, the wall time of the walks and emissions, and why each halted."""
    from gyrosi_engine.generate import Trace

    gen = engine.generator
    prompts = [engine.encode(p) for p in PROMPTS]
    out: list[list[int]] = []
    halts: list[str] = []
    t = time.perf_counter()
    for tokens in prompts:
        trace = Trace()
        out.append(list(gen.emit(gen.walk(engine.start(), tokens), max_tokens, trace)))
        halts.append(trace.halted)
    return out, time.perf_counter() - t, halts


def digest(outputs: list[list[int]]) -> str:
    return hashlib.sha256(json.dumps(outputs).encode()).hexdigest()[:16]


def backend_pass(engine: "Engine", max_tokens: int, tag: str) -> dict[str, Any]:
    """`GyroBackend.generate` and whole turns on rendered Harmony prompts."""
    from openai_harmony import Message, Role

    from gyrosi_core.encoding import get_encoding
    from gyrosi_core.turn import TurnEngine
    from gyrosi_engine.backend import GyroBackend

    encoding = get_encoding()
    backend = GyroBackend({"starter": False, "learn_from_users": False}, encoding, engine=engine)
    turns = TurnEngine(backend, encoding)
    turns.settings = turns.settings.model_copy(update={"max_tokens": max_tokens})
    rendered = []
    for prompt in PROMPTS:
        conv = turns.new_conversation()
        rendered.append(turns.render(conv, [Message.from_role_and_content(Role.USER, prompt)]))
    outs: list[list[int]] = []
    t = time.perf_counter()
    for n, tokens in enumerate(rendered):
        outs.append([t for t in backend.generate(tokens, stop_tokens=turns.stop_tokens,
                                                 max_tokens=max_tokens, session_id=f"{tag}-{n}")
                     if isinstance(t, int)])  # a `Source` is not a token
    backend_s = time.perf_counter() - t
    answers = 0
    for out in outs:
        for message in encoding.parse_messages_from_completion_tokens(out, Role.ASSISTANT):
            if message.channel == "final":
                answers += len(engine.encode("".join(c.text for c in message.content
                                                     if hasattr(c, "text"))))
    t = time.perf_counter()
    turn_tokens = 0
    for prompt in PROMPTS:
        conv = turns.new_conversation()
        for event in turns.user_turn(conv, prompt):
            usage = getattr(event, "usage", None)
            if usage is not None and type(event).__name__ == "TurnEnd":
                turn_tokens += usage.completion_tokens
        turns.end_conversation(conv)
    turn_s = time.perf_counter() - t
    return {"backend_s": backend_s, "backend_tokens": sum(map(len, outs)),
            "backend_digest": digest(outs), "answer_tokens": answers,
            "turn_s": turn_s, "turn_tokens": turn_tokens}


def child(home: Path, max_tokens: int) -> None:
    """Another process on the same memory: prints the digest of its tokens."""
    from gyrosi_engine.engine import Engine

    engine = Engine(benchlib.settings(), home=home)
    outputs, _, _ = emit_all(engine, max_tokens)
    print(digest(outputs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=2000)
    parser.add_argument("--no-process-check", action="store_true",
                        help="skip the second-process determinism check")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.max_tokens)
        return
    from gyrosi_engine.engine import Engine

    atlas = benchlib.atlas_root()
    texts = [text for _, text in benchlib.pydoc_topics()]
    print(benchlib.machine_line("generation benchmark", f"{args.runs} runs, medians"))
    with benchlib.temp_home(atlas) as home:
        engine = Engine(benchlib.settings(), home=home)
        engine.learn_texts(texts)
        engine.memory.compact()
        print(f" memory: pydoc_data.topics, {engine.memory.tokens_learned:,} tokens learned, "
              f"{len(engine.memory.passive):,} entries, depth {engine.memory.depth}; "
              f"{len(PROMPTS)} prompts, up to {args.max_tokens:,} tokens each")
        del engine
        runs: list[dict[str, Any]] = []
        for run in range(args.runs):
            t = time.perf_counter()
            engine = Engine(benchlib.settings(), home=home)
            open_s = time.perf_counter() - t
            cold, cold_s, halts = emit_all(engine, args.max_tokens)
            warm, warm_s, _ = emit_all(engine, args.max_tokens)
            runs.append({"open_s": open_s, "cold_s": cold_s, "warm_s": warm_s,
                         "tokens": sum(map(len, cold)), "cold": digest(cold),
                         "warm": digest(warm), "halts": halts, "per_prompt": list(map(len, cold)),
                         **backend_pass(engine, args.max_tokens, f"run{run}")})
            del engine
        other = ""
        if not args.no_process_check:
            done = subprocess.run([sys.executable, __file__, "--child", str(home),
                                   "--max-tokens", str(args.max_tokens)],
                                  capture_output=True, text=True)
            other = done.stdout.strip().splitlines()[-1] if done.returncode == 0 else "failed"
            if done.returncode:
                print(done.stderr, file=sys.stderr)

    med = statistics.median
    r0 = runs[0]
    tokens = r0["tokens"]
    cold_rate = med(r["tokens"] / r["cold_s"] for r in runs)
    warm_rate = med(r["tokens"] / r["warm_s"] for r in runs)
    p = benchlib.print_line
    p("tokens emitted per pass", f"{tokens:,}")
    p("  per prompt", " ".join(map(str, r0["per_prompt"])))
    p("  halted on", ", ".join(f"{h} x{r0['halts'].count(h)}" for h in sorted(set(r0["halts"]))))
    p("cold session (fresh engine), tokens/s", f"{cold_rate:,.0f}", f">= {TARGET:,.0f}",
      cold_rate >= TARGET)
    p("warm (same prompts again), tokens/s", f"{warm_rate:,.0f}", f">= {TARGET:,.0f}",
      warm_rate >= TARGET)
    p("cold wall, all prompts", f"{med(r['cold_s'] for r in runs):.3f} s")
    p("engine open (not in the rates)", f"{med(r['open_s'] for r in runs):.3f} s")
    backend_rate = med(r["backend_tokens"] / r["backend_s"] for r in runs)
    p("GyroBackend.generate, Harmony tokens/s", f"{backend_rate:,.0f}", f">= {TARGET:,.0f}",
      backend_rate >= TARGET)
    p("  Harmony tokens yielded (trace + answer)", f"{r0['backend_tokens']:,}")
    p("  answer tokens in the final messages", f"{r0['answer_tokens']:,}")
    p("  answer tokens/s through the backend",
      f"{med(r['answer_tokens'] / r['backend_s'] for r in runs):,.0f}")
    p("  wall, all prompts (vs warm emit)",
      f"{med(r['backend_s'] for r in runs):.3f} s ({med(r['warm_s'] for r in runs):.3f} s)")
    turn_rate = med(r["turn_tokens"] / r["turn_s"] for r in runs)
    p("TurnEngine.user_turn, completion tokens/s", f"{turn_rate:,.0f}")
    p("  wall, all prompts", f"{med(r['turn_s'] for r in runs):.3f} s")
    same = len({r["cold"] for r in runs} | {r["warm"] for r in runs}) == 1
    p("determinism: all passes and runs identical", "yes" if same else "NO", "identical", same)
    same_backend = len({r["backend_digest"] for r in runs}) == 1
    p("determinism: backend output across runs", "yes" if same_backend else "NO", "identical",
      same_backend)
    if other:
        ok = other == r0["cold"]
        p("determinism: a second process", "yes" if ok else f"NO ({other})", "identical", ok)
    p("token digest (sha256 prefix)", r0["cold"])
    print(benchlib.machine_line("done", f"{args.runs} runs, medians"))


if __name__ == "__main__":
    main()
