"""Recall benchmark: next-token recall on learned text, held-out accuracy beside token-bigram
tables, and bytes per stored entry; optionally per context depth.

    python plugins/gyrosi_backend/bench/recall.py [--depths 4,5,6,7]

(a) Recall: learn every `pydoc_data.topics` topic (dict order, each a message) into an empty
    memory, then walk each topic from `engine.start()`: at every position the engine proposes
    (`generator.propose(path).token`) and the walk goes on with the true token. The true stream of
    a topic is its tokens followed by `<|end|>`, exactly as learned.
(b) Held-out: learn the first 90% of topics (`int(79 * 0.9)` = 71 in dict order) into another
    empty memory and test the rest the same way. Beside it, token-bigram tables trained on the
    same 71 token streams (each topic on its own, `<|end|>` included): the most frequent follower
    (ties: the follower seen first) and the most recent follower; a predecessor never seen is a
    miss. A topic's first token has no predecessor, so the comparison leaves it out for both; the
    engine's figure over all positions is printed too.
(c) Bytes per stored entry on disk, after compacting the memory of (a).
(d) `--depths`: all of the above for each context depth (`GyroConfig(depth=d)`);
    `--per-context K` changes the per-context cap (to see what the cap costs).
Targets (GYROSI_ENGINE.md §6): recall >= 0.95, held-out >= the most-frequent-follower bigram,
<= 16 B per stored entry. Deterministic: one run is the figure.
"""

import argparse
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import benchlib

if TYPE_CHECKING:
    from gyrosi_engine.engine import Engine

TARGET_RECALL = 0.95
TARGET_BYTES = 16.0
TRAIN_SHARE = 0.9


@dataclass
class Score:
    hits: int = 0  # all positions
    total: int = 0
    hits_rest: int = 0  # positions after a topic's first token
    total_rest: int = 0
    from_path: int = 0  # proposals from a path context (ladder level 0)
    depth_sum: int = 0  # path depth used, summed over those
    oracle: int = 0  # ... where the true token was among that context's candidates
    recency: int = 0  # hits had the most recent candidate been taken (the rule switched off)

    def add(self, hit: bool, first: bool) -> None:
        self.hits += hit
        self.total += 1
        if not first:
            self.hits_rest += hit
            self.total_rest += 1

    @property
    def all(self) -> float:
        return self.hits / max(1, self.total)

    @property
    def rest(self) -> float:
        return self.hits_rest / max(1, self.total_rest)


def streams(engine: "Engine", texts: Sequence[str]) -> list[list[int]]:
    """Each text's tokens and its `<|end|>`, from the same tokenising path learning uses."""
    out: list[list[int]] = []
    current: list[int] = []
    for piece, _ in engine.message_pieces(texts):
        current.extend(piece.tolist())
        if len(piece) == 1 and piece[0] == engine.end_token:
            out.append(current)
            current = []
    return out


def engine_score(engine: "Engine", token_streams: list[list[int]]) -> Score:
    """Teacher-forced walk: propose at each position, then advance with the true token."""

    gen = engine.generator
    candidates = engine.memory.passive.candidates
    score = Score()
    for stream in token_streams:
        at = engine.start()
        for i, token in enumerate(stream):
            step = gen.propose(at)
            hit = step is not None and step.token == token
            score.add(hit, i == 0)
            if step is not None and step.level == 0:
                # the path context the engine used: was the answer there, and would plain
                # recency (no admissibility) have found it?
                cands = candidates(gen.keys(at)[step.depth])
                score.from_path += 1
                score.depth_sum += step.depth
                score.oracle += token in cands
                score.recency += cands[0] == token
            else:
                score.recency += hit
            at = gen.advance(at, token)
    return score


def bigram_scores(train: list[list[int]], test: list[list[int]]) -> tuple[float, float]:
    """(most frequent follower, most recent follower) accuracy on `test`, first tokens left out."""
    counts: defaultdict[int, Counter[int]] = defaultdict(Counter)
    recent: dict[int, int] = {}
    for stream in train:
        for a, b in zip(stream, stream[1:], strict=False):
            counts[a][b] += 1
            recent[a] = b
    frequent = {a: c.most_common(1)[0][0] for a, c in counts.items()}
    hits_f = hits_r = total = 0
    for stream in test:
        for a, b in zip(stream, stream[1:], strict=False):
            total += 1
            hits_f += frequent.get(a) == b
            hits_r += recent.get(a) == b
    return hits_f / max(1, total), hits_r / max(1, total)


@dataclass
class DepthResult:
    depth: int
    recall: Score
    held: Score
    mff: float
    mrf: float
    mff_learned: float
    entries: int
    entries_held: int
    bytes_per_entry: float
    snapshot_bytes: int
    tokens: int
    learn_s: float
    eval_s: float


def measure(depth: int | None, texts: list[str], atlas: Path,
            per_context: int | None = None) -> DepthResult:
    from gyrosi_engine.engine import Engine

    settings = benchlib.settings(depth, per_context)
    split = int(len(texts) * TRAIN_SHARE)
    learn_s = eval_s = 0.0
    with benchlib.temp_home(atlas) as home:
        engine = Engine(settings, home=home)
        all_streams = streams(engine, texts)
        t = time.perf_counter()
        engine.learn_texts(texts)
        engine.memory.compact()
        learn_s += time.perf_counter() - t
        stats = engine.memory.stats()
        t = time.perf_counter()
        recall = engine_score(engine, all_streams)
        eval_s += time.perf_counter() - t
    with benchlib.temp_home(atlas) as home:
        engine = Engine(settings, home=home)
        t = time.perf_counter()
        engine.learn_texts(texts[:split])
        engine.memory.compact()  # as `gyrosi learn` ends: the caps apply here
        learn_s += time.perf_counter() - t
        entries_held = len(engine.memory.passive)
        t = time.perf_counter()
        held = engine_score(engine, all_streams[split:])
        eval_s += time.perf_counter() - t
    mff, mrf = bigram_scores(all_streams[:split], all_streams[split:])
    mff_learned, _ = bigram_scores(all_streams, all_streams)
    return DepthResult(
        settings.depth, recall, held, mff, mrf, mff_learned, stats.entries, entries_held,
        stats.bytes_per_entry, stats.snapshot_bytes, stats.tokens_learned, learn_s, eval_s)


def report(r: DepthResult, texts: list[str]) -> None:
    split = int(len(texts) * TRAIN_SHARE)
    p = benchlib.print_line
    print(f" context depth {r.depth}:")
    p("(a) recall on learned text, all positions", f"{r.recall.all:.4f}", f">= {TARGET_RECALL}",
      r.recall.all >= TARGET_RECALL)
    p("    positions (tokens + <|end|>)", f"{r.recall.total:,}")
    p("    from a path context (ladder level 0)", f"{r.recall.from_path / r.recall.total:.3f}")
    p("    mean path depth used there",
      f"{r.recall.depth_sum / max(1, r.recall.from_path):.2f}")
    p("    true token among that context's tokens",
      f"{r.recall.oracle / max(1, r.recall.from_path):.4f}")
    p("    recall if the most recent were taken", f"{r.recall.recency / r.recall.total:.4f}")
    p("    MFF bigram trained and tested on all", f"{r.mff_learned:.4f}")
    print(f"  (b) held-out: learn topics 1..{split}, test {split + 1}..{len(texts)} "
          f"({r.held.total:,} positions)")
    p("    engine, first tokens left out", f"{r.held.rest:.4f}", f">= MFF bigram {r.mff:.4f}",
      r.held.rest >= r.mff)
    p("    engine, all positions", f"{r.held.all:.4f}")
    p("    most-frequent-follower bigram", f"{r.mff:.4f}")
    p("    most-recent-follower bigram", f"{r.mrf:.4f}")
    p("    from a path context (ladder level 0)", f"{r.held.from_path / r.held.total:.3f}")
    p("    true token among that context's tokens",
      f"{r.held.oracle / max(1, r.held.from_path):.4f}")
    p("    all positions if the most recent were taken", f"{r.held.recency / r.held.total:.4f}")
    p("(c) bytes per stored entry on disk", f"{r.bytes_per_entry:.2f} B", f"<= {TARGET_BYTES:g} B",
      r.bytes_per_entry <= TARGET_BYTES)
    p("    entries (all topics; 90% split)", f"{r.entries:,}; {r.entries_held:,}")
    p("    snapshot bytes per learned token", f"{r.snapshot_bytes / max(1, r.tokens):.1f} B")
    p("    learn wall (both memories)", f"{r.learn_s:.2f} s")
    p("    evaluation wall (proposals)",
      f"{r.eval_s:.2f} s")
    p("    proposals per second",
      f"{(r.recall.total + r.held.total) / r.eval_s:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="",
                        help="comma-separated context depths, e.g. 4,5,6,7 (default: the "
                             "configured default)")
    parser.add_argument("--per-context", type=int, default=None,
                        help="tokens kept per context (default: the configured default)")
    args = parser.parse_args()
    if args.per_context is not None and args.per_context < 1:
        parser.error("--per-context takes a whole number of at least 1")
    try:
        depths: list[int | None] = [int(d) for d in args.depths.split(",") if d.strip()] or [None]
    except ValueError:
        parser.error(f"--depths takes whole numbers separated by commas, not {args.depths!r}")
    for d in depths:
        if d is not None and not 1 <= d <= 7:
            parser.error(f"a context depth is 1 to 7, not {d}")
    atlas = benchlib.atlas_root()
    texts = [text for _, text in benchlib.pydoc_topics()]
    print(benchlib.machine_line("recall benchmark", "deterministic, one run"))
    print(f" corpus pydoc_data.topics: {len(texts)} topics, "
          f"{benchlib.utf8_bytes(texts) / 1e6:.2f} MB UTF-8; tokens kept per context: "
          f"{benchlib.settings(per_context=args.per_context).per_context}")
    results = []
    for d in depths:
        r = measure(d, texts, atlas, args.per_context)
        report(r, texts)
        results.append(r)
    if len(results) > 1:
        print(" depth sweep (held-out leaves out first tokens; bigram = MFF / MRF):")
        print(f"  {'depth':>5} {'recall':>8} {'held-out':>9} {'bigram':>15} {'entries':>11} "
              f"{'B/entry':>8} {'learn s':>8} {'eval s':>7}")
        for r in results:
            print(f"  {r.depth:>5} {r.recall.all:>8.4f} {r.held.rest:>9.4f} "
                  f"{r.mff:>7.4f}/{r.mrf:.4f} {r.entries:>11,} {r.bytes_per_entry:>8.2f} "
                  f"{r.learn_s:>8.2f} {r.eval_s:>7.2f}")
    print(benchlib.machine_line("done", "deterministic, one run"))


if __name__ == "__main__":
    main()
