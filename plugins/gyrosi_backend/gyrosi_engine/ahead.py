"""Run an iterator in a worker thread, a bounded number of items ahead of its consumer.

Learning is a pipeline: tiktoken and numpy both release the GIL, so tokenising the next chunk,
computing the next batch's entries and folding the current one into memory overlap on two cores.
"""

import queue
import threading
from collections.abc import Iterable, Iterator

_DONE = object()


def ahead[T](items: Iterable[T], size: int = 1, name: str = "gyrosi-ahead") -> Iterator[T]:
    """Yield `items`, produced by a worker thread up to `size` items in advance. An exception in
    the worker is raised here; stopping early (break, error, Ctrl-C) stops the worker."""
    slots: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            slots.put(exc)

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
