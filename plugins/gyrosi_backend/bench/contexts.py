"""Which contexts predict held-out text: paths of boundary states (memory format 2's), or token
n-grams (format 3's)?

Both with exact occurrence counts (what issue 17's format change would keep per entry) and the
same two rules: the most frequent follower at the deepest context that has one, and interpolated
absolute discounting across depths 1..6 (D = 0.75, the shape of Kneser-Ney without continuation
counts). Same tokens and split as `recall.py` (learn the first 90% of the pydoc topics, predict
the rest, each topic's first token left out); no per-context cap. It measures what counts alone
could give the engine's contexts, before any store is changed.

    python plugins/gyrosi_backend/bench/contexts.py
"""

import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import benchlib  # noqa: E402
import recall  # noqa: E402

DISCOUNT = 0.75
Counts = dict[tuple[int, Hashable], Counter[int]]


def deepest(counts: Counts, keys: list[Hashable], depth: int) -> int | None:
    for d in range(depth, 0, -1):
        if c := counts.get((d, keys[d])):
            return c.most_common(1)[0][0]
    return None


def interpolated(counts: Counts, keys: list[Hashable], depth: int) -> int | None:
    p: dict[int, float] = {}
    for d in range(1, depth + 1):
        c = counts.get((d, keys[d]))
        if not c:
            continue
        total = sum(c.values())
        lam = DISCOUNT * len(c) / total
        p = {w: lam * pw for w, pw in p.items()}
        for w, cw in c.items():
            p[w] = p.get(w, 0.0) + max(cw - DISCOUNT, 0.0) / total
    return max(p, key=lambda w: (p[w], -w)) if p else None


def score(train: list[list[int]], test: list[list[int]], depth: int,
          walk: Callable[[list[int]], list[list[Hashable]]]) -> dict[str, float]:
    counts: Counts = defaultdict(Counter)
    for stream in train:
        for keys, token in zip(walk(stream), stream, strict=True):
            for d in range(1, depth + 1):
                counts[(d, keys[d])][token] += 1
    out = {}
    for name, rule in (("deepest, most frequent", deepest),
                       ("interpolated, discounted", interpolated)):
        hits = total = 0
        for stream in test:
            for i, (keys, token) in enumerate(zip(walk(stream), stream, strict=True)):
                if i:
                    total += 1
                    hits += rule(counts, keys, depth) == token
        out[name] = hits / total
    return out


def main() -> None:
    from gyrosi_engine.context import path_keys
    from gyrosi_engine.engine import Engine

    texts = [text for _, text in benchlib.pydoc_topics()]
    split = int(len(texts) * recall.TRAIN_SHARE)
    with benchlib.temp_home() as home:
        engine = Engine(benchlib.settings(), home=home)
        streams = recall.streams(engine, texts)
        depth = engine.memory.depth
        orbit_of = engine.atlas.phenomenology

        def state_paths(stream: list[int]) -> list[list[Hashable]]:
            at, out = engine.start(), []
            path = [at.state] * depth
            for token in stream:
                out.append(list(path_keys(path, int(orbit_of[path[-1]]))))
                at = engine.generator.advance(at, token)
                path = [at.state] * depth if at.fresh else path[1:] + [at.state]
            return out

        def token_grams(stream: list[int]) -> list[list[Hashable]]:
            return [[None] + [tuple(stream[max(0, i - d): i]) for d in range(1, depth + 1)]
                    for i in range(len(stream))]

        print(benchlib.machine_line("contexts", "pydoc topics, recall.py's split, exact counts"))
        for label, walk in (("paths of boundary states (format 2)", state_paths),
                            ("token n-grams (format 3)", token_grams)):
            print(f" contexts: {label}, depth 1..{depth}")
            for rule, value in score(streams[:split], streams[split:], depth, walk).items():
                benchlib.print_line(rule, f"{value:.4f}")


if __name__ == "__main__":
    main()
