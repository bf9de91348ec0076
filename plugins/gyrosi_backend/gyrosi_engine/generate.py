"""Generation (BU ingress): the next token from passive memory, chosen by its evidence and the
physics.

Where candidates come from, in order (the "level" in the trace):
    0  the token contexts, deepest first (depth `depth` .. 1): the tokens learned after them
    1  the current state's orbit (depth 0)
    2  the orbits at Hamming distance 2 (the atlas's neighbour orbits), lowest first
    3  the duality pivot `s ^ FULL`: its orbit
    4  the orbit centre (the orbit's representative): its orbit
    5  a geometric nudge: up to 6 steps, each the intron that brings theta lowest
When all are empty the ladder is exhausted and emission halts.

Which candidate (rule "evidence", the default): the occurrence counts kept with each entry, weighed
across the contexts the way interpolated Kneser-Ney weighs n-gram counts. From the orbit up to the
deepest context that holds anything, each context that holds tokens gives each of them
`(count - D(count)) / total` and passes what the discounts took, `sum(D) / total`, down to the
shorter contexts below it (interpolated absolute discounting, with modified Kneser-Ney's three
discounts for counts 1, 2 and 3+ estimated from the memory's own counts of counts:
`Passive.discounts`). The candidate with the most
weight wins; ties go to the one *admissible* from the current state (the physics below), then to
the most recent, then to the lowest id. Only integer counts kept with the entries take part: no
trained weight, no random draw. The README gives the measured effect of each part.

Admissible (the original specification's predicate): along the token's own micro-path from the
current state, the global alignment with the token's address (agreeing bits) never decreases, no
slab ends with less alignment than it started, and the alignment ends strictly higher. Rules kept
for comparison (`bench/heldout.py --rule`): "admissible" (format 2's: the first admissible
candidate, most recent first, at the deepest context) and "recent" (the most recent there).

Monodromy: within one answer, a (context, token) step already taken is not taken again. A path
that comes back to a context whose every candidate it has already followed has closed on itself;
emission halts there instead of cycling through the same learned text until `max_tokens`.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from . import context, kernels, physics
from .address import AddressBook
from .learn import PathState
from .memory.passive import TOKEN_MASK
from .memory.store import Memory

NUDGE_STEPS = 6
LOST_STEPS = 12  # `recite` halts after this many steps in a row that lost the document
RULES = ("evidence", "admissible", "recent")
CHAIN_TRUST = 2  # the chain is followed once it has agreed with this many times `depth` tokens
#: how `recite` found a step that keeps to its document (`Generator._addressed`)
ON_TRACK = ("exact", "verified", "copy", "ahead", "prefix")
LEVELS = ("path", "orbit", "neighbour orbits", "duality pivot", "orbit centre", "nudge")
_ADMISSIBLE_CACHE = 1 << 18


@dataclass
class Step:
    token: int
    state: int  # atlas index of the state the token was chosen at
    level: int
    depth: int  # path depth used (level 0), else 0
    candidates: int


@dataclass
class Trace:
    steps: list[Step] = field(default_factory=list)
    halted: str = ""  # "end", "length", "exhausted", "loop", "paragraph", "lost"
    address: int | None = None  # where in the learned stream the next token would come from
    at: PathState | None = None  # the path after the last token emitted


class Generator:
    #: one of `RULES` (module docstring)
    rule = "evidence"
    #: tie-break by admissibility under the "evidence" rule (`bench/heldout.py` measures it off)
    physics_ties = True
    #: continuation counts (spreads) below the deepest context, as Kneser-Ney does; measured not
    #: to earn their place on this engine's contexts (README), so off: raw counts at every depth
    continuation = False
    #: choose among the deepest context's tokens only (as the KN baselines do)
    deepest_only = True
    #: the orbit's tokens as the lowest level of the weighing (off: from depth 1 up)
    orbit_evidence = True
    #: follow the learned stream (the address chain) once it agrees with more tokens than the
    #: deepest context holds (`CHAIN_TRUST` times the depth); off: the evidence rule throughout
    chain = True

    def __init__(self, memory: Memory, addresses: AddressBook) -> None:
        self.memory = memory
        self.atlas = memory.atlas
        self.vocab = memory.vocab
        self.addresses = addresses
        self.depth = memory.depth  # the longest context, in tokens
        self.levels = memory.levels  # the keyed context lengths (`context.levels`)
        self.top = len(self.levels)  # how many there are: a key list's last index
        self._levels = np.asarray(self.levels, dtype=np.int64)
        self.end_token = memory.stream.end_token
        self.ontology = self.atlas.ontology
        self.epistemology = self.atlas.epistemology
        self.orbit_of = self.atlas.phenomenology
        self._admissible: dict[tuple[int, int], bool] = {}
        self._slabs = physics.SLAB_MASKS
        self._discounts: tuple[tuple[float, float, float], npt.NDArray[np.float64]] | None = None
        self._keys: tuple[PathState, list[int], npt.NDArray[np.uint64]] | None = None

    # --- the rule ---------------------------------------------------------------------------

    def admissible(self, state: int, token: int) -> bool:
        key = (state, token)
        hit = self._admissible.get(key)
        if hit is not None:
            return hit
        if len(self._admissible) >= _ADMISSIBLE_CACHE:
            self._admissible.clear()
        result = self._admissible[key] = self._check(state, token)
        return result

    def _check(self, state: int, token: int) -> bool:
        if not self.vocab.has_bytes[token]:
            return False
        address = int(self.ontology[self.addresses.of(token)])
        start = int(self.ontology[state]) ^ address
        best = start.bit_count()
        cur = state
        for intron in self.vocab.introns(token):
            cur = int(self.epistemology[cur, intron])
            off = (int(self.ontology[cur]) ^ address).bit_count()
            if off > best:
                return False  # alignment fell along the micro-path
            best = off
        end = int(self.ontology[cur]) ^ address
        if end.bit_count() >= start.bit_count():
            return False  # nothing improved
        return all((end & m).bit_count() <= (start & m).bit_count() for m in self._slabs)

    def choose(self, state: int, candidates: list[int]) -> int:
        """Format 2's rule over one context's tokens, most recent first: the first admissible
        one, else the most recent (kept for `--rule admissible` / `--rule recent`)."""
        if self.rule == "recent":
            return candidates[0]
        for token in candidates:
            if self.admissible(state, token):
                return token
        return candidates[0]

    def weigh(self, state: int, keys: list[int], deepest: int,
              taken: set[tuple[int, int]] | None = None) -> int:
        """The "evidence" rule: interpolated modified Kneser-Ney discounting from the orbit
        (keys[0]) up to `deepest`, ties to the admissible, then the most recent, then the lowest
        id. Tokens already taken at the deepest context (monodromy) are left out; -1 when none
        is left.

        The weighing is one compiled pass (`kernels.rank`: the same floating-point operations
        in the same order as the rule written out in Python, which `tests/test_weigh.py` keeps
        and checks it against); what is left here is the monodromy and the physics of a tie."""
        passive = self.memory.passive
        discount = self._discount_array(passive.discounts())
        ranked: list[int] = kernels.rank(
            passive.view(), self._array(keys),
            0 if self.orbit_evidence or not deepest else 1, deepest, passive.per_context,
            discount, self.continuation, self.deepest_only).tolist()
        key, first = keys[deepest], 0
        if taken is not None:
            if not self.deepest_only and all((key, r & TOKEN_MASK) in taken
                                             for r in ranked if r & kernels.TOP):
                return -1
            while first < len(ranked) and (key, ranked[first] & TOKEN_MASK) in taken:
                first += 1
        if first == len(ranked):
            return -1
        # the candidates come best first, equal weights by recency then id: the tied ones follow
        tied = [ranked[first] & TOKEN_MASK]
        for n in range(first + 1, len(ranked)):
            if not ranked[n] & kernels.SAME:
                break
            if taken is None or (key, ranked[n] & TOKEN_MASK) not in taken:
                tied.append(ranked[n] & TOKEN_MASK)
        if len(tied) > 1 and self.physics_ties:
            tied = [t for t in tied if self.admissible(state, t)] or tied
        return tied[0]

    def _discount_array(self, discounts: tuple[float, float, float]) -> npt.NDArray[np.float64]:
        """(0, D1, D2, D3) as the kernel takes them, rebuilt when the memory's discounts change."""
        held = self._discounts
        if held is None or held[0] != discounts:
            held = self._discounts = (discounts, np.array((0.0, *discounts)))
        return held[1]

    def _fresh(self, key: int, candidates: list[int],
               taken: set[tuple[int, int]] | None) -> list[int]:
        if taken is None:
            return candidates
        return [t for t in candidates if (key, t) not in taken]

    # --- candidates -------------------------------------------------------------------------

    def _lookup(self, key: int) -> list[int]:
        return self.memory.passive.candidates(key)

    def keys(self, at: PathState) -> list[int]:
        """[orbit key, depth-1 key, ..., depth key] of a path. The last path's are kept: a step
        asks for them twice (`propose`, then `advance` for the chain). Callers do not change
        the list."""
        held = self._keys
        if held is not None and held[0] is at:  # a frozen PathState: its keys cannot change
            return held[1]
        array = kernels.path_keys(np.asarray(at.tokens, dtype=np.int64),
                                  int(self.orbit_of[at.state]), self._levels,
                                  context.KEY_SHIFT)
        keys = array.tolist()
        self._keys = (at, keys, array)
        return keys

    def _array(self, keys: list[int]) -> npt.NDArray[np.uint64]:
        """`keys` as the kernels take them (the last path's are kept as both)."""
        held = self._keys
        if held is not None and held[1] is keys:
            return held[2]
        return np.asarray(keys, dtype=np.uint64)

    def propose(self, at: PathState,
                taken: set[tuple[int, int]] | None = None) -> Step | None:
        """The next step from `at`; `taken` (the steps of this answer so far) is updated.
        None: the ladder is exhausted, or (with `taken`) the path closed on itself."""
        state = at.state
        keys = self.keys(at)
        if self.chain and at.address >= 0 and at.run >= CHAIN_TRUST * self.depth:
            token, d, n = self._chained(keys, at.address + 1)
            if token < 0:  # moved on by a later occurrence: the token after it may tell
                d, held = self._deepest(keys, self.top)
                token, n = self._verified(at, held, at.address + 2), len(held)
            if token >= 0 and (taken is None or (keys[d], token) not in taken):
                if taken is not None:
                    taken.add((keys[d], token))
                return Step(token, state, 0, d, n)
        found = self._find(state, keys)
        if found is None:
            return None
        key, level, depth, cands = found
        if self.rule == "evidence" and level <= 1:
            token = self.weigh(state, keys, depth, taken)
            if token < 0:
                return Step(-1, state, level, depth, len(cands))
        else:
            fresh = self._fresh(key, cands, taken)
            if not fresh:
                return Step(-1, state, level, depth, len(cands))
            token = self.choose(state, fresh)
        if taken is not None:
            taken.add((key, token))
        return Step(token, state, level, depth, len(cands))

    def _find(self, state: int, keys: list[int]) -> tuple[int, int, int, list[int]] | None:
        """(context key, level, depth, candidates) of the first non-empty rung."""
        d, cands = self._deepest(keys, self.top)
        if cands:
            return keys[d], 0, d, cands
        if cands := self._lookup(keys[0]):
            return keys[0], 1, 0, cands
        for orbit in self.atlas.neighbour_orbits(state):
            key = context.path_keys((), orbit)[0]
            if cands := self._lookup(key):
                return key, 2, 0, cands
        pivot = int(self.ontology[state]) ^ physics.FULL
        try:
            pivot_index = self.atlas.index_of(pivot)
        except KeyError:
            pivot_index = -1
        if pivot_index >= 0:
            key = context.path_keys((), int(self.orbit_of[pivot_index]))[0]
            if cands := self._lookup(key):
                return key, 3, 0, cands
        centre = int(self.orbit_of[state])
        key = context.path_keys((), int(self.orbit_of[centre]))[0]
        if cands := self._lookup(key):
            return key, 4, 0, cands
        cur = state
        for _ in range(NUDGE_STEPS):
            nxt = self.epistemology[cur]
            cur = int(nxt[int(np.argmin(self.atlas.theta[nxt]))])
            key = context.path_keys((), int(self.orbit_of[cur]))[0]
            if cands := self._lookup(key):
                return key, 5, 0, cands
        return None

    # --- walking ----------------------------------------------------------------------------

    def advance(self, at: PathState, token: int) -> PathState:
        """The path after emitting `token`: the token's gyration map, as learning applies it."""
        if token == self.end_token:
            return PathState.start(self.atlas, self.depth)
        half = int(self.ontology[at.state]) & physics.HALF_MASK
        half = (half & int(self.vocab.gyration_keep[token])) ^ int(self.vocab.gyration_flip[token])
        address, run = self._chain(at, token) if self.chain else (-1, 0)
        return at.after(token, int(self.atlas._half_table[half]), address, run)

    def _chained(self, keys: list[int], address: int) -> tuple[int, int, int]:
        """The token learned at `address` after this path (the deepest context that has it),
        that depth, and how many tokens the context holds; (-1, 0, 0) when none has it (a
        later occurrence moved its entry on). Compiled: `kernels.learned_at`."""
        passive = self.memory.passive
        store = passive.view()
        return kernels.learned_at(store, self._array(keys),
                                  min(self.top, len(keys) - 1), address)

    def _chain(self, at: PathState, token: int) -> tuple[int, int]:
        """Where `token` leaves the walk on the learned stream: one step further along it when
        the token is the one learned next there; else the latest occurrence of the token after
        the deepest context that holds it, having matched that context and the token."""
        keys = self.keys(at)
        if at.address >= 0:
            learned = self._chained(keys, at.address + 1)[0]
            # where a later occurrence moved the entry on, the next token's contexts (which
            # end with this token) may still hold the address after it
            if learned == token or (learned < 0 and self._verified(at, [token],
                                                                   at.address + 2) >= 0):
                return at.address + 1, at.run + 1
        passive = self.memory.passive
        store = passive.view()
        address, d = kernels.latest(store, self._array(keys),
                                    min(self.top, len(keys) - 1), token)
        return (address, d + 1) if d else (-1, 0)

    def _deepest(self, keys: list[int], most: int) -> tuple[int, list[int]]:
        """The deepest context (up to depth `most`) that holds anything, and its tokens, most
        recent first; (0, []) when none does. One compiled pass (`kernels.deepest`)."""
        passive = self.memory.passive
        store = passive.view()
        d, tokens = kernels.deepest(store, self._array(keys),
                                    min(most, self.top, len(keys) - 1), passive.per_context)
        return d, tokens.tolist()

    def depth_matched(self, at: PathState, most: int) -> int:
        """The length in tokens of the longest keyed context (up to `most` tokens) that holds
        anything; 0 when none does."""
        d = self._deepest(self.keys(at), self.reachable(most)[1])[0]
        return self.levels[d - 1] if d else 0

    def reachable(self, most: int) -> tuple[int, int]:
        """The longest keyed context length of at most `most` tokens (0: none), and its level."""
        level = sum(1 for n in self.levels if n <= most)
        return (self.levels[level - 1] if level else 0), level

    def read(self, tokens: list[int]) -> tuple[PathState, int]:
        """The path after a prompt read as a message of its own (so a prompt that repeats the
        start of a learned document also matches its opening), and the deepest learned context
        that path reaches. Token contexts need no starting state (format 2's state paths did)."""
        at = self.walk(PathState.start(self.atlas, self.depth), tokens)
        return at, self.depth_matched(at, min(len(tokens), self.depth))

    def walk(self, at: PathState, tokens: list[int]) -> PathState:
        """The path after reading `tokens` (a prompt): one vectorised pass."""
        if not tokens:
            return at
        _, after = self.memory.stream.keys(np.asarray(tokens, dtype=np.int64), at)
        return after

    def recite(self, at: PathState, address: int | None, end: int | None, max_tokens: int,
               trace: Trace, *, paragraph_end: np.ndarray | None = None,
               least: int = 0, prefix: Sequence[int] = ()) -> Iterator[int]:
        """Tokens from `at` that follow the learned stream from `address` (content addressing).

        An entry's recency is the address of its latest occurrence, so the token learned at
        `address` after this path is the candidate whose address is exactly `address`, at the
        deepest context that holds it. Where no candidate has it (a later occurrence moved it
        on, or the cap dropped it), in this order: the candidate after which the token learned
        at `address + 1` follows (that token's contexts end with it, and are often the
        document's own again); the next token of a later copy of this document being followed;
        the nearest candidate ahead of it before `end` (the document's end); the nearest later
        one; else the rule of `propose` (`_addressed`). `address` None: start with `propose`'s
        choice and follow the stream from there (a prompt that continues learned text). With
        `paragraph_end`, the walk halts after the first token that ends a paragraph once
        `least` tokens are out.
        `prefix`: the tokens learned at `address` onwards that the index kept (see
        `memory.index.PREFIX`), said first.
        """
        taken: set[tuple[int, int]] = set()
        trace.address, trace.at = address, at
        queued = list(prefix)
        astray = 0  # steps in a row that found no learned address in the document
        copy: int | None = None  # where a later copy of the same text goes on (`_addressed`)
        for n in range(1, max_tokens + 1):
            step: Step | None
            if queued:
                step = Step(queued.pop(0), at.state, 0, 0, 0)
                nxt, how = None if address is None else address + 1, "prefix"
            else:
                step, nxt, how, copy = self._addressed(at, address, end, taken, copy)
            if self._halts(step, trace):
                return
            assert step is not None
            # a walk whose own address no longer finds its document has lost it: it would only
            # recite other documents' text under this one's name
            astray = 0 if how in ON_TRACK or end is None else astray + 1
            if astray >= LOST_STEPS:
                trace.halted = "lost"
                return
            address = nxt
            yield step.token
            at = self.advance(at, step.token)
            trace.address, trace.at = address, at
            if paragraph_end is not None and n >= least and paragraph_end[step.token]:
                trace.halted = "paragraph"
                return
        trace.halted = "length"

    def _addressed(self, at: PathState, address: int | None, end: int | None,
                   taken: set[tuple[int, int]], copy: int | None
                   ) -> tuple[Step | None, int | None, str, int | None]:
        """The next step of `recite`, the address after it, how it was found, and where a
        later copy of the text goes on (None: not on one). How: "exact" (the token learned at
        `address`), "verified" (the one whose next token is learned at `address + 1`),
        "copy" (the next token of the later copy being followed), "ahead" (later in the
        document), "later" (elsewhere), "rule" (`propose`'s rule)."""
        state = at.state
        keys = self.keys(at)
        entries = self.memory.passive.entries
        if address is not None:
            token, d, n = self._chained(keys, address)
            if token >= 0:
                return Step(token, state, 0, d, n), address + 1, "exact", None
            token, d, n = self._verified_among(at, keys, address + 1)
            if token >= 0:
                return Step(token, state, 0, d, n), address + 1, "verified", None
            if copy is not None:  # the same text learned again later: say what it says next
                token, d, n = self._chained(keys, copy)
                if token >= 0:
                    return Step(token, state, 0, d, n), address + 1, "copy", copy + 1
            layers = [(d, toks, seqs) for d in range(self.top, 0, -1)
                      for toks, seqs in [entries(keys[d])] if toks]
            if end is not None:  # the nearest learned occurrence ahead in the same document
                ahead = [(s, t, d, len(toks)) for d, toks, seqs in layers
                         for t, s in zip(toks, seqs, strict=True) if address < s < end]
                if ahead:
                    s, t, d, n = min(ahead)
                    return Step(t, state, 0, d, n), s + 1, "ahead", None
            # The entry learned at `address` was moved on by a later occurrence elsewhere (the
            # same words after the same path: boilerplate), so the token said there is one whose
            # address is later: the nearest such, at the deepest context. The walk keeps its
            # own address, so it finds its document's stream again one token on. When that
            # occurrence stands as far into its document as `address` into this one, it is a
            # copy of this document (the same page under two names), followed as such.
            for d, toks, seqs in layers:
                later = [(s, t) for t, s in zip(toks, seqs, strict=True) if s > address]
                if later:
                    s, t = min(later)
                    copied = s + 1 if self._aligned(address, s) else None
                    return Step(t, state, 0, d, len(toks)), address + 1, "later", copied
        proposed = self.propose(at, taken)
        if proposed is None or proposed.token < 0:
            return proposed, None, "rule", None
        step = proposed
        if address is not None:
            return step, address + 1, "rule", None
        if step.level:
            return step, None, "rule", None
        toks, seqs = entries(keys[step.depth])
        nxt = seqs[toks.index(step.token)] + 1 if step.token in toks else None
        return step, nxt, "rule", None

    def _aligned(self, address: int, other: int) -> bool:
        """Whether two learned addresses stand at the same offset into their documents."""
        index, end = self.memory.index, self.memory.next_seq
        mine, theirs = index.document_of(address, end), index.document_of(other, end)
        return (mine is not None and theirs is not None
                and address - mine[1] == other - theirs[1])

    def _verified_among(self, at: PathState, keys: list[int], address: int
                        ) -> tuple[int, int, int]:
        """`_verified` over the tokens of the deepest of the path's contexts that holds any:
        the token, that depth and how many tokens the context holds; (-1, 0, 0): none."""
        passive = self.memory.passive
        store = passive.view()
        return kernels.verified_among(store, self._array(keys), self.top,
                                      np.asarray(at.tokens[1:], dtype=np.int64), address,
                                      self._levels, context.KEY_SHIFT)

    def _verified(self, at: PathState, candidates: list[int], address: int) -> int:
        """The candidate after which the token learned at `address` follows (-1: none): where
        every context of the token said at `address - 1` moved on to a later occurrence, the
        next token's contexts, which end with it, may still hold `address` and so name it."""
        passive = self.memory.passive
        store = passive.view()
        return kernels.verified(store, np.asarray(at.tokens[1:], dtype=np.int64),
                                np.asarray(candidates, dtype=np.int64), address, self._levels,
                                context.KEY_SHIFT)

    def _halts(self, step: Step | None, trace: Trace) -> bool:
        """Whether emission stops at this step (an exhausted ladder, a loop, a learned end),
        with the reason in the trace; the step is recorded either way."""
        if step is None:
            trace.halted = "exhausted"
            return True
        if step.token < 0:
            trace.halted = "loop"
            return True
        trace.steps.append(step)
        if step.token == self.end_token:
            trace.halted = "end"
            return True
        return False

    def emit(self, at: PathState, max_tokens: int, trace: Trace) -> Iterator[int]:
        """Tokens from `at` until a learned end, `max_tokens`, or an exhausted ladder."""
        taken: set[tuple[int, int]] = set()
        for _ in range(max_tokens):
            step = self.propose(at, taken)
            if self._halts(step, trace):
                return
            assert step is not None
            yield step.token
            at = self.advance(at, step.token)
        trace.halted = "length"
