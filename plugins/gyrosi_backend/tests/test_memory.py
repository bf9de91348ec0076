"""Passive memory and learning against literal, byte-by-byte references."""

from pathlib import Path

import numpy as np
import pytest

from gyrosi_engine import context, kernels, physics
from gyrosi_engine.atlas import Atlas
from gyrosi_engine.learn import PathState, Stream
from gyrosi_engine.memory.passive import TOKEN_BITS, Passive, contexts_in, group, histogram
from gyrosi_engine.memory.store import Memory
from gyrosi_engine.vocab import Vocab, vocab

TEXTS = [
    "The cat sat on the mat. The cat sat on the hat. The dog sat on the mat!",
    "Folding is not commutative: fold(a, b) differs from fold(b, a) in general.",
    "The cat sat on the mat. " * 5 + "aaaa bbbb aaaa bbbb",
    "",
    "\u00e9t\u00e9 \u2014 \u4e2d\u6587 \U0001F600 emoji and accents",
    # tokens such as "ов", "ит", "ка" have both masks 0: the zero streak deletes them
    "пров кит ока " * 4,
]


@pytest.fixture(scope="module")
def voc() -> Vocab:
    return vocab()


def end_token(voc: Vocab) -> int:
    return voc.encoding.encode_single_token("<|end|>")


def stream_tokens(voc: Vocab, texts: list[str]) -> np.ndarray:
    end = end_token(voc)
    out: list[int] = []
    for text in texts:
        out += voc.encoding.encode_ordinary(text) + [end]
    return np.asarray(out, dtype=np.int64)


def literal(voc: Vocab, atlas: Atlas, tokens: np.ndarray, depth: int):
    """Learning as the specification words it: walk each byte, fold each intron, count zeros,
    count occurrences; contexts are the last `depth` tokens (START before a message) and the
    orbit of the state."""
    end = end_token(voc)
    arch = atlas.archetype_index
    last, state = [context.START] * depth, arch
    masks: dict[tuple[int, int], int] = {}
    streak: dict[tuple[int, int], int] = {}
    seen: dict[tuple[int, int], int] = {}
    counts: dict[tuple[int, int], int] = {}
    spreads: dict[tuple[int, int], int] = {}
    deleted = 0
    for seq, tok in enumerate(tokens.tolist()):
        keys = context.path_keys(tuple(last), int(atlas.phenomenology[state]),
                                 context.levels(depth))
        created = [(key, tok) not in masks for key in keys]
        for key in keys:
            entry = (key, tok)
            mask = masks.get(entry, physics.GENE_MIC_S)  # a new entry starts from 0xAA
            for intron in voc.introns(tok):
                mask = physics.fold(mask, intron)
            zeros = streak.get(entry, 0) + 1 if mask == 0 else 0
            if zeros >= 2:
                for table in (masks, streak, seen, counts, spreads):
                    table.pop(entry, None)
                deleted += 1
                continue
            masks[entry], streak[entry], seen[entry] = mask, zeros, seq
            counts[entry] = counts.get(entry, 0) + 1
            spreads.setdefault(entry, 0)
        # an entry seen for the first time widens the spread of the one a token shallower
        for d in range(1, len(keys)):
            if created[d] and (keys[d - 1], tok) in masks:
                spreads[(keys[d - 1], tok)] += 1
        if voc.zero_streak[tok]:  # such entries live one occurrence at a time
            for key in keys:
                if (key, tok) in spreads:
                    spreads[(key, tok)] = 1
        if tok == end:
            last, state = [context.START] * depth, arch
        else:
            for intron in voc.introns(tok):
                state = atlas.next_index(state, intron)
            last = last[1:] + [tok]
    return masks, seen, counts, spreads, deleted


def as_dict(voc: Vocab, memory: Passive):
    passive = memory.whole(cap=False)
    tok = (passive.ident & np.uint64((1 << TOKEN_BITS) - 1)).astype(np.int64)
    ctx = passive.ident >> np.uint64(TOKEN_BITS)
    seq = passive.meta >> np.uint32(1)
    odd = (passive.meta & 1).astype(bool)
    masks, seen, counts, spreads = {}, {}, {}, {}
    for c, t, s, o, n, w in zip(ctx.tolist(), tok.tolist(), seq.tolist(), odd.tolist(),
                                passive.count.tolist(), passive.spread.tolist(), strict=True):
        masks[(c, t)] = int(voc.mask_odd[t] if o else voc.mask_even[t])
        seen[(c, t)] = s
        counts[(c, t)] = n
        spreads[(c, t)] = w
    return masks, seen, counts, spreads


def test_token_maps_compose_the_bytes(voc: Vocab) -> None:
    for tid in voc.encoding.encode_ordinary(" hello, world — 中文 \U0001F600 aaaaaaaaaaaa"):
        introns = voc.introns(tid)
        assert physics.run(physics.ARCHETYPE, introns) & physics.HALF_MASK == (
            (physics.ARCHETYPE & physics.HALF_MASK & int(voc.gyration_keep[tid]))
            ^ int(voc.gyration_flip[tid]))
        for start in (0, 0x5C, 0xFF):
            mask = start
            for intron in introns:
                mask = physics.fold(mask, intron)
            assert mask == (start & int(voc.fold_keep[tid])) ^ int(voc.fold_flip[tid])


@pytest.mark.parametrize("depth", [1, 3, 6, 11])
def test_vectorised_learning_equals_the_literal_fold(voc: Vocab, atlas: Atlas, depth: int) -> None:
    tokens = stream_tokens(voc, TEXTS)
    stream = Stream(voc, atlas, depth, end_token(voc))
    keys, _ = stream.keys(tokens, PathState.start(atlas, depth))
    passive = Passive(zero_fold=voc.zero_streak, per_context=10**6)
    passive.merge(group(keys, tokens, 0))
    expected_masks, expected_seen, expected_counts, expected_spreads, deleted = literal(
        voc, atlas, tokens, depth)
    masks, seen, counts, spreads = as_dict(voc, passive)
    assert masks == expected_masks
    assert seen == expected_seen
    assert counts == expected_counts
    assert spreads == expected_spreads
    assert deleted > 0  # the zero streak struck, and the vectorised learner agreed
    odd = (passive.whole(cap=False).meta & 1).astype(bool)
    assert odd.any() and not odd.all()  # repeated text left entries of both parities


def test_chunked_learning_equals_whole(voc: Vocab, atlas: Atlas) -> None:
    tokens = stream_tokens(voc, TEXTS * 3)
    stream = Stream(voc, atlas, 6, end_token(voc))
    whole = Passive(zero_fold=voc.zero_streak)
    keys, after_whole = stream.keys(tokens, PathState.start(atlas, 6))
    whole.merge(group(keys, tokens, 0))
    parts = Passive(zero_fold=voc.zero_streak)
    at, seq = PathState.start(atlas, 6), 0
    for piece in np.array_split(tokens, [3, 4, 40, 41, 97, 200]):
        keys, at = stream.keys(piece, at)
        parts.merge(group(keys, piece, seq))
        seq += len(piece)
    assert at == after_whole
    for mine, theirs in zip(whole.whole(cap=False), parts.whole(cap=False), strict=True):
        assert np.array_equal(mine, theirs)


def test_context_cap_keeps_the_most_recent(voc: Vocab, atlas: Atlas) -> None:
    # After "x" many different tokens follow: the cap keeps the latest `per_context`.
    words = [f" w{i}" for i in range(40)]
    tokens = stream_tokens(voc, ["".join(f" x{w}" for w in words)])
    stream = Stream(voc, atlas, 1, end_token(voc))
    keys, _ = stream.keys(tokens, PathState.start(atlas, 1))
    capped = Passive(zero_fold=voc.zero_streak, per_context=8)
    capped.merge(group(keys, tokens, 0))
    capped.replace(capped.whole(cap=True))  # as compaction leaves it
    full = Passive(zero_fold=voc.zero_streak, per_context=10**6)
    full.merge(group(keys, tokens, 0))
    ctx = full.whole(cap=False).ident >> np.uint64(TOKEN_BITS)
    _, counts = np.unique(ctx, return_counts=True)
    assert counts.max() > 8
    cctx = capped.whole(cap=False).ident >> np.uint64(TOKEN_BITS)
    _, ccounts = np.unique(cctx, return_counts=True)
    assert ccounts.max() == 8
    for c in np.unique(ctx)[counts > 8].tolist():
        assert capped.candidates(c) == full.candidates(c)[:8]


@pytest.mark.parametrize("depth", [4, 16])  # every length keyed; sparse levels past 6
def test_scalar_and_vector_context_keys_agree(voc: Vocab, atlas: Atlas, depth: int) -> None:
    tokens = stream_tokens(voc, TEXTS[:2])
    stream = Stream(voc, atlas, depth, end_token(voc))
    keys, _ = stream.keys(tokens, PathState.start(atlas, depth))
    levels = context.levels(depth)
    assert keys.shape[1] == len(levels) + 1 and (depth > 6) == (len(levels) < depth)
    at = PathState.start(atlas, depth)
    end = end_token(voc)
    for j, tok in enumerate(tokens.tolist()):
        expect = context.path_keys(at.tokens, int(atlas.phenomenology[at.state]), levels)
        assert keys[j].tolist() == expect
        assert kernels.path_keys(np.asarray(at.tokens, dtype=np.int64),
                                 int(atlas.phenomenology[at.state]),
                                 np.asarray(levels, dtype=np.int64),
                                 context.KEY_SHIFT).tolist() == expect
        if tok == end:
            at = PathState.start(atlas, depth)
        else:
            state = at.state
            for intron in voc.introns(tok):
                state = atlas.next_index(state, intron)
            at = at.after(tok, state)


def test_memory_reopens_identically(voc: Vocab, atlas: Atlas, tmp_path: Path) -> None:
    def open_memory() -> Memory:
        return Memory(tmp_path / "memory", voc, atlas, depth=6, per_context=64,
                      end_token=end_token(voc))

    first = open_memory()
    first.learn_stream([stream_tokens(voc, TEXTS[:2]), stream_tokens(voc, TEXTS[2:])])
    replayed = open_memory()  # from the journal
    assert np.array_equal(first.passive.whole(cap=False).ident,
                          replayed.passive.whole(cap=False).ident)
    assert np.array_equal(first.passive.whole(cap=False).meta,
                          replayed.passive.whole(cap=False).meta)
    first.compact()
    compacted = open_memory()  # from the snapshot
    assert np.array_equal(first.passive.whole(cap=False).ident,
                          compacted.passive.whole(cap=False).ident)
    assert compacted.tokens_learned == first.tokens_learned > 0
    # a second process's writes reach the first on its next write or refresh
    compacted.learn_stream([stream_tokens(voc, ["Something new to learn today."])])
    first.refresh()
    assert np.array_equal(first.passive.whole(cap=False).ident,
                          compacted.passive.whole(cap=False).ident)


@pytest.mark.parametrize("n", [0, 1, 100_003])
def test_the_count_histogram_and_context_count_are_the_plain_ones(n: int) -> None:
    rng = np.random.default_rng(n)
    count = rng.choice(np.array([0, 1, 2, 3, 4, 5, 6, 65535], np.uint16), n)
    assert histogram(count).tolist() == np.bincount(np.minimum(count, 5), minlength=6).tolist()
    ident = np.sort(rng.integers(0, 1 << 24, n, dtype=np.uint64) << np.uint64(TOKEN_BITS - 4))
    assert contexts_in(ident) == len(np.unique(ident >> np.uint64(TOKEN_BITS)))


def test_the_grouping_divides_every_record_by_the_width_exactly() -> None:
    """`kernels.reciprocal` stands in for `// width` on every record a batch can hold."""
    records = np.arange(1 << kernels.RECORD_BITS, dtype=np.uint64)
    for width in range(1, 32):
        quotient = (records * kernels.reciprocal(width)) >> np.uint64(40)
        assert np.array_equal(quotient, records // np.uint64(width)), width
