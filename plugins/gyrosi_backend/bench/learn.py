"""Learning benchmark: end-to-end MB/s next to tiktoken's own encode rate on the same text.

    python plugins/gyrosi_backend/bench/learn.py [--runs 3] [--corpus pydoc,stdlib] [--cap 20e6]

End to end = tokenise + boundary states + context keys + fold + journal writes + the final
compaction into a snapshot, into an empty memory (a fresh GYROSI_HOME whose atlas is a symlink to
the default home's), learning every document as one message. Corpora: `pydoc_data.topics` (each
topic a message, dict order) and the standard library's .py/.txt/.rst files in sorted path order,
capped at `--cap` bytes. Each run is a fresh subprocess (so peak RSS is its own) that also times
tiktoken's `encode_ordinary` (o200k_harmony, one thread) over the same texts: the faster of one
pass before and one after the engine's, so the ratio errs against the engine. Prints medians.
Target (GYROSI_ENGINE.md §6): engine >= 50% of tiktoken's rate (>= 10 MB/s on this machine).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

TARGET_RATIO = 0.5
TARGET_MBS = 10.0


def child(corpus: str, cap: int, atlas: Path, depth: int | None) -> dict[str, Any]:
    from gyrosi_engine import kernels
    from gyrosi_engine.engine import Engine
    from gyrosi_engine.vocab import vocab

    docs = benchlib.pydoc_topics() if corpus == "pydoc" else benchlib.stdlib_corpus(cap)
    texts = [text for _, text in docs]
    size = benchlib.utf8_bytes(texts)
    encode = vocab().encoding.encode_ordinary
    encode("warm up the regex and the ranks")

    def tiktoken_pass() -> tuple[float, int]:
        t = time.perf_counter()
        n = sum(len(encode(text)) for text in texts)
        return time.perf_counter() - t, n

    tik_before, tik_tokens = tiktoken_pass()
    rss_before = benchlib.peak_rss()
    settings = benchlib.settings(depth)
    with benchlib.temp_home(atlas) as home:
        t = time.perf_counter()
        engine = Engine(settings, home=home)
        _ = engine.atlas._half_table  # built on first use: a start-up cost, not throughput
        kernels.warm()  # numba loads its cached machine code on first call: start-up too
        open_s = time.perf_counter() - t
        t = time.perf_counter()
        engine.learn_texts(texts)
        learn_s = time.perf_counter() - t
        t = time.perf_counter()
        engine.memory.compact()
        compact_s = time.perf_counter() - t
        stats = engine.memory.stats()
        engine.close()
    tik_after, _ = tiktoken_pass()
    return {
        "docs": len(texts), "bytes": size, "tik_s": min(tik_before, tik_after),
        "tik_tokens": tik_tokens, "open_s": open_s, "learn_s": learn_s, "compact_s": compact_s,
        "tokens": stats.tokens_learned, "entries": stats.entries, "contexts": stats.contexts,
        "snapshot_bytes": stats.snapshot_bytes, "bytes_per_entry": stats.bytes_per_entry,
        "rss_before": rss_before, "peak_rss": benchlib.peak_rss(),
    }


def run_child(corpus: str, cap: int, atlas: Path, depth: int | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", corpus, "--cap", str(cap), "--atlas", str(atlas)]
    if depth is not None:
        cmd += ["--depth", str(depth)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {corpus} run failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def report(corpus: str, runs: list[dict[str, Any]]) -> None:
    med = statistics.median
    r0 = runs[0]
    mb = r0["bytes"] / 1e6
    end_s = med(r["learn_s"] + r["compact_s"] for r in runs)
    end_rate = mb / end_s
    tik_rate = mb / med(r["tik_s"] for r in runs)
    ratio = med(r["bytes"] / (r["learn_s"] + r["compact_s"]) / (r["bytes"] / r["tik_s"])
                for r in runs)
    p = benchlib.print_line
    print(f" corpus {corpus}: {r0['docs']:,} messages, {mb:.2f} MB UTF-8")
    p("end to end incl. compaction", f"{end_rate:.2f} MB/s", f">= {TARGET_MBS:g} MB/s",
      end_rate >= TARGET_MBS)
    p("tiktoken encode_ordinary, same text", f"{tik_rate:.2f} MB/s")
    p("ratio engine / tiktoken (median of runs)", f"{ratio:.3f}", f">= {TARGET_RATIO}",
      ratio >= TARGET_RATIO)
    p("learn wall (no compaction)", f"{med(r['learn_s'] for r in runs):.3f} s")
    p("learn rate (no compaction)", f"{mb / med(r['learn_s'] for r in runs):.2f} MB/s")
    p("final compaction", f"{med(r['compact_s'] for r in runs):.3f} s")
    p("end-to-end wall", f"{end_s:.3f} s")
    p("engine open (atlas, tables, memory, kernels)", f"{med(r['open_s'] for r in runs):.3f} s")
    p("tokens learned (end tokens not counted)", f"{r0['tokens']:,}")
    p("tokens/s end to end", f"{r0['tokens'] / end_s / 1e6:.2f} M/s")
    p("entries stored", f"{r0['entries']:,}")
    p("contexts", f"{r0['contexts']:,}")
    p("entries per learned token", f"{r0['entries'] / max(1, r0['tokens']):.2f}")
    p("snapshot on disk", f"{r0['snapshot_bytes'] / 1e6:.2f} MB")
    p("bytes per stored entry on disk", f"{r0['bytes_per_entry']:.2f} B", "<= 16 B",
      r0["bytes_per_entry"] <= 16)
    p("peak RSS of the run", f"{med(r['peak_rss'] for r in runs) / 2**20:.0f} MiB")
    p("  of which before learning (text, vocab)",
      f"{med(r['rss_before'] for r in runs) / 2**20:.0f} MiB")
    same = len({(r["tokens"], r["entries"], r["snapshot_bytes"]) for r in runs}) == 1
    p("identical memory size across runs", "yes" if same else "NO")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", default="pydoc,stdlib",
                        help="comma-separated: pydoc, stdlib (default both)")
    parser.add_argument("--cap", type=float, default=benchlib.STDLIB_CAP,
                        help="bytes of the stdlib corpus (default 20e6)")
    parser.add_argument("--depth", type=int, default=None, help="context depth (default config)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--atlas", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cap = int(args.cap)
    if args.child:
        print(json.dumps(child(args.child, cap, args.atlas, args.depth)))
        return
    corpora = [c.strip() for c in args.corpus.split(",") if c.strip()]
    for c in corpora:
        if c not in ("pydoc", "stdlib"):
            parser.error(f"unknown corpus {c!r}; use pydoc and/or stdlib")
    atlas = benchlib.atlas_root()
    print(benchlib.machine_line("learning benchmark", f"{args.runs} runs, medians"))
    for corpus in corpora:
        runs = [run_child(corpus, cap, atlas, args.depth) for _ in range(args.runs)]
        report(corpus, runs)
    print(benchlib.machine_line("done", f"{args.runs} runs, medians"))


if __name__ == "__main__":
    main()
