"""Generation off the event loop: per backend, a pool of worker threads fed through slots.

The turn engine is a synchronous generator. A `Job` runs it on a worker thread and hands its
events to the event loop through a bounded buffer: the loop drains everything buffered at once
(so a fast backend is streamed in few writes), the worker blocks when the client reads slowly
(backpressure), and a consumer that goes away cancels the job, which closes the turn and frees
its slot at the next event.
"""

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..turn import TurnEngine
from .errors import APIError

log = logging.getLogger(__name__)

PENDING = 1024  # events a worker translates at once when its client is busy reading
RETRY_AFTER_S = 1  # what a 503 server_busy tells the client to wait
CHUNKS = 8  # translated chunks buffered per job before the worker waits for the client
STALL_S = 0.02  # a consumer that waited this long translates what a stalled worker left pending


class Cancelled(Exception):
    """The consumer went away; the worker stops the turn."""


@dataclass(frozen=True)
class Finished:
    """The last item of a job: the work function's return value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None


class Job:
    """One generation. The worker thread turns events into text with `render` — all the
    per-event work happens there, so the event loop only moves bytes — and hands the text
    over in as few chunks as the client's pace allows."""

    def __init__(self, loop: asyncio.AbstractEventLoop, render: Callable[[list[Any]], str]) -> None:
        self.loop = loop
        self.render = render
        self.pending: list[Any] = []  # events not yet rendered (under `rendering`)
        self.rendering = threading.Lock()  # one renderer at a time, in event order
        self.chunks: collections.deque[Any] = collections.deque()
        self.cond = threading.Condition()
        self.cancelled = False
        self.stopped = False  # the worker saw the cancellation and stopped the turn
        self.started = False  # something was handed to the consumer
        self.waiting = False
        self.ready = asyncio.Event()

    # -- worker side -------------------------------------------------------------------------

    def put(self, event: Any) -> None:
        if self.cancelled:
            raise Cancelled
        with self.rendering:
            self.pending.append(event)
        # a consumer that waits gets the event now; one busy writing gets them in one chunk
        if self.waiting or len(self.pending) >= PENDING:
            self.flush()

    def flush(self) -> None:
        with self.rendering:
            if self.pending:
                events, self.pending = self.pending, []
                if text := self.render(events):
                    self.send(text)

    def send(self, item: Any) -> None:
        with self.cond:
            while len(self.chunks) >= CHUNKS and not self.cancelled:
                self.cond.wait()
            if self.cancelled:
                raise Cancelled
            self._append(item)

    def finish(self, item: Finished) -> None:
        with self.cond:
            self._append(item)

    def _append(self, item: Any) -> None:
        self.chunks.append(item)
        self.started = True
        wake, self.waiting = self.waiting, False
        if wake:  # only a consumer that sleeps costs a cross-thread wake-up
            try:
                self.loop.call_soon_threadsafe(self.ready.set)
            except RuntimeError:  # the loop is gone (server shutting down)
                pass

    # -- event-loop side ---------------------------------------------------------------------

    async def batch(self) -> list[Any]:
        """Everything handed over since the last call (at least one item)."""
        while True:
            with self.cond:
                if self.chunks:
                    out = list(self.chunks)
                    self.chunks.clear()
                    self.cond.notify_all()
                    return out
                self.waiting = True
                self.ready.clear()
            # Events put while the consumer was writing wait for the worker's next put; a
            # worker stalled in its backend or a tool would hold them back, so after a short
            # wait the consumer translates them itself.
            rescue = self.loop.call_later(STALL_S, self._rescue)
            try:
                await self.ready.wait()
            finally:
                rescue.cancel()

    def _rescue(self) -> None:
        """On the event loop: translate the pending events of a worker stalled since it put
        them (skipped when the worker is translating, or blocked on a full buffer)."""
        if self.cancelled or not self.pending or not self.rendering.acquire(blocking=False):
            return
        try:
            events, self.pending = self.pending, []
            text = self.render(events) if events else ""
            if text:
                with self.cond:
                    self._append(text)
        finally:
            self.rendering.release()

    def cancel(self) -> None:
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()


@dataclass
class BackendPool:
    """A backend's engine, its worker threads and its slots."""

    name: str
    engine: TurnEngine
    slots: int
    queue: int
    executor: ThreadPoolExecutor = field(init=False)
    semaphore: asyncio.Semaphore = field(init=False)
    busy: int = 0
    waiting: int = 0
    cancelled: int = 0  # generations stopped because their client went away

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(self.slots, thread_name_prefix=f"gyrosi-{self.name}")
        self.semaphore = asyncio.Semaphore(self.slots)

    def stats(self) -> dict[str, int]:
        return {"slots": self.slots, "busy": self.busy, "waiting": self.waiting,
                "cancelled": self.cancelled}

    async def start(self, work: Callable[[Job], Any], render: Callable[[list[Any]], str]) -> Job:
        """Wait for a slot, then run `work(job)` on a worker thread.

        `work` puts events with `job.put` (rendered to text by `render`) and may return a
        value; the job ends with a `Finished` item. The slot is freed when the work returns,
        cancelled or not.
        """
        if self.semaphore.locked() and self.waiting >= self.queue:
            raise APIError(503, f"The backend {self.name!r} is busy ({self.slots} generations "
                           f"running, {self.waiting} waiting); retry shortly.",
                           type="server_error", code="server_busy",
                           headers={"Retry-After": str(RETRY_AFTER_S)})
        self.waiting += 1
        try:
            await self.semaphore.acquire()
        finally:
            self.waiting -= 1
        self.busy += 1
        loop = asyncio.get_running_loop()
        job = Job(loop, render)

        def run() -> None:
            try:
                result = work(job)
            except Cancelled:
                job.stopped = True
                job.finish(Finished())
            except BaseException as exc:  # handed to the consumer, which decides what to say
                job.finish(Finished(error=exc))
            else:
                job.finish(Finished(value=result))

        def release(_: Any) -> None:
            self.cancelled += job.stopped
            self.busy -= 1
            self.semaphore.release()

        try:
            future = loop.run_in_executor(self.executor, run)
        except BaseException:
            release(None)
            raise
        future.add_done_callback(release)
        return job

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.engine.close()
