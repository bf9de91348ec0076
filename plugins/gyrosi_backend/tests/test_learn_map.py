"""Parallel and distributed learning (issue 16): the same inputs in the same order give
byte-identical memory with one worker, several local workers, worker processes or a Dask
`LocalCluster` on loopback, through the engine and through `gyrosi learn`; the CLI's document
order is the documented one; a scheduler that cannot be reached is one sentence."""

import os
import shutil
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gyrosi_engine.engine import Engine
from gyrosi_engine.learn import CHUNK_CHARS
from gyrosi_engine.learn_map import DaskMapper, LocalMapper, Mapper
from gyrosi_engine.memory import store
from gyrosi_engine.memory.mark import MARK
from gyrosi_engine.settings import GyroConfig

Cli = Any
Kit = Any  # conftest.MemoryKit


def stdlib_texts(cap: int) -> list[tuple[str, str]]:
    """CPython's library sources in sorted path order, up to `cap` bytes."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out, total = [], 0
    for path in sorted(p for p in (root / "json").rglob("*.py")) + \
            sorted(p for p in (root / "email").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        out.append((str(path.relative_to(root)), text))
        total += len(text.encode())
        if total >= cap:
            break
    return out


def memory_files(home: Path) -> dict[str, bytes]:
    root = home / "memory"
    return {name: (root / name).read_bytes()
            for name in (store.SNAPSHOT, store.JOURNAL, MARK) if (root / name).exists()}


def learn_with(root: Path, built_home: Path, texts: list[Any],
               mapper: Callable[[], Mapper | None]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The memory files after learning (the journal of every batch) and after compaction."""
    home = root / "home"
    home.mkdir(parents=True)
    (home / "atlas").symlink_to(built_home / "atlas")
    engine = Engine(GyroConfig(starter=False), home=home)
    chosen = mapper()
    try:
        engine.learn_texts(texts, mapper=chosen)
        # a message continued from a path mid-message (not fresh), across several batches
        more = np.asarray(engine.encode("and so it went on " * 2000), dtype=np.int64)
        at = engine.memory.learn(more[:7], engine.start())
        engine.memory.learn_stream([more], at, mapper=chosen)
    finally:
        if chosen is not None:
            chosen.close()
    learned = memory_files(home)
    engine.close()
    return learned, memory_files(home)


def test_workers_processes_and_a_local_cluster_learn_the_same_bytes(
        tmp_path: Path, built_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # small batches: many of them, most starting mid-message; a document longer than a
    # tokenising chunk; an empty and an unnamed message
    monkeypatch.setattr(store, "BATCH_TOKENS", 1 << 12)
    texts: list[Any] = stdlib_texts(300_000)
    texts += [("long", "A line of a long document, said again.\n" * (CHUNK_CHARS // 20)), "",
              "an unnamed message"]
    mappers: dict[str, Callable[[], Mapper | None]] = {
        "one": lambda: None,
        "threads": lambda: LocalMapper(2),
        "processes": lambda: LocalMapper(3, processes=True),
        "dask": lambda: DaskMapper("local", workers=2),
    }
    workers_own = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")  # Dask's nanny sets them
    environ = {key: os.environ.get(key) for key in workers_own}
    runs = {name: learn_with(tmp_path / name, built_home, texts, make)
            for name, make in mappers.items()}
    assert {key: os.environ.get(key) for key in workers_own} == environ  # they stay its workers'
    learned, compacted = runs["one"]
    assert len(learned[store.JOURNAL]) > 500_000  # every batch is in the journal
    assert len(compacted[store.SNAPSHOT]) > 1_000_000
    for name, run in runs.items():
        assert run == runs["one"], name


def test_a_mapper_stopped_early_cancels_its_work() -> None:
    with LocalMapper(2) as mapper:
        results = mapper.imap(pow, range(1000), lambda i: (i, 2))
        assert [next(results) for _ in range(3)] == [(0, 0), (1, 1), (2, 4)]
        results.close()  # the pending tasks are cancelled, none is left running


def test_the_cli_learns_the_same_bytes_with_workers_and_a_local_cluster_in_document_order(
        cli: Cli, kit: Kit, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for part in ("b", "a/deeper", "c"):
        (corpus / part).mkdir(parents=True)
    lib = Path(sysconfig.get_paths()["stdlib"])
    for n, src in enumerate(sorted((lib / "json").glob("*.py"))):
        shutil.copy(src, corpus / ("b", "a/deeper", "c")[n % 3] / src.name)
    licenses = Path("/usr/share/common-licenses")
    extra = sorted(licenses.iterdir())[:3] if licenses.is_dir() else []
    if not extra:
        (tmp_path / "extra.txt").write_text("An extra file learned after the folder.\n")
        extra = [tmp_path / "extra.txt"]
    # the documented order: the arguments as given, a folder's files in sorted path order
    in_order = sorted(p for p in corpus.rglob("*") if p.is_file()) + extra
    runs = {}
    for name, args in (("one", ["--workers", "1", *map(str, in_order)]),
                       ("two", ["--workers", "2", str(corpus), *map(str, extra)]),
                       ("dask", ["--cluster", "local", "--workers", "2", str(corpus),
                                 *map(str, extra)])):
        home, config = kit.home(tmp_path / name)
        done = cli.run(home, "learn", "--config", str(config), *args)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "INFO" not in done.stderr, done.stderr
        assert f"from {len(in_order)} messages" in done.stdout, done.stdout
        runs[name] = memory_files(home)
    assert len(runs["one"][store.SNAPSHOT]) > 100_000
    assert runs["two"] == runs["one"]
    assert runs["dask"] == runs["one"]


def test_a_scheduler_that_cannot_be_reached_is_one_sentence(
        cli: Cli, home_cfg: tuple[Path, Path], tmp_path: Path) -> None:
    home, config = home_cfg
    text = tmp_path / "a.txt"
    text.write_text("Nothing is learned when the cluster is not there.\n")
    for address in ("tcp://127.0.0.1:1", "nonsense://where"):
        done = cli.run(home, "learn", "--config", str(config), "--cluster", address, str(text))
        assert done.returncode != 0
        assert "Traceback" not in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, done.stderr
        assert errors[0].startswith(f"Error: Could not reach the Dask scheduler at {address} ")
        assert errors[0].endswith(".")
    assert not (home / "memory").exists()  # refused before the memory was opened


def test_a_scheduler_without_workers_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import LocalCluster

    from gyrosi_core.errors import GyrosiError
    from gyrosi_engine import learn_map

    monkeypatch.setattr(learn_map, "WORKER_WAIT_S", 1)
    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as empty:
        with pytest.raises(GyrosiError, match=r"^The Dask scheduler at tcp://127\.0\.0\.1:\d+ "
                                              r"has no workers .*`dask worker tcp://"):
            DaskMapper(empty.scheduler_address)


def test_results_come_from_the_workers_unless_they_cannot_be_reached() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        with DaskMapper(cluster.scheduler_address) as mapper:
            assert mapper.client.direct_to_workers is True  # reachable: fetched directly
            (worker,) = mapper.client.scheduler_info()["workers"]
            nobody = "tcp://127.0.0.1:1"  # nothing listens there
            assert list(mapper.unreachable([worker, nobody])) == [nobody]
            # relayed by the scheduler, as where the workers are out of the client's reach
            mapper.client.direct_to_workers = False
            assert list(mapper.imap(pow, range(8), lambda i: (i, 2))) == [
                (i, i * i) for i in range(8)]
