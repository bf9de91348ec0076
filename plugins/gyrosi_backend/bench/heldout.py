"""Held-out next-token accuracy: the GyroSI engine beside Kneser-Ney and longest-suffix models.

    python plugins/gyrosi_backend/bench/heldout.py [--corpus pydoc|licences|man|all]
                                                   [--limit-mb MB] [--json]
    python plugins/gyrosi_backend/bench/heldout.py --train DIR --test DIR [--json]

Every model sees the same o200k token streams (`engine.message_pieces`: each document's tokens
closed by `<|end|>`) and the same split by document, and is scored by top-1 accuracy on every test
position but a document's first token (nothing precedes it). The engine is scored as `recall.py`
scores it: learn the training documents into an empty memory, then walk each test document from
`engine.start()`, proposing at each position and going on with the true token.

Beside it, written here with numpy (no learned weights, deterministic; ties go to the follower
seen first in the training text); each training document is preceded by a document-start token,
and no context crosses a document boundary:
- most-frequent-follower bigram (`recall.bigram_scores`);
- Kneser-Ney 3-gram and 5-gram: interpolated modified Kneser-Ney (Chen & Goodman 1998: three
  discounts per order from the counts of counts, continuation counts below the highest order,
  uniform below the unigram). Top-1 is the argmax of the KN probability over the tokens seen after
  the longest context (up to n-1 tokens) that has a follower in training, backing off one token at
  a time;
- longest suffix, in the manner of infini-gram (Liu et al. 2024): the longest context of up to 32
  tokens seen in training with a follower, then its most frequent follower; and the same with KN
  5-gram taking over where fewer than 5 tokens matched;
- oracle in context: the share of the engine's path-context proposals whose context held the true
  token among its candidates (the most the engine's choice could reach there), also as a share of
  all test positions; and the engine had it taken the most recent candidate.
Also the engine's recall on its training documents (learned text, all positions; every k-th
training document, k chosen for about 150,000 positions, all of them on pydoc).

Corpora (`--corpus`):
- pydoc: `pydoc_data.topics` in dict order, the first 90% of topics learned (recall.py's split);
- licences: Debian's licence texts and the packages' copyright files (`/usr/share/common-licenses`,
  `/usr/share/doc/*/copyright`, sorted, duplicates dropped: `answers.licence_corpus`), each cut
  at 100 kB at a line end (a few copyright files are 2 MB), 3.5 MB in all;
- man: man pages of sections 1, 5 and 8 rendered by `man -P cat` (80 columns, name order, 2 MB),
  then the packages' changelogs, READMEs, NEWS and other text docs under `/usr/share/doc` (plain
  or gzip, sorted by path, up to 4 MB in all); each document cut at 100 kB at a line end.
The licence and man splits test every tenth document (10th, 20th, ...) and train on the rest.
`--limit-mb` caps the bytes of a built corpus (licences, man). Target: engine >= KN 5-gram.
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))
import benchlib  # noqa: E402
import recall  # noqa: E402
from answers import licence_corpus  # noqa: E402

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

LICENCE_MB = 3.5
MAN_MB = 4.0
MAN_PAGES_MB = 2.0
DOC_CAP = 100_000  # bytes of one man/doc document, so no single changelog dominates
MAX_CONTEXT = 32  # the longest-suffix model's deepest context
SUFFIX_WITH_KN = 5  # below this many matched tokens, the combined model takes KN 5-gram's answer
TEST_EVERY = 10
RECALL_TOKENS = 150_000  # recall is measured on every k-th training document, about this many


# --- corpora ------------------------------------------------------------------------------------


def _cut(text: str, cap: int = DOC_CAP) -> str:
    if len(text.encode()) <= cap:
        return text
    head = text.encode()[:cap].decode(errors="ignore")
    return head[: head.rfind("\n") + 1] or head


def _render_man(path: Path) -> str:
    env = {"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    run = subprocess.run(["man", "-P", "cat", "-l", str(path)], capture_output=True, text=True,
                         env=env, timeout=60, errors="replace")
    return run.stdout if run.returncode == 0 else ""


def man_corpus(cap: int) -> list[tuple[str, str]]:
    """(name, text): rendered man pages up to half the cap (at most 2 MB), then the packages'
    text docs under /usr/share/doc up to the cap."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    total = 0
    page_cap = min(cap // 2, int(MAN_PAGES_MB * 1e6))
    pages = sorted(p for section in ("man1", "man5", "man8")
                   for p in Path("/usr/share/man", section).glob("*.gz") if p.is_file())
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for start in range(0, len(pages), 16):
            batch = pages[start:start + 16]
            for path, text in zip(batch, pool.map(_render_man, batch), strict=True):
                text = _cut(text)
                if len(text) < 500 or text in seen:
                    continue
                seen.add(text)
                out.append((f"man {path.name.removesuffix('.gz')}", text))
                total += len(text.encode())
            if total >= page_cap:
                break
    docs = sorted(p for p in Path("/usr/share/doc").rglob("*")
                  if p.is_file() and not p.is_symlink() and p.name != "copyright"
                  and re.match(r"(changelog|readme|news|todo|.*\.(txt|md|rst))",
                               p.name.lower()))
    for path in docs:
        if total >= cap:
            break
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            text = _cut(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, gzip.BadGzipFile, EOFError):
            continue
        if len(text) < 200 or text in seen:
            continue
        seen.add(text)
        out.append((str(path), text))
        total += len(text.encode())
    return out


def licence_docs(cap: int) -> list[tuple[str, str]]:
    """(path, text) of `answers.licence_corpus`'s documents, each cut at 100 kB (a few packages'
    copyright files are 2 MB and would be most of the corpus), up to `cap` bytes."""
    out: list[tuple[str, str]] = []
    total = 0
    for path, _, text in licence_corpus(cap=1 << 40):
        if total >= cap:
            break
        text = _cut(text)
        out.append((path, text))
        total += len(text.encode())
    return out


def dir_corpus(root: Path) -> list[tuple[str, str]]:
    """(relative path, text) of every UTF-8 file under `root`, sorted by path."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if text.strip():
            out.append((str(path.relative_to(root)), text))
    return out


def split_every(docs: list[tuple[str, str]], every: int = TEST_EVERY
                ) -> tuple[list[str], list[str]]:
    """(train, test) texts: every `every`-th document tested, the rest learned."""
    train = [text for i, (_, text) in enumerate(docs) if i % every != every - 1]
    test = [text for i, (_, text) in enumerate(docs) if i % every == every - 1]
    return train, test


def corpus_split(name: str, limit_mb: float | None) -> tuple[list[str], list[str], str]:
    """(train texts, test texts, description) of a named corpus."""
    if name == "pydoc":
        texts = [text for _, text in benchlib.pydoc_topics()]
        cut = int(len(texts) * recall.TRAIN_SHARE)
        return texts[:cut], texts[cut:], "pydoc_data.topics, recall.py's split"
    if name == "licences":
        train, test = split_every(licence_docs(int((limit_mb or LICENCE_MB) * 1e6)))
        return train, test, "licence texts + packages' copyright files"
    cap = int((limit_mb or MAN_MB) * 1e6)
    train, test = split_every(man_corpus(cap))
    return train, test, "man pages, changelogs and package docs"


# --- n-gram baselines ---------------------------------------------------------------------------


class Ngrams:
    """Every n-gram type of the training streams up to `max_order`, and the ids of the test
    streams' n-grams in the same numbering, built one order at a time with sorting only.

    Tokens are renumbered densely (0..V-2) and V-1 is the document start, put before every
    document. The id of the k-gram ending at position p is the rank of (id of the (k-1)-gram
    ending at p-1) * V + token[p] among the training k-grams; -1 where the k-gram would reach
    before its document's start (or, in the test, was never seen in training)."""

    def __init__(self, train: Sequence[Sequence[int]], test: Sequence[Sequence[int]]) -> None:
        flat = [np.asarray(s, dtype=np.int64) for s in (*train, *test)]
        self.vocab, dense = np.unique(np.concatenate(flat) if flat else np.zeros(0, np.int64),
                                      return_inverse=True)
        self.V = len(self.vocab) + 1
        self.bos = self.V - 1
        cut = sum(len(s) for s in train)
        self.train, self.train_start = self._with_starts(dense[:cut], [len(s) for s in train])
        self.test, self.test_start = self._with_starts(dense[cut:], [len(s) for s in test])
        # the scored test positions: a token whose predecessor is a token, not the start
        prev_start = np.zeros(len(self.test), dtype=bool)
        prev_start[1:] = self.test_start[:-1]
        self.targets = np.flatnonzero(~self.test_start & ~prev_start)
        self.truth = self.test[self.targets]

    def _with_starts(self, tokens: Ints, lengths: list[int]) -> tuple[Ints, npt.NDArray[np.bool_]]:
        starts = np.cumsum([0, *lengths[:-1]]).astype(np.int64) + np.arange(len(lengths))
        out = np.full(len(tokens) + len(lengths), self.bos, dtype=np.int64)
        is_start = np.zeros(len(out), dtype=bool)
        is_start[starts] = True
        out[~is_start] = tokens
        return out, is_start

    def orders(self, max_order: int, prune_after: int = 0) -> Iterator[tuple[int, "Order"]]:
        """Yield (k, Order) for k = 1..max_order. Above order `prune_after` (when > 0), training
        k-grams that never occur in the test are dropped: their extensions cannot match either,
        and the longest-suffix model needs nothing else."""
        train_ids = test_ids = np.zeros(0, dtype=np.int64)
        for k in range(1, max_order + 1):
            if k == 1:
                train_keys, test_keys = self.train.copy(), self.test.copy()
            else:
                train_keys = _extend(train_ids, self.train, self.train_start, self.V)
                test_keys = _extend(test_ids, self.test, self.test_start, self.V)
            valid = np.flatnonzero(train_keys >= 0)
            keys, first, inverse, counts = np.unique(train_keys[valid], return_index=True,
                                                     return_inverse=True, return_counts=True)
            prev_train = train_ids
            train_ids = np.full(len(train_keys), -1, dtype=np.int64)
            train_ids[valid] = inverse
            test_ids = _lookup(keys, test_keys)
            order = Order(keys, counts, valid[first], prev_train, train_ids, test_ids, self.V)
            yield k, order
            if prune_after and k >= prune_after:
                dead = ~np.isin(train_ids, test_ids[test_ids >= 0])
                train_ids[dead] = -1

    def predictions_by_context(self, best: list[Ints], test_ids: dict[int, Ints]
                               ) -> tuple[Ints, Ints]:
        """(prediction, context length used) per target: `best[m]` maps each m-token context id
        (m >= 1; best[0] is a one-element array for the empty context) to its answer or -1,
        `test_ids[m]` gives the test's m-gram ids; the longest context with an answer wins."""
        pred = np.full(len(self.targets), best[0][0], dtype=np.int64)
        used = np.zeros(len(self.targets), dtype=np.int64)
        for m in range(1, len(best)):
            ctx = test_ids[m][self.targets - 1]
            ok = np.flatnonzero(ctx >= 0)
            answer = best[m][ctx[ok]]
            has = answer >= 0
            pred[ok[has]] = answer[has]
            used[ok[has]] = m
        return pred, used

    def original(self, dense: Ints) -> Ints:
        """Dense token numbers back to the caller's ids (-1 and the start stay -1)."""
        ok = (dense >= 0) & (dense < len(self.vocab))
        return np.where(ok, self.vocab[np.where(ok, dense, 0)], -1)


@dataclass
class Order:
    """The training k-gram types of one order (sorted by key) and the ids at each position."""

    keys: Ints  # (k-1)-gram id * V + last token; for k = 1 the token
    counts: Ints
    first: Ints  # the position where each type first ends
    prev_train: Ints  # ids of the (k-1)-grams per training position
    train_ids: Ints
    test_ids: Ints
    V: int

    @property
    def history(self) -> Ints:
        return self.keys // self.V

    @property
    def word(self) -> Ints:
        return self.keys % self.V


def _extend(prev: Ints, tokens: Ints, is_start: npt.NDArray[np.bool_], V: int) -> Ints:
    keys = np.full(len(tokens), -1, dtype=np.int64)
    ok = np.flatnonzero(~is_start[1:] & (prev[:-1] >= 0)) + 1
    keys[ok] = prev[ok - 1] * V + tokens[ok]
    return keys


def _lookup(keys: Ints, wanted: Ints) -> Ints:
    at = np.searchsorted(keys, wanted)
    at_ok = np.minimum(at, max(len(keys) - 1, 0))
    found = (wanted >= 0) & (at < len(keys))
    if len(keys):
        found &= keys[at_ok] == wanted
    return np.where(found, at, -1)


def _best_per_history(history: Ints, word: Ints, score: Floats | Ints, first: Ints,
                      n_histories: int) -> Ints:
    """Per history id, the word of its highest score (ties: first seen); -1 without one."""
    best = np.full(n_histories, -1, dtype=np.int64)
    if len(history):
        order = np.lexsort((first, -score, history))
        h = history[order]
        lead = np.ones(len(h), dtype=bool)
        lead[1:] = h[1:] != h[:-1]
        best[h[lead]] = word[order][lead]
    return best


def _discounts(counts: Ints) -> tuple[float, float, float]:
    """Chen & Goodman's D1, D2, D3+ from the counts of counts (0.5 each if they are degenerate)."""
    n = [int(np.count_nonzero(counts == j)) for j in (1, 2, 3, 4)]
    if min(n) == 0:
        return 0.5, 0.5, 0.5
    y = n[0] / (n[0] + 2 * n[1])
    d1, d2, d3 = (max(0.0, min(float(j), j - (j + 1) * y * n[j] / n[j - 1])) for j in (1, 2, 3))
    return d1, d2, d3


def kneser_ney(grams: Ngrams, n: int) -> tuple[Ints, Ints]:
    """Interpolated modified Kneser-Ney of order `n`: (top-1 per target, dense ids; context
    length used), the argmax over the followers of the longest context seen with one."""
    orders = [o for _, o in grams.orders(n)]
    # whether each type begins with the document start (the k-gram ending at p begins at p-k+1)
    starts_bos = [grams.train_start[o.first - back] for back, o in enumerate(orders)]
    prob: Floats = np.zeros(0)
    best: list[Ints] = []
    for k, o in enumerate(orders, start=1):
        if k == n:
            c = o.counts.astype(np.float64)
        else:  # continuation count: distinct tokens seen before, or the raw count after a start
            cont = np.bincount(orders[k].prev_train[orders[k].first], minlength=len(o.keys))
            c = np.where(starts_bos[k - 1], o.counts, cont).astype(np.float64)
        if k == 1:
            c[o.keys == grams.bos] = 0  # the start is never predicted
        d1, d2, d3 = _discounts(c.astype(np.int64))
        disc = np.select([c == 0, c == 1, c == 2], [0.0, d1, d2], d3)
        hist = o.history if k > 1 else np.zeros(len(o.keys), dtype=np.int64)
        n_hist = len(orders[k - 2].keys) if k > 1 else 1
        total = np.bincount(hist, weights=c, minlength=n_hist)
        mass = np.bincount(hist, weights=disc, minlength=n_hist)
        gamma = mass / np.maximum(total, 1e-300)
        direct = np.maximum(c - disc, 0) / np.maximum(total[hist], 1e-300)
        lower = (np.full(len(c), 1.0 / (grams.V - 1)) if k == 1
                 else prob[orders[k - 2].train_ids[o.first]])
        prob = direct + gamma[hist] * lower
        if k == 1:
            prob[o.keys == grams.bos] = -1.0
        best.append(_best_per_history(hist, o.word, prob, o.first, n_hist))
    return grams.predictions_by_context(best, {k: o.test_ids for k, o in enumerate(orders, 1)})


def longest_suffix(grams: Ngrams, max_context: int = MAX_CONTEXT) -> tuple[Ints, Ints]:
    """(top-1 per target, dense ids; context length matched): the most frequent follower of the
    longest context of up to `max_context` tokens seen in training with a follower."""
    best: list[Ints] = []
    test_ids: dict[int, Ints] = {}
    n_prev = 1
    for k, o in grams.orders(max_context + 1, prune_after=SUFFIX_WITH_KN):
        hist = o.history if k > 1 else np.zeros(len(o.keys), dtype=np.int64)
        counts = np.where(o.keys == grams.bos, -1, o.counts) if k == 1 else o.counts
        best.append(_best_per_history(hist, o.word, counts, o.first, n_prev))
        test_ids[k] = o.test_ids
        n_prev = len(o.keys)
    return grams.predictions_by_context(best, test_ids)


def bigram_top1(train: list[list[int]], test: list[list[int]]) -> float:
    return recall.bigram_scores(train, test)[0]


@dataclass
class Baselines:
    positions: int
    bigram: float
    kn3: float
    kn5: float
    suffix: float
    suffix_kn5: float
    suffix_mean_match: float
    seconds: float


def baselines(train: list[list[int]], test: list[list[int]]) -> Baselines:
    t = time.perf_counter()
    grams = Ngrams(train, test)
    kn3, _ = kneser_ney(grams, 3)
    kn5, _ = kneser_ney(grams, 5)
    suffix, matched = longest_suffix(grams)
    combined = np.where(matched >= SUFFIX_WITH_KN, suffix, kn5)

    def acc(pred: Ints) -> float:
        return float(np.mean(pred == grams.truth)) if len(pred) else 0.0

    return Baselines(len(grams.targets), bigram_top1(train, test), acc(kn3), acc(kn5), acc(suffix),
                     acc(combined), float(matched.mean()) if len(matched) else 0.0,
                     time.perf_counter() - t)


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class EngineFigures:
    held_out: float  # first tokens left out
    held_all: float
    recency: float  # all positions, had the most recent candidate been taken
    oracle: float  # among path-context proposals, the true token among the candidates
    oracle_all: float  # the same as a share of all positions (comparable with top-1)
    from_path: float
    recall: float  # training documents (every k-th, see RECALL_TOKENS), all positions
    recall_positions: int
    learn_s: float
    eval_s: float


@dataclass(frozen=True)
class Variant:
    """Which engine is measured: the selection rule, physics tie-breaks, context depth."""

    rule: str = "evidence"
    physics_ties: bool = True
    continuation: bool = False
    orbit: bool = True
    deepest_only: bool = True
    chain: bool = True
    depth: int | None = None  # None: the default
    per_context: int | None = None  # None: the default


def run_engine(train_texts: list[str], test_texts: list[str], atlas: Path,
               variant: Variant = Variant()
               ) -> tuple[EngineFigures, list[list[int]], list[list[int]]]:
    from gyrosi_engine.engine import Engine

    with benchlib.temp_home(atlas) as home:
        engine = Engine(benchlib.settings(depth=variant.depth,
                                                  per_context=variant.per_context), home=home)
        engine.generator.rule = variant.rule
        engine.generator.physics_ties = variant.physics_ties
        engine.generator.continuation = variant.continuation
        engine.generator.orbit_evidence = variant.orbit
        engine.generator.deepest_only = variant.deepest_only
        engine.generator.chain = variant.chain
        train = recall.streams(engine, train_texts)
        test = recall.streams(engine, test_texts)
        t = time.perf_counter()
        engine.learn_texts(train_texts)
        engine.memory.compact()  # as `gyrosi learn` ends: the caps apply here
        learn_s = time.perf_counter() - t
        t = time.perf_counter()
        held = recall.engine_score(engine, test)
        every = max(1, round(sum(map(len, train)) / RECALL_TOKENS))
        learned = recall.engine_score(engine, train[::every])
        eval_s = time.perf_counter() - t
    figures = EngineFigures(
        held.rest, held.all, held.recency / max(1, held.total),
        held.oracle / max(1, held.from_path), held.oracle / max(1, held.total),
        held.from_path / max(1, held.total),
        learned.all, learned.total, learn_s, eval_s)
    return figures, train, test


# --- report -------------------------------------------------------------------------------------


def measure(label: str, train_texts: list[str], test_texts: list[str], atlas: Path,
            variant: Variant = Variant()) -> dict[str, Any]:
    engine, train, test = run_engine(train_texts, test_texts, atlas, variant)
    base = baselines(train, test)
    return {
        "corpus": label,
        "train_documents": len(train_texts), "test_documents": len(test_texts),
        "train_mb": round(benchlib.utf8_bytes(train_texts) / 1e6, 3),
        "test_mb": round(benchlib.utf8_bytes(test_texts) / 1e6, 3),
        "train_tokens": sum(map(len, train)),
        "engine": asdict(engine), "variant": asdict(variant), "baselines": asdict(base),
        "target_met": engine.held_out >= base.kn5,
    }


def report(r: dict[str, Any]) -> None:
    e, b = r["engine"], r["baselines"]
    p = benchlib.print_line
    print(f" {r['corpus']}: learn {r['train_documents']} documents ({r['train_mb']:.2f} MB, "
          f"{r['train_tokens']:,} tokens), test {r['test_documents']} ({r['test_mb']:.2f} MB, "
          f"{b['positions']:,} positions)")
    p("engine, held-out top-1 (first tokens left out)", f"{e['held_out']:.4f}",
      f">= KN 5-gram {b['kn5']:.4f}", e["held_out"] >= b["kn5"])
    p("  engine, all positions", f"{e['held_all']:.4f}")
    p("  engine, most recent candidate only", f"{e['recency']:.4f}")
    p("  oracle in context (path proposals)", f"{e['oracle']:.4f}")
    p("  oracle in context (all positions)", f"{e['oracle_all']:.4f}")
    p("  share proposed from a path context", f"{e['from_path']:.3f}")
    p("most-frequent-follower bigram", f"{b['bigram']:.4f}")
    p("Kneser-Ney 3-gram", f"{b['kn3']:.4f}")
    p("Kneser-Ney 5-gram", f"{b['kn5']:.4f}")
    p(f"longest suffix (<= {MAX_CONTEXT} tokens)", f"{b['suffix']:.4f}")
    p(f"  ... KN 5-gram below {SUFFIX_WITH_KN} matched tokens", f"{b['suffix_kn5']:.4f}")
    p("  mean context matched", f"{b['suffix_mean_match']:.2f} tokens")
    p("engine recall on the training documents", f"{e['recall']:.4f}")
    p("  positions walked for recall", f"{e['recall_positions']:,}")
    p("  learn / engine evaluation / baselines wall",
      f"{e['learn_s']:.0f}/{e['eval_s']:.0f}/{b['seconds']:.0f} s")


def table(results: list[dict[str, Any]]) -> None:
    print(" held-out top-1, first tokens left out (target: engine >= KN 5-gram); oracle: the true "
          "token among the engine's candidates, share of all positions:")
    cols = ("engine", "recent", "oracle", "bigram", "KN-3", "KN-5", "suffix", "suffix+KN5",
            "recall")
    print(f"  {'corpus':<44} {'test pos':>8} " + " ".join(f"{c:>10}" for c in cols))
    for r in results:
        e, b = r["engine"], r["baselines"]
        values = (e["held_out"], e["recency"], e["oracle_all"], b["bigram"], b["kn3"], b["kn5"],
                  b["suffix"], b["suffix_kn5"], e["recall"])
        print(f"  {r['corpus'][:44]:<44} {b['positions']:>8,} "
              + " ".join(f"{v:>10.4f}" for v in values)
              + f"  {benchlib.verdict(r['target_met'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("pydoc", "licences", "man", "all"), default="all")
    parser.add_argument("--limit-mb", type=float, default=None,
                        help=f"bytes of a built corpus, in MB (default: licences {LICENCE_MB}, "
                             f"man {MAN_MB})")
    parser.add_argument("--train", type=Path, help="a folder of training documents")
    parser.add_argument("--test", type=Path, help="a folder of test documents")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--rule", choices=("evidence", "admissible", "recent"),
                        default="evidence", help="the engine's selection rule (generate.py)")
    parser.add_argument("--no-physics-ties", action="store_true",
                        help="break the evidence rule's ties by recency alone")
    parser.add_argument("--continuation", action="store_true",
                        help="the evidence rule weighs continuation counts below the deepest "
                             "context (Kneser-Ney's)")
    parser.add_argument("--no-orbit", action="store_true",
                        help="the evidence rule leaves the orbit's tokens out of the weighing")
    parser.add_argument("--union", action="store_true",
                        help="the evidence rule chooses among every weighed token, not only the "
                             "deepest context's")
    parser.add_argument("--no-chain", action="store_true",
                        help="never follow the learned stream (the address chain)")
    parser.add_argument("--depth", type=int, help="the engine's context depth (default: its own)")
    parser.add_argument("--per-context", type=int,
                        help="tokens kept per context (default: the engine's own)")
    args = parser.parse_args()
    if (args.train is None) != (args.test is None):
        parser.error("--train and --test go together")
    if args.limit_mb is not None and args.limit_mb <= 0:
        parser.error("--limit-mb takes a positive number of megabytes")
    splits: list[tuple[str, list[str], list[str]]] = []
    if args.train is not None:
        for folder in (args.train, args.test):
            if not folder.is_dir():
                parser.error(f"{folder} is not a folder")
        train = [t for _, t in dir_corpus(args.train)]
        test = [t for _, t in dir_corpus(args.test)]
        if not train or not test:
            parser.error("--train and --test each need at least one UTF-8 text file")
        splits.append((f"{args.train} / {args.test}", train, test))
    else:
        names = ("pydoc", "licences", "man") if args.corpus == "all" else (args.corpus,)
        for name in names:
            train, test, what = corpus_split(name, args.limit_mb)
            splits.append((f"{name}: {what}", train, test))
    atlas = benchlib.atlas_root()
    if not args.json:
        print(benchlib.machine_line("held-out benchmark", "deterministic, one run"))
        print(f" engine: rule {args.rule}, physics ties {'off' if args.no_physics_ties else 'on'}"
              f", continuation counts {'on' if args.continuation else 'off'}"
              f", orbit level {'off' if args.no_orbit else 'on'}"
              f", {'every weighed token' if args.union else 'deepest context tokens'}"
              f", address chain {'off' if args.no_chain else 'on'}"
              f", depth {args.depth or 'default'}, per context {args.per_context or 'default'}")
    results = []
    for label, train, test in splits:
        r = measure(label, train, test, atlas,
                    Variant(args.rule, not args.no_physics_ties, args.continuation,
                            not args.no_orbit, not args.union, not args.no_chain, args.depth,
                            args.per_context))
        results.append(r)
        if not args.json:
            report(r)
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    else:
        table(results)


if __name__ == "__main__":
    main()
