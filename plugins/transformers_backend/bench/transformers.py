"""Our transformers backend against gpt-oss's reference transformers backend, same run.

Both decode greedily from the same tiny random-weight gpt-oss checkpoint (`gyrosi_transformers.
tiny`: real architecture and 201,088-token vocabulary, 2 layers, hidden size 64) a 1,000-token
Harmony prompt for 200 new tokens, and must produce the same tokens.

The reference is `gpt_oss.responses_api.inference.transformers.get_infer_next_token`, driven the
way `gpt_oss.responses_api.api_server` drives it: the whole token list on every call, the new
token appended, `new_request=True` on the first call only. Its `load_model` wants `accelerate`
(`device_map="auto"`) and bfloat16; we hand it the model exactly as our backend loads it
(`AutoModelForCausalLM.from_pretrained`, float32 on the CPU), so both run the same weights.

Each side runs in a child process of its own, so its peak memory is its own. Prints the median
of --runs runs: time to first token, tokens/s, total time, peak memory, and the speedup.

    .venv/bin/python plugins/transformers_backend/bench/transformers.py [--runs 3]
"""

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# This file is named like the `transformers` package: keep its folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

PROMPT_TOKENS = 1000
NEW_TOKENS = 200


def build_prompt(encoding: Any, length: int) -> list[int]:
    """A real Harmony conversation rendered for completion, exactly `length` tokens long."""
    from openai_harmony import Conversation, Message, Role

    def render(words: int) -> list[int]:
        text = "Summarise this:" + " lorem" * words  # " lorem" is one token
        convo = Conversation.from_messages([
            Message.from_role_and_content(Role.SYSTEM, "You are a helpful assistant."),
            Message.from_role_and_content(Role.USER, text),
        ])
        return encoding.render_conversation_for_completion(convo, Role.ASSISTANT)

    words = length
    for _ in range(5):
        tokens = render(words)
        if len(tokens) == length:
            return tokens
        words += length - len(tokens)
    raise SystemExit(f"could not build a {length}-token prompt")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def timed_stream(stream: Iterator[int]) -> tuple[list[int], float, float]:
    """Tokens, seconds to the first, seconds in all."""
    start = time.perf_counter()
    tokens, first = [], 0.0
    for token in stream:
        if not tokens:
            first = time.perf_counter() - start
        tokens.append(token)
    return tokens, first, time.perf_counter() - start


def reference_stream(infer_next_token: Callable[..., int], prompt: list[int],
                     stops: set[int], limit: int) -> Iterator[int]:
    """api_server.py's loop, minus the parsing and the events."""
    tokens = list(prompt)
    new_request = True
    for _ in range(limit):
        next_tok = infer_next_token(tokens, temperature=0.0, new_request=new_request)
        new_request = False
        tokens.append(next_tok)
        yield next_tok
        if next_tok in stops:
            return


def child(side: str, checkpoint: str, prompt: list[int], runs: int, threads: int | None,
          out: Any) -> None:
    import torch

    from gyrosi_core.encoding import get_encoding
    from gyrosi_transformers.backend import TransformersBackend

    encoding = get_encoding()
    stops = set(encoding.stop_tokens_for_assistant_actions())
    backend = TransformersBackend({"checkpoint": checkpoint, "threads": threads}, encoding)
    loaded_mb = peak_rss_mb()
    results = []
    if side == "reference":
        from gpt_oss.responses_api.inference.transformers import get_infer_next_token

        infer_next_token = get_infer_next_token(backend.model)
        backend.model.generation_config.pad_token_id = 0  # silence generate()'s per-call warning
        for _ in range(runs):
            results.append(timed_stream(reference_stream(infer_next_token, prompt, stops,
                                                         NEW_TOKENS)))
    else:
        for run in range(runs):
            results.append(timed_stream(backend.generate(
                prompt, stop_tokens=sorted(stops), max_tokens=NEW_TOKENS, session_id=f"r{run}")))
    tokens = results[0][0]
    assert all(r[0] == tokens for r in results), f"{side}: runs disagree"
    figures = {
        "tokens": tokens,
        "ttft": statistics.median(r[1] for r in results),
        "total": statistics.median(r[2] for r in results),
        "loaded_mb": loaded_mb,
        "peak_mb": peak_rss_mb(),
        "device": str(backend.device),
        "threads": torch.get_num_threads(),
    }
    if side == "ours":  # the next turn: the previous exchange plus a short user message
        follow = prompt + tokens + prompt[-20:]
        warm = [timed_stream(backend.generate(follow, stop_tokens=sorted(stops),
                                              max_tokens=1, session_id=f"r{run}"))[1]
                for run in range(runs)]
        cold = [timed_stream(backend.generate(follow, stop_tokens=sorted(stops),
                                              max_tokens=1))[1] for _ in range(runs)]
        figures["next_turn_ttft"] = statistics.median(warm)
        figures["next_turn_cold_ttft"] = statistics.median(cold)
        figures["next_turn_tokens"] = len(follow)
    if backend.device.type == "cuda":
        figures["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    out.put(figures)


def run_side(side: str, checkpoint: str, prompt: list[int], runs: int,
             threads: int | None) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(side, checkpoint, prompt, runs, threads, queue))
    proc.start()
    figures: dict[str, Any] = queue.get()
    proc.join()
    if proc.exitcode:
        raise SystemExit(f"the {side} run failed (exit code {proc.exitcode})")
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, help="torch CPU threads for both (default: torch's)")
    args = ap.parse_args()
    os.environ.setdefault("GYROSI_HOME", tempfile.mkdtemp(prefix="gyrosi-bench-"))
    from gyrosi_core.encoding import get_encoding
    from gyrosi_transformers.tiny import save_tiny_gpt_oss

    prompt = build_prompt(get_encoding(), PROMPT_TOKENS)
    with tempfile.TemporaryDirectory(prefix="tiny-gpt-oss-") as tmp:
        checkpoint = str(save_tiny_gpt_oss(Path(tmp)))
        ours = run_side("ours", checkpoint, prompt, args.runs, args.threads)
        ref = run_side("reference", checkpoint, prompt, args.runs, args.threads)
    n = len(ours["tokens"])
    same = ours["tokens"] == ref["tokens"]
    print(f"tiny gpt-oss, {len(prompt)}-token prompt, {n} new tokens (greedy), "
          f"{ours['device']}, {ours['threads']} torch threads, median of {args.runs} runs")
    print(f"{'':>24} {'ours':>12} {'gpt-oss ref':>12}")
    rows = [
        ("time to first token", f"{ours['ttft'] * 1e3:.1f} ms", f"{ref['ttft'] * 1e3:.1f} ms"),
        ("tokens/s", f"{n / ours['total']:.1f}", f"{n / ref['total']:.1f}"),
        ("total", f"{ours['total']:.2f} s", f"{ref['total']:.2f} s"),
        ("peak RSS", f"{ours['peak_mb']:.0f} MB", f"{ref['peak_mb']:.0f} MB"),
        ("  of which generation", f"{ours['peak_mb'] - ours['loaded_mb']:.0f} MB",
         f"{ref['peak_mb'] - ref['loaded_mb']:.0f} MB"),
    ]
    if "cuda_peak_mb" in ours:
        rows.append(("peak CUDA memory", f"{ours['cuda_peak_mb']:.0f} MB",
                     f"{ref['cuda_peak_mb']:.0f} MB"))
    for name, a, b in rows:
        print(f"{name:>24} {a:>12} {b:>12}")
    print(f"{'same tokens':>24} {'yes' if same else 'NO'}")
    print(f"{'speedup':>24} {ref['total'] / ours['total']:.1f}x (target >= 10x)")
    print(f"next turn ({ours['next_turn_tokens']} tokens, prefix reused): first token in "
          f"{ours['next_turn_ttft'] * 1e3:.1f} ms vs {ours['next_turn_cold_ttft'] * 1e3:.1f} ms "
          f"from a cold cache")
    if not same:
        sys.exit("the two backends produced different tokens")


if __name__ == "__main__":
    main()
