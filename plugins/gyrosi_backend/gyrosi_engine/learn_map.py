"""Learning as a map and a reduce, so it runs on every core (`gyrosi learn --workers N`) or on a
Dask cluster (`gyrosi learn --cluster tcp://HOST:PORT | local`), with the same bytes as learning
in one process.

The map is two pure functions, run by a `Mapper` anywhere:

- `encode_pieces`: a parcel of text pieces (chunks of documents, see `learn.chunks`) -> their
  tokens (tiktoken `encode_ordinary`; "" is a message's `<|end|>`). Tokens do not depend on
  anything before them, so parcels are independent.
- `batch_entries`: one learning batch's tokens, the orbit of the boundary state before each of
  them and the path it starts from -> its folded entries (`passive.group`: context keys, then the
  grouping sorts, most of learning's time).

The reduce stays in the calling process, in document order: cutting the token stream into the
fixed batches (`store._batches`), the boundary states along it (`learn.Stream.plan`, one cheap
prefix scan: the only part that depends on all that came before), the merge into passive memory,
the journal append and the content index. The map's results are taken in the order they were
submitted, so the memory is byte for byte what `Memory.learn_stream` alone writes, whatever the
number of workers or the order they finish in. A worker needs the gyrosi-backend package only: no
atlas, no memory, no home.

Work in flight is bounded (`Mapper.ahead` tasks), so memory stays bounded however long the input.
"""

import functools
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from gyrosi_core.errors import GyrosiError

from . import context
from .learn import message_starts
from .memory.passive import Batch, group

#: Seconds to wait for a Dask scheduler before `--cluster` gives up.
CONNECT_TIMEOUT_S = 5
#: Seconds to wait for the scheduler's first worker.
WORKER_WAIT_S = 30
#: `batch_entries` reads the orbit of each state from the client; this table maps an orbit to
#: itself, so `kernels.stream_keys` needs no atlas on a worker (atlas indices are below 2**20).
_IDENTITY_SIZE = 1 << 20


def cores() -> int:
    """The cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# --- the map: pure functions of their arguments -------------------------------------------------


@functools.cache
def _encoder() -> Callable[[str], list[int]]:
    """tiktoken's `encode_ordinary` for o200k_harmony, once per process (offline): the
    engine's where this process has one (local threads), else its own (half a second)."""
    from gpt_oss.tokenizer import get_tokenizer

    from gyrosi_core.encoding import ensure_vocabulary

    from .vocab import vocab

    if vocab.cache_info().currsize:
        return vocab().encoding.encode_ordinary  # type: ignore[no-any-return]

    ensure_vocabulary()
    return get_tokenizer().encode_ordinary  # type: ignore[no-any-return]


def encode_pieces(pieces: list[str], end_token: int) -> list[npt.NDArray[np.int32]]:
    """The tokens of each piece ("": a message's end, `<|end|>`), as `Engine.message_pieces`
    tokenises them (int32 on the wire; token ids have 18 bits)."""
    encode = _encoder()
    end = np.asarray([end_token], dtype=np.int32)
    return [np.asarray(encode(p), dtype=np.int32) if p else end for p in pieces]


@functools.cache
def _identity() -> npt.NDArray[np.int32]:
    return np.arange(_IDENTITY_SIZE, dtype=np.int32)


def batch_entries(tokens: npt.NDArray[np.int32], orbits: npt.NDArray[np.int32],
                  head: tuple[int, ...], fresh: bool, end_token: int, depth: int) -> Batch:
    """A batch's folded entries, as `Memory.learn_stream` computes them: `orbits[j]` the orbit
    of the boundary state before token j, `head` the `depth` tokens before the batch (`START`
    before its message began), `fresh` whether its first token starts a message."""
    t = tokens.astype(np.int64)
    starts = np.empty(len(t), dtype=bool)
    starts[0] = fresh
    starts[1:] = t[:-1] == end_token
    ext = np.concatenate([np.asarray(head, dtype=np.int64), t])
    keys = context.stream_keys(orbits.astype(np.int64), ext, message_starts(starts, depth),
                               _identity(), depth)
    return group(keys, t, 0)


def warm() -> None:
    """Load what the map needs in this process (the tokeniser, the compiled loops), so the
    first tasks do not pay for it (run on every worker of a cluster as it is joined)."""
    tokens = encode_pieces(["warm up the tokeniser", ""], 0)[0]
    batch_entries(tokens, np.zeros(len(tokens), np.int32), (context.START,), True, 0, 1)


# --- mappers: where the map runs ----------------------------------------------------------------


class Mapper(Protocol):
    workers: int  # tasks that run at once

    def imap[T](self, fn: Callable[..., Any], items: Iterable[T],
                args: Callable[[T], tuple[Any, ...]]) -> Iterator[tuple[T, Any]]:
        """(item, fn(*args(item))) for each item, in the items' order, at most `ahead` tasks
        in flight."""
        ...

    def close(self) -> None: ...


class _Ordered:
    """`imap` over submit/result, shared by the local and the Dask mapper."""

    workers = 1

    @property
    def ahead(self) -> int:
        return 2 * self.workers + 1

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        raise NotImplementedError

    def _result(self, future: Any) -> Any:
        return future.result()

    def _cancel(self, future: Any) -> None:
        future.cancel()

    def imap[T](self, fn: Callable[..., Any], items: Iterable[T],
                args: Callable[[T], tuple[Any, ...]]) -> Iterator[tuple[T, Any]]:
        pending: deque[tuple[T, Any]] = deque()
        try:
            for item in items:
                pending.append((item, self._submit(fn, args(item))))
                if len(pending) >= self.ahead:
                    done, future = pending.popleft()
                    yield done, self._result(future)
            while pending:
                done, future = pending.popleft()
                yield done, self._result(future)
        finally:
            for _, future in pending:  # stopped early (an error, Ctrl-C): drop the rest
                self._cancel(future)


class LocalMapper(_Ordered):
    """The map on this machine's cores: threads (tiktoken, numpy's sorts and the compiled loops
    release the GIL, and threads share the arrays without copying) or processes."""

    def __init__(self, workers: int, *, processes: bool = False) -> None:
        self.workers = max(1, workers)
        self.pool: Executor = (
            # forkserver: forking a process that runs threads (the learner's) can deadlock
            ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"))
            if processes else ThreadPoolExecutor(self.workers, thread_name_prefix="gyrosi-map"))

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Future[Any]:
        return self.pool.submit(fn, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "LocalMapper":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskMapper(_Ordered):
    """The map on a Dask cluster: an existing scheduler (`tcp://HOST:PORT`) or, for `local`, a
    `distributed.LocalCluster` of worker processes on 127.0.0.1 started here (and stopped by
    `close`). Dask is imported only here."""

    def __init__(self, address: str, *, workers: int | None = None) -> None:
        self.address = address
        self.cluster: Any = None
        try:
            import dask

            # Dask's INFO lines (scheduler and worker start-up) would bury learning's progress;
            # set before `distributed` is imported (it configures logging then), which the
            # worker processes of a local cluster inherit
            dask.config.set({"logging": {"distributed": "warning"}})
            from distributed import Client, LocalCluster

            logging.getLogger("distributed").setLevel(logging.WARNING)  # imported before
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise GyrosiError(f"--cluster needs Dask distributed, which is not installed "
                              f"({exc}); install `dask[distributed]`.") from None
        # results come straight from the worker that holds them, not relayed by the scheduler
        # (Dask's default): half the traffic on a cluster, and on a local one the scheduler
        # shares this process, where every relayed batch cost a copy and the GIL (10 MB of
        # docs, three interleaved runs each: 4.3-4.8 s -> 3.7-4.0 s)
        direct = {"timeout": CONNECT_TIMEOUT_S, "direct_to_workers": True}
        try:
            if address == "local":
                # the workers' statistical profiler (a stack walk every 10 ms, for the dashboard)
                # took about 5% of a local cluster's learning time on two cores
                dask.config.set({"distributed.worker.profile.enabled": False})
                environ = dict(os.environ)
                try:
                    self.cluster = LocalCluster(
                        n_workers=workers or cores(), threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address="127.0.0.1:0")  # any free port
                finally:
                    # a nanny writes its worker's variables (MALLOC_TRIM_THRESHOLD_,
                    # OMP_NUM_THREADS=1, ...) into this process's environment before spawning
                    # it: they are the workers', not ours nor those of what we start later
                    for key in os.environ.keys() - environ.keys():
                        del os.environ[key]
                    os.environ.update(environ)
                self.client = Client(self.cluster, **direct)
            else:
                self.client = Client(address, **direct)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            self.close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if address == "local":
                raise GyrosiError(f"Could not start a local Dask cluster ({reason}).") from None
            raise GyrosiError(
                f"Could not reach the Dask scheduler at {address} ({reason}); start one with "
                f"`dask scheduler` and give its tcp://HOST:PORT, or use --cluster local.") \
                from None
        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (OSError, TimeoutError):
            self.close()
            raise GyrosiError(
                f"The Dask scheduler at {address} has no workers (none joined in "
                f"{WORKER_WAIT_S} s); start some with `dask worker {address}`.") from None
        self.client.run(warm)  # every worker loads the tokeniser and the loops now
        joined: dict[str, Any] = self.client.scheduler_info().get("workers", {})
        self.workers = max(1, sum(w.get("nthreads", 1) for w in joined.values()))
        if address != "local" and any(self.unreachable(list(joined))):
            # Dask would try each result's worker first and wait out a connection timeout
            # every time before asking the scheduler: let the scheduler relay them all
            self.client.direct_to_workers = False

    def unreachable(self, addresses: list[str]) -> Iterator[str]:
        """The worker addresses this process cannot connect to (within `CONNECT_TIMEOUT_S`), as
        they are tried: one is enough to decide, and each costs a timeout."""
        from distributed.comm import connect

        async def reach(address: str) -> bool:
            try:
                comm = await connect(address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError):
                return False
            await comm.close()
            return True

        return (a for a in addresses if not self.client.sync(reach, a))

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def _result(self, future: Any) -> Any:
        try:
            return future.result()
        except GyrosiError:
            raise
        except Exception as exc:  # a worker's failure, said in one sentence
            raise GyrosiError(
                f"A Dask worker of {self.address} failed to compute a learning task "
                f"({type(exc).__name__}: {str(exc).strip()[:200]}); every committed batch is "
                f"kept. Workers need the same gyrosi-backend package as this machine.") from None

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def __enter__(self) -> "DaskMapper":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mapper_for(workers: int | None = None, cluster: str | None = None) -> Mapper | None:
    """The mapper `gyrosi learn` uses: a Dask one for `cluster`, else `workers` local threads
    (default: every core); None for one worker (`Memory.learn_stream`'s own two-stage
    pipeline)."""
    if cluster:
        return DaskMapper(cluster, workers=workers)
    n = workers or cores()
    return LocalMapper(n) if n > 1 else None
