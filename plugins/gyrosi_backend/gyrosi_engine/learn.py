"""Learning (BU egress): text -> tokens -> boundary states -> contexts -> folded memory entries.

`Stream` turns token ids into the context keys before each token, carrying the path across
calls, so a file learned in chunks gives the same entries as learned whole. A message (a file,
stdin, one conversation message) starts from a fresh path and ends with a learned `<|end|>`, which
is what lets generation halt where learned text ended.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import context, physics
from .atlas import Atlas
from .vocab import Vocab

#: Characters per tokenisation chunk: bounds tiktoken's time on a pathological line and lets the
#: next chunk tokenise (tiktoken releases the GIL) while numpy folds this one.
CHUNK_CHARS = 1 << 18


@dataclass(frozen=True)
class PathState:
    """Where a stream stands: the last `depth` boundary states (oldest first), and whether the next
    token starts a new message."""

    path: tuple[int, ...]
    fresh: bool

    @classmethod
    def start(cls, atlas: Atlas, depth: int) -> "PathState":
        return cls((atlas.archetype_index,) * depth, True)


class Stream:
    """Context keys along a token stream, for one memory's depth."""

    def __init__(self, vocab: Vocab, atlas: Atlas, depth: int, end_token: int) -> None:
        self.vocab, self.atlas, self.depth, self.end_token = vocab, atlas, depth, end_token
        self.archetype = atlas.archetype_index
        self.half_table = atlas._half_table
        self.orbit_of = atlas.phenomenology

    def keys(
        self, tokens: npt.NDArray[np.int64], at: PathState
    ) -> tuple[npt.NDArray[np.uint64], PathState]:
        """Keys (n, depth + 1) of the context before each token, and the state after them."""
        keys, after, _ = self.walk(tokens, at)
        return keys, after

    def walk(
        self, tokens: npt.NDArray[np.int64], at: PathState
    ) -> tuple[npt.NDArray[np.uint64], PathState, Callable[[int], PathState]]:
        """`keys`, and `path_at(j)`: the path before token j (where a passage starting there
        begins, for the content index)."""
        n = len(tokens)
        if n == 0:
            return np.empty((0, self.depth + 1), np.uint64), at, lambda j: at
        fresh = np.empty(n, dtype=bool)
        fresh[0] = at.fresh
        fresh[1:] = tokens[:-1] == self.end_token
        carried = (self.archetype,) * self.depth if at.fresh else at.path
        start_half = int(self.atlas.ontology[carried[-1]]) & physics.HALF_MASK
        halves = context.scan_halves(self.vocab, tokens, start_half, fresh)
        after = self.half_table[halves].astype(np.int64)
        before = np.empty(n, dtype=np.int64)
        before[0] = carried[-1]
        before[1:] = after[:-1]
        before[fresh] = self.archetype
        starts = np.where(fresh, np.arange(n), -(self.depth + 1))
        msg_start = np.maximum.accumulate(starts)
        keys = context.stream_keys(before, carried, msg_start, self.orbit_of, self.archetype)
        ext = np.concatenate([np.asarray(carried[:-1], dtype=np.int64), before])
        depth, arch = self.depth, self.archetype

        def path_at(j: int) -> PathState:
            first = j - depth + 1  # the position of the path's oldest state
            m = int(msg_start[j])
            path = tuple(arch if first + k < m else int(ext[j + k]) for k in range(depth))
            return PathState(path, m == j)

        return keys, self._after(tokens, after, carried, int(msg_start[-1])), path_at

    def _after(
        self, tokens: npt.NDArray[np.int64], after: npt.NDArray[np.int64],
        carried: tuple[int, ...], msg_start: int,
    ) -> PathState:
        if tokens[-1] == self.end_token:
            return PathState((self.archetype,) * self.depth, True)
        n = len(tokens)
        states = list(carried) + after[max(0, n - self.depth):].tolist()
        mine = n - max(msg_start, 0)  # states of the current message in this chunk
        path = states[-self.depth:]
        if msg_start >= 0 and mine < self.depth:
            path = [self.archetype] * (self.depth - mine) + path[self.depth - mine:]
        return PathState(tuple(path), False)


def chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[str]:
    """Split text for tokenising, at a newline or space where one is near the limit."""
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            half = start + size // 2
            cut = max(text.rfind("\n", half, end), text.rfind(" ", half, end))
            end = cut + 1 if cut >= 0 else end
        yield text[start:end]
        start = end

