"""KV caches kept between turns, one per conversation, within a count and a memory budget."""

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class Session:
    """A transformers cache and the token ids whose keys and values it holds, in order."""

    cache: Any
    ids: list[int] = field(default_factory=list)

    def crop(self, keep: int) -> None:
        """Forget every position from `keep` on (the new prompt diverges there)."""
        drop = len(self.ids) - keep
        if drop > 0:
            self.cache.crop(-drop)  # transformers >= 5.18: a negative count removes that many
            del self.ids[keep:]

    def nbytes(self) -> int:
        total = 0
        for layer in getattr(self.cache, "layers", ()):
            for name in ("keys", "values"):
                tensor = getattr(layer, name, None)
                if tensor is not None and hasattr(tensor, "nbytes"):
                    total += int(tensor.nbytes)
        return total


class SessionStore:
    """Least recently used caches first out; a cache is taken out while a turn uses it, so two
    calls for the same conversation never share one."""

    def __init__(
        self, max_sessions: int, max_bytes: float, min_free_bytes: float,
        free_bytes: Callable[[], int | None],
    ) -> None:
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self.free_bytes = free_bytes
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.pop(session_id, None)

    def put(self, session_id: str, session: Session) -> None:
        free = self.free_bytes()
        with self._lock:
            if free is not None and free < self.min_free_bytes:
                log.info("memory is short (%d MiB free): dropping %d kept KV caches",
                         free >> 20, len(self._sessions) + 1)
                self._sessions.clear()
                return
            self._sessions[session_id] = session
            total = sum(s.nbytes() for s in self._sessions.values())
            while self._sessions and (
                len(self._sessions) > self.max_sessions or total > self.max_bytes
            ):
                old_id, old = self._sessions.popitem(last=False)
                total -= old.nbytes()
                log.debug("dropped the KV cache of %s", old_id)

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()

    def lengths(self) -> dict[str, int]:
        """Tokens cached per conversation, oldest first."""
        with self._lock:
            return {sid: len(s.ids) for sid, s in self._sessions.items()}
