"""The held-out benchmark's baselines on tiny hand-made splits: Kneser-Ney backs off and counts
continuations, the longest-suffix model follows the longest seen context."""

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "heldout.py"


@pytest.fixture(scope="module")
def heldout() -> ModuleType:
    # bench/ is a folder of scripts, not a package: load the script from its path
    spec = importlib.util.spec_from_file_location("gyrosi_bench_heldout", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def predict(heldout: ModuleType, train: list[list[int]], test: list[list[int]], model: str,
            order: int = 5) -> tuple[list[int], list[int]]:
    """(top-1 per scored test position, in the callers' ids; context length used)."""
    grams = heldout.Ngrams(train, test)
    if model == "suffix":
        pred, used = heldout.longest_suffix(grams)
    else:
        pred, used = heldout.kneser_ney(grams, order)
    return grams.original(pred).tolist(), used.tolist()


def test_scored_positions_leave_out_each_documents_first_token(heldout: ModuleType) -> None:
    grams = heldout.Ngrams([[1, 2, 3]], [[4, 5, 6], [7, 8]])
    assert grams.original(grams.truth).tolist() == [5, 6, 8]


def test_longest_suffix_follows_the_longest_seen_context(heldout: ModuleType) -> None:
    # "2 3" is followed by 9 twice and by 4 once; only after "1 2 3" does 4 come
    train = [[1, 2, 3, 4], [8, 2, 3, 9], [7, 2, 3, 9]]
    pred, used = predict(heldout, train, [[5, 1, 2, 3, 4]], "suffix")
    assert pred[-1] == 4 and used[-1] == 3
    # a 3-gram model sees only "2 3" and takes the more frequent follower
    kn3, used3 = predict(heldout, train, [[5, 1, 2, 3, 4]], "kn", order=3)
    assert kn3[-1] == 9 and used3[-1] == 2
    # a context never seen in full: the longest seen suffix ("2 3") decides
    pred, used = predict(heldout, train, [[6, 6, 2, 3, 9]], "suffix")
    assert pred[-1] == 9 and used[-1] == 2


def test_longest_suffix_reaches_past_five_tokens(heldout: ModuleType) -> None:
    phrase = [10, 11, 12, 13, 14, 15, 16]
    train = [[1, *phrase, 20], [2, *phrase, 21], [3, *phrase, 21]]
    test = [[1, *phrase, 20]]
    pred, used = predict(heldout, train, test, "suffix")
    assert pred[-1] == 20 and used[-1] == 9  # start, 1 and the phrase
    kn5, _ = predict(heldout, train, test, "kn")
    assert kn5[-1] == 21  # four tokens of the phrase cannot tell the documents apart


def test_kneser_ney_backs_off_to_the_longest_context_with_followers(heldout: ModuleType) -> None:
    train = [[1, 2, 3, 4, 5, 6], [7, 5, 8], [9, 5, 8]]
    # "1 2 3 4 5" seen: 6 follows; "0 0 0 4 5" is not, nor is "0 4 5", but "4 5" is
    pred, used = predict(heldout, train, [[1, 2, 3, 4, 5, 6], [0, 0, 0, 4, 5, 6]], "kn")
    assert pred[4] == 6 and used[4] == 4
    assert pred[-1] == 6 and used[-1] == 2
    # after a lone "5" (new left context) the more frequent follower 8 wins
    pred, used = predict(heldout, train, [[0, 5, 8]], "kn")
    assert pred == [5, 8] and used[-1] == 1
    # a token never seen in training leaves only the empty context: the unigram
    pred, used = predict(heldout, train, [[1, 99, 5]], "kn")
    assert used[-1] == 0


def test_kneser_ney_unigram_counts_distinct_predecessors(heldout: ModuleType) -> None:
    # 7 occurs four times, after 1 or 7 only; 8 three times, after three different tokens: with
    # continuation counts 8 is the likelier guess where nothing else is known
    train = [[1, 7, 1, 7, 1, 7, 7], [2, 8, 3, 8, 4, 8]]
    pred, used = predict(heldout, train, [[99, 98]], "kn", order=3)
    assert used == [0] and pred == [8]
    # the raw unigram frequency (the longest-suffix model's empty context) says 7
    pred, used = predict(heldout, train, [[99, 98]], "suffix")
    assert used == [0] and pred == [7]


def test_accuracy_of_each_baseline_on_a_small_split(heldout: ModuleType) -> None:
    train = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [7, 2, 3, 8]]
    test = [[1, 2, 3, 4, 5], [7, 2, 3, 8]]
    result = heldout.baselines(train, test)
    assert result.positions == 7
    assert result.suffix == 1.0 and result.kn5 == 1.0
    # the bigram table and KN 3-gram take 4 after "2 3" (twice against once) and miss the
    # second document's 8, which "7 2 3" tells
    assert result.bigram == pytest.approx(6 / 7)
    assert result.kn3 == pytest.approx(6 / 7)


def run_bench(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GYROSI_HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, str(BENCH), *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_any_split_as_json(built_home: Path, tmp_path: Path) -> None:
    train, test = tmp_path / "train", tmp_path / "test"
    train.mkdir()
    test.mkdir()
    words = ("copyright", "licence", "permission", "software", "notice", "warranty", "holder",
             "granted", "source", "binary", "forms", "without", "modification", "provided")
    for i, first in enumerate(("First", "Second", "Third")):
        draw = random.Random(i)
        text = " ".join(draw.choice(words) for _ in range(80))
        (train / f"doc{i}.txt").write_text(f"{first} document. {text}\n", encoding="utf-8")
    recited = (train / "doc1.txt").read_text(encoding="utf-8")
    (test / "again.txt").write_text(recited, encoding="utf-8")
    run = run_bench(built_home, "--train", str(train), "--test", str(test), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert (result["train_documents"], result["test_documents"]) == (3, 1)
    engine, base = result["engine"], result["baselines"]
    assert 0 <= engine["held_out"] <= 1 and 0 <= engine["recall"] <= 1
    assert engine["recall_positions"] == result["train_tokens"]  # small: every document walked
    # a learned document again: the longest seen context always names it
    assert base["suffix"] == 1.0
    assert result["target_met"] == (engine["held_out"] >= base["kn5"])


def test_bad_split_is_one_sentence(built_home: Path, tmp_path: Path) -> None:
    run = run_bench(built_home, "--train", str(tmp_path / "missing"), "--test", str(tmp_path))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].endswith("missing is not a folder")
    assert "Traceback" not in run.stderr
    run = run_bench(built_home, "--train", str(tmp_path))
    assert run.returncode == 2 and "--train and --test go together" in run.stderr
