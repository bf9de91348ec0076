"""The same input in the same order gives byte-identical memory, whatever the batch size, the
timing or when the delta is folded into a new base (issue 16): the per-context cap applies at
compaction, not where batches end. What is compared is the memory's export: the snapshot itself
also records its generation, which counts the folds."""

import random
import sysconfig
import time
from pathlib import Path

import pytest

from gyrosi_engine.engine import Engine
from gyrosi_engine.memory import store
from gyrosi_engine.settings import GyroConfig

CORPUS_BYTES = 10_000_000


def stdlib_texts(cap: int) -> list[tuple[str, str]]:
    """CPython's library sources in sorted path order, up to `cap` bytes: text nobody tuned to."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out, total = [], 0
    for path in sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        out.append((str(path.relative_to(root)), text))
        total += len(text.encode())
        if total >= cap:
            break
    return out


def learned_snapshot(root: Path, built_home: Path, texts: list[tuple[str, str]],
                     pause: float = 0.0) -> bytes:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "atlas").symlink_to(built_home / "atlas")
    engine = Engine(GyroConfig(starter=False), home=home)
    draw = random.Random(len(str(root)))

    def slow(_: int) -> None:  # a consumer that falls behind at random: other thread timings
        time.sleep(draw.random() * pause)

    engine.learn_texts(texts, on_batch=slow if pause else None)
    engine.close()
    engine.memory.export(root / "export.gsm")
    return (root / "export.gsm").read_bytes()


def test_batch_size_and_timing_do_not_change_the_memory(
        tmp_path: Path, built_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = stdlib_texts(CORPUS_BYTES)
    assert sum(len(t.encode()) for _, t in texts) >= CORPUS_BYTES
    runs = []
    folds = []
    for n, (batch, pause, fold) in enumerate([(1 << 18, 0.0, 1 << 30), (1 << 16, 0.0, 1 << 20),
                                             (1 << 20, 0.0, 3 << 20), (1 << 17, 0.05, 1 << 22)]):
        monkeypatch.setattr(store, "BATCH_TOKENS", batch)
        monkeypatch.setattr(store, "FOLD_MIN_ROWS", fold)
        monkeypatch.setattr(store, "FOLD_MAX_ROWS", fold)
        runs.append(learned_snapshot(tmp_path / str(n), built_home, texts, pause))
        folds.append(Engine(GyroConfig(starter=False), home=tmp_path / str(n) / "home"
                            ).memory.generation)
    assert len(runs[0]) > 1_000_000
    assert all(r == runs[0] for r in runs[1:])
    assert folds[0] < folds[1] and len(set(folds)) > 2  # folded at different points
