"""The compiled step (`kernels.rank`/`weigh`, `deepest`, `learned_at`, `latest`) chooses exactly
what the "evidence" rule and the address chain written out in Python choose, weight for weight, on
a learned memory and on hand-made ties, under every combination of the rule's flags."""

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from gyrosi_engine import context
from gyrosi_engine.engine import Engine
from gyrosi_engine.generate import Generator, Trace
from gyrosi_engine.learn import PathState
from gyrosi_engine.memory.passive import TOKEN_BITS, Columns
from gyrosi_engine.settings import GyroConfig

FLAGS = list(itertools.product((False, True), repeat=3))  # continuation, orbit, deepest only
FLAG_IDS = ["cont{}-orbit{}-deep{}".format(*map(int, f)) for f in FLAGS]
#: the memory as learned (its discounts on these topics are the defaults 0.5, 1, 1.5: every sum
#: is exact), and with discounts whose sums round (so the order and compensation of the sums are
#: tested too) and a cap of 16 tokens a context (so contexts are read as the cap will leave them)
ROUNDING = (0.6180339887498949, 1.2247448713915890, 1.7320508075688772)
VARIANTS = [(None, None), (ROUNDING, 16)]
VARIANT_IDS = ["own", "rounding-cap16"]


def reference_weights(gen: Generator, keys: list[int], deepest: int
                      ) -> tuple[dict[int, float], dict[int, int], list[int]]:
    """The rule as Python (the engine's code before the kernel): weights, recencies and the
    deepest non-empty context's tokens."""
    passive = gen.memory.passive
    discount = (0.0, *passive.discounts())
    weight: dict[int, float] = {}
    recency: dict[int, int] = {}
    top: list[int] = []
    for d in range(0 if gen.orbit_evidence or not deepest else 1, deepest + 1):
        tokens, seqs, counts, spreads = passive.evidence(keys[d])
        if not len(tokens):
            continue
        if d < deepest and gen.continuation and spreads.any():
            counts = spreads
        total = float(counts.sum())
        cut = [discount[min(c, 3)] for c in counts.tolist()]
        down = sum(cut) / total
        for w in weight:
            weight[w] *= down
        for t, c, q, x in zip(tokens.tolist(), counts.tolist(), seqs.tolist(), cut,
                              strict=True):
            weight[t] = weight.get(t, 0.0) + max(c - x, 0.0) / total
            if q > recency.get(t, -1):
                recency[t] = q
        top = tokens.tolist()
    return weight, recency, top


def reference_choice(gen: Generator, state: int, keys: list[int], deepest: int,
                     taken: set[tuple[int, int]] | None = None) -> int:
    weight, recency, top = reference_weights(gen, keys, deepest)
    if taken is not None:
        key = keys[deepest]
        if not any((key, t) not in taken for t in top):
            return -1
        weight = {t: v for t, v in weight.items() if (key, t) not in taken}
    if gen.deepest_only:
        weight = {t: weight[t] for t in top if t in weight}
    if not weight:
        return -1
    best = max(weight.values())
    tied = [t for t, v in weight.items() if v == best]
    if len(tied) > 1 and gen.physics_ties:
        tied = [t for t in tied if gen.admissible(state, t)] or tied
    return max(tied, key=lambda t: (recency.get(t, -1), -t))


class ReferenceGenerator(Generator):
    """The generator with the Python rule, deepest-context search and chain lookups, and no
    kept keys."""

    def keys(self, at: PathState) -> list[int]:
        return context.path_keys(at.tokens, int(self.orbit_of[at.state]), self.levels)

    def _chained(self, keys: list[int], address: int) -> tuple[int, int, int]:
        learned_at = self.memory.passive.learned_at
        for d in range(self.top, 0, -1):
            token, n = learned_at(keys[d], address)
            if token >= 0:
                return token, d, n
        return -1, 0, 0

    def _chain(self, at: PathState, token: int) -> tuple[int, int]:
        keys = self.keys(at)
        if at.address >= 0:
            learned = self._chained(keys, at.address + 1)[0]
            if learned == token or (learned < 0 and self._verified(at, [token],
                                                                   at.address + 2) >= 0):
                return at.address + 1, at.run + 1
        address_of = self.memory.passive.address_of
        for d in range(self.top, 0, -1):
            address = address_of(keys[d], token)
            if address >= 0:
                return address, d + 1
        return -1, 0

    def weigh(self, state: int, keys: list[int], deepest: int,
              taken: set[tuple[int, int]] | None = None) -> int:
        return reference_choice(self, state, keys, deepest, taken)

    def _deepest(self, keys: list[int], most: int) -> tuple[int, list[int]]:
        for d in range(min(most, self.top), 0, -1):
            if cands := self._lookup(keys[d]):
                return d, cands
        return 0, []


def set_flags(gen: Generator, continuation: bool, orbit: bool, deepest_only: bool) -> None:
    gen.continuation, gen.orbit_evidence, gen.deepest_only = continuation, orbit, deepest_only


def pair(monkeypatch: pytest.MonkeyPatch, engine: Engine, variant: "Variant",
         flags: tuple[bool, bool, bool]) -> tuple[Generator, "ReferenceGenerator"]:
    """The engine's generator and the Python reference over the same memory, the same flags."""
    use(monkeypatch, engine, variant)
    gen = engine.generator
    reference = ReferenceGenerator(engine.memory, gen.addresses)
    set_flags(gen, *flags)
    set_flags(reference, *flags)
    return gen, reference


def kernel_weights(gen: Generator, keys: list[int], deepest: int
                   ) -> tuple[dict[int, float], dict[int, int]]:
    from gyrosi_engine import kernels

    p = gen.memory.passive
    tokens, weights, recency, _ = kernels.weigh(
        p.view(), np.asarray(keys, np.uint64),
        0 if gen.orbit_evidence or not deepest else 1, deepest, p.per_context,
        np.array((0.0, *p.discounts())), gen.continuation, gen.deepest_only)
    return (dict(zip(tokens.tolist(), weights.tolist(), strict=True)),
            dict(zip(tokens.tolist(), recency.tolist(), strict=True)))


@pytest.fixture(scope="module")
def pydoc(tmp_path_factory: pytest.TempPathFactory, built_home: Path
          ) -> tuple[Engine, list[list[int]]]:
    """An engine that learned most pydoc topics (each a message) and the token streams of the
    rest, plus a few learned ones (held-out and recalled positions)."""
    from pydoc_data.topics import topics

    home = tmp_path_factory.mktemp("weigh-home")
    (home / "atlas").symlink_to(built_home / "atlas")
    # depth 8: levels 1-6 and 8 (one skipped length), and walks short enough to close loops
    engine = Engine(GyroConfig(starter=False, depth=8), home=home)
    texts = list(topics.values())
    engine.learn_texts(texts[:-8])
    engine.memory.compact()  # the per-context cap, as a memory that was opened again has it
    streams = [engine.encode(t)[:250] for t in texts[-8:] + texts[:4]]
    return engine, streams


Variant = tuple[tuple[float, float, float] | None, int | None]


def use(monkeypatch: pytest.MonkeyPatch, engine: Engine, variant: Variant) -> None:
    discounts, cap = variant
    if discounts is not None:
        monkeypatch.setattr(engine.memory.passive, "discounts", lambda: discounts)
    if cap is not None:
        monkeypatch.setattr(engine.memory.passive, "per_context", cap)


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_kernel_weighs_every_context_of_a_learned_memory_as_python_does(
        pydoc: tuple[Engine, list[list[int]]], flags: tuple[bool, bool, bool],
        variant: Variant, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, streams = pydoc
    gen, reference = pair(monkeypatch, engine, variant, flags)
    positions = ties = chained = 0
    for stream in streams:
        at = engine.start()
        for token in stream:
            keys = gen.keys(at)
            found = gen._deepest(keys, gen.top)
            assert found == reference._deepest(keys, gen.top)
            for deepest in {found[0], 0}:
                weight, recency, top = reference_weights(reference, keys, deepest)
                got_weight, got_recency = kernel_weights(gen, keys, deepest)
                chosen = top if gen.deepest_only else weight
                assert got_weight == {t: weight[t] for t in chosen}  # bit for bit
                assert got_recency == {t: recency[t] for t in chosen}
                assert gen.weigh(at.state, keys, deepest) == \
                    reference.weigh(at.state, keys, deepest)
                if chosen:
                    best = max(got_weight.values())
                    ties += sum(v == best for v in got_weight.values()) > 1
            for address in (at.address + 1, positions * 37):
                assert gen._chained(keys, address) == reference._chained(keys, address)
            chained += gen._chained(keys, at.address + 1)[0] == token
            assert gen._chain(at, token) == reference._chain(at, token)
            positions += 1
            after = gen.advance(at, token)
            assert after == reference.advance(at, token)  # the chain's address and run too
            at = after
    # many exact ties met; the learned topics' walks were on their learned stream
    assert positions > 2000 and ties > 20 and chained > 500, (positions, ties, chained)


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_emission_with_monodromy_is_unchanged(
        pydoc: tuple[Engine, list[list[int]]], flags: tuple[bool, bool, bool],
        variant: Variant, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, streams = pydoc
    gen, reference = pair(monkeypatch, engine, variant, flags)
    halts = set()
    for chain in (True, False):
        monkeypatch.setattr(gen, "chain", chain)
        reference.chain = chain
        for stream in streams:
            for cut in (3, 40):
                at = gen.walk(engine.start(), stream[:cut])
                ours, theirs = Trace(), Trace()
                assert list(gen.emit(at, 300, ours)) == list(reference.emit(at, 300, theirs))
                assert ours.halted == theirs.halted
                halts.add(ours.halted)
    assert "loop" in halts  # monodromy ended some walk


@pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
def test_hand_made_ties_and_taken_steps_choose_as_python_does(
        pydoc: tuple[Engine, list[list[int]]], variant: Variant,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A memory of small counts over few tokens (exact ties everywhere, spreads of 0 too), with
    random monodromy sets: the physics tie-break, recency and token id all decide somewhere."""
    engine, _ = pydoc
    use(monkeypatch, engine, variant)
    gen = Generator(engine.memory, engine.generator.addresses)
    reference = ReferenceGenerator(engine.memory, gen.addresses)
    saved = gen.memory.passive.whole(cap=False)
    rng = random.Random(17)
    pool = list(range(300, 340))
    decided = {"physics": 0, "recency": 0}
    cap = gen.memory.passive.per_context
    try:
        for trial in range(300):
            keys = [rng.getrandbits(40) for _ in range(gen.top + 1)]
            entries: dict[int, tuple[int, int, int]] = {}
            seq = 0
            for key in keys:
                if rng.random() < 0.2:
                    continue  # an empty context on the way
                for t in rng.sample(pool, rng.randint(1, 12)):
                    seq += 1
                    # equal recencies across contexts too: the same occurrence, deeper
                    entries[(key << TOKEN_BITS) | t] = (
                        rng.choice((seq, seq % 5)), rng.choice((1, 1, 1, 2, 3, 5)),
                        rng.choice((0, 0, 1, 2, 4)))
            if not entries:
                continue
            ident = np.asarray(sorted(entries), np.uint64)
            rows = [entries[int(i)] for i in ident]
            gen.memory.passive.replace(Columns(
                ident, np.asarray([q << 1 | 1 for q, _, _ in rows], np.uint32),
                np.asarray([c for _, c, _ in rows], np.uint16),
                np.asarray([s for _, _, s in rows], np.uint16)))
            gen.memory.passive.per_context = rng.choice((64, 5, 3))  # 5, 3: read as capped
            deepest, cands = gen._deepest(keys, gen.top)
            assert (deepest, cands) == reference._deepest(keys, gen.top)
            state = rng.randrange(len(gen.ontology))
            for flags in FLAGS:
                set_flags(gen, *flags)
                set_flags(reference, *flags)
                for physics in (True, False):
                    gen.physics_ties = reference.physics_ties = physics
                    weight, recency, top = reference_weights(reference, keys, deepest)
                    taken = {(keys[deepest], t) for t in top if rng.random() < 0.4}
                    for steps in (None, taken):
                        want = reference.weigh(state, keys, deepest, steps)
                        assert gen.weigh(state, keys, deepest, steps) == want, (trial, flags)
                        tied = [t for t, v in weight.items()
                                if v == max(weight.values()) and (t in top or not flags[2])]
                        if len(tied) > 1 and steps is None:
                            fit = [gen.admissible(state, t) for t in tied]
                            if physics and any(fit) and not all(fit):
                                decided["physics"] += 1
                            elif len({recency[t] for t in tied}) > 1:
                                decided["recency"] += 1
    finally:
        gen.memory.passive.replace(saved)
        gen.memory.passive.per_context = cap
    assert decided["physics"] > 10 and decided["recency"] > 10, decided


def test_an_empty_memory_and_a_path_with_no_context(pydoc: tuple[Engine, list[list[int]]]
                                                    ) -> None:
    engine, _ = pydoc
    gen = engine.generator
    keys = gen.keys(PathState((7, 7, 7, 7, 7, 7), 0, False))
    passive = gen.memory.passive
    saved = passive.whole(cap=False)
    try:
        passive.replace(Columns.empty())
        assert gen._deepest(keys, gen.top) == (0, [])
        assert gen.weigh(0, keys, 0) == -1
        assert gen.weigh(0, keys, 0, set()) == -1
    finally:
        passive.replace(saved)
