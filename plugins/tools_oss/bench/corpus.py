"""Local browser corpus: index build rate, no-change refresh, and search latency vs a scan.

Writes --files synthetic Markdown pages, builds the FTS5 index, refreshes it with nothing
changed, then times --queries searches against the peer a corpus without an index would need:
reading every file and ranking by how often the query's words occur. Medians of --runs.

    .venv/bin/python plugins/tools_oss/bench/corpus.py [--files 2000] [--queries 50] [--runs 5]
"""

import argparse
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from gyrosi_tools_oss.corpus import Corpus

WORDS = [f"w{i}" for i in range(5000)]


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scan(root: Path, query: str, limit: int) -> list[str]:
    words = re.findall(r"\w+", query.lower())
    scores = []
    for path in root.rglob("*.md"):
        text = path.read_text(encoding="utf-8").lower()
        score = sum(text.count(w) for w in words)
        if score:
            scores.append((score, path.name))
    return [name for _, name in sorted(scores, reverse=True)[:limit]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--words", type=int, default=300, help="words per page")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("GYROSI_HOME", tempfile.mkdtemp(prefix="gyrosi-bench-"))
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="gyrosi-corpus-") as folder:
        root = Path(folder) / "corpus"
        root.mkdir()
        for i in range(args.files):
            body = " ".join(rng.choice(WORDS) for _ in range(args.words))
            (root / f"page{i}.md").write_text(f"# Page {i}\n\n{body}\n", encoding="utf-8")
        index = Path(folder) / "index.sqlite"
        start = time.perf_counter()
        corpus = Corpus(root, index)
        corpus.refresh()
        build = time.perf_counter() - start
        refresh = median_time(corpus.refresh, args.runs)
        queries = [" ".join(rng.choice(WORDS) for _ in range(3)) for _ in range(args.queries)]

        def fts() -> None:
            for q in queries:
                corpus.search(q, 10)

        def naive() -> None:
            for q in queries:
                scan(root, q, 10)

        fts_s = median_time(fts, args.runs) / args.queries
        scan_s = median_time(naive, max(1, args.runs // 2)) / args.queries
        corpus.close()
    print(f"corpus: {args.files} Markdown pages of {args.words} words")
    print(f"index build: {build:.2f} s ({args.files / build:.0f} files/s)")
    print(f"refresh, nothing changed: {refresh * 1000:.1f} ms (median of {args.runs})")
    print(f"search (FTS5, top 10): {fts_s * 1000:.2f} ms/query")
    print(f"peer, scan every file: {scan_s * 1000:.2f} ms/query")
    print(f"ratio scan / FTS5: {scan_s / fts_s:.0f}x")


if __name__ == "__main__":
    main()
