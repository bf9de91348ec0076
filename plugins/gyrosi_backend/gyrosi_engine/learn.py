"""Learning (BU egress): text -> tokens -> boundary states -> contexts -> folded memory entries.

`Stream` turns token ids into the context keys before each token (see `context`), carrying the last
tokens and the boundary state across calls, so a file learned in chunks gives the same entries as
learned whole. A message (a file, stdin, one conversation message) starts from a fresh path and
ends with a learned `<|end|>`, which is what lets generation halt where learned text ended.
"""

from collections.abc import Iterator
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
    """Where a stream stands: its last `depth` tokens (oldest first; `context.START` before the
    message's start), the boundary state after them (atlas index), and whether the next token
    starts a new message."""

    tokens: tuple[int, ...]
    state: int
    fresh: bool
    #: generation only: the learned-stream position of the last token when the walk is on a
    #: learned stream (-1: not), and how many tokens in a row agree with it (`Generator.advance`)
    address: int = -1
    run: int = 0

    @classmethod
    def start(cls, atlas: Atlas, depth: int) -> "PathState":
        return cls((context.START,) * depth, atlas.archetype_index, True)

    @staticmethod
    def start_packed(depth: int, archetype: int) -> tuple[int, ...]:
        return (context.START,) * depth + (archetype,)

    def packed(self) -> tuple[int, ...]:
        """The tokens then the state: how the journal and the content index store a path."""
        return (*self.tokens, self.state)

    @classmethod
    def unpack(cls, values: tuple[int, ...] | list[int], fresh: bool) -> "PathState":
        return cls(tuple(int(v) for v in values[:-1]), int(values[-1]), fresh)

    def after(self, token: int, state: int, address: int = -1, run: int = 0) -> "PathState":
        return PathState((*self.tokens[1:], token), state, False, address, run)


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
        """Keys (n, len(levels) + 1) of the context before each token (`context.levels`), and
        the state after them."""
        keys, after, _ = self.walk(tokens, at)
        return keys, after

    def walk(
        self, tokens: npt.NDArray[np.int64], at: PathState
    ) -> tuple[npt.NDArray[np.uint64], PathState, "Paths"]:
        """`keys`, and `path_at(j)`: the path before token j (where a passage starting there
        begins, for the content index)."""
        if len(tokens) == 0:
            return np.empty((0, len(context.levels(self.depth)) + 1), np.uint64), at, \
                Paths(np.asarray(at.tokens, np.int64), np.asarray([at.state], np.int64),
                      np.asarray([0 if at.fresh else -(self.depth + 1)], np.int64), self.depth)
        plan = self.plan(tokens, at)
        keys = context.stream_keys(plan.before, plan.ext, plan.msg_start, self.orbit_of,
                                   self.depth)
        return keys, plan.final, plan.path_at

    def plan(self, tokens: npt.NDArray[np.int64], at: PathState) -> "Plan":
        """Everything of a walk but the keys: the boundary state before each token, where each
        token's message starts, the carried tokens and the path after (cheap: one prefix scan).
        `tokens` is not empty."""
        n = len(tokens)
        fresh = np.empty(n, dtype=bool)
        fresh[0] = at.fresh
        fresh[1:] = tokens[:-1] == self.end_token
        if at.fresh:
            at = PathState.start(self.atlas, self.depth)
        start_half = int(self.atlas.ontology[at.state]) & physics.HALF_MASK
        halves = context.scan_halves(self.vocab, tokens, start_half, fresh)
        after = self.half_table[halves].astype(np.int64)
        before = np.empty(n, dtype=np.int64)
        before[0] = at.state
        before[1:] = after[:-1]
        before[fresh] = self.archetype
        msg_start = message_starts(fresh, self.depth)
        ext = np.concatenate([np.asarray(at.tokens, dtype=np.int64), tokens])
        path_at = Paths(ext, before, msg_start, self.depth)
        if tokens[-1] == self.end_token:
            final = PathState.start(self.atlas, self.depth)
        else:
            final = path_at(n - 1).after(int(tokens[-1]), int(after[-1]))
        return Plan(before, msg_start, ext, final, path_at)


@dataclass(frozen=True)
class Paths:
    """The path before each token of a walk: where a passage starting there begins."""

    ext: npt.NDArray[np.int64]  # the `depth` carried tokens, then the walk's
    before: npt.NDArray[np.int64]  # the state before each token (atlas index)
    msg_start: npt.NDArray[np.int64]  # where each token's message starts (`message_starts`)
    depth: int

    def __call__(self, j: int) -> PathState:
        row, fresh = self.packed(np.asarray([j], np.int64))
        return PathState.unpack(row[0].tolist(), bool(fresh[0]))

    def packed(self, js: npt.NDArray[np.int64]
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """`PathState.packed()` of the path before each token in `js` (one row each: its last
        `depth` tokens, oldest first, `START` before the message's start, then the state), and
        whether each starts a message."""
        at = np.arange(self.depth)
        m = self.msg_start[js]
        cut = np.clip(self.depth - (js - m), 0, self.depth)
        last = np.where(at < cut[:, None], context.START, self.ext[js[:, None] + at])
        return np.column_stack([last, self.before[js]]), m == js


@dataclass(frozen=True)
class Plan:
    """A walk's boundary states and message starts (`Stream.plan`), before its keys."""

    before: npt.NDArray[np.int64]  # the state before each token (atlas index)
    msg_start: npt.NDArray[np.int64]  # where each token's message starts (< 0: before the walk)
    ext: npt.NDArray[np.int64]  # the `depth` carried tokens, then the walk's
    final: PathState  # the path after the walk
    path_at: Paths  # the path before each token


def message_starts(fresh: npt.NDArray[np.bool_], depth: int) -> npt.NDArray[np.int64]:
    """Where the message holding each token starts (`fresh[j]`: token j starts one); before the
    walk's first token reads as `-(depth + 1)`, so every carried token counts."""
    starts = np.where(fresh, np.arange(len(fresh)), -(depth + 1))
    return np.maximum.accumulate(starts)


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

