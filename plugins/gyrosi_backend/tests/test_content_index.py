"""The content index counts each passage's words as the module says, a passage at a time, though
learning counts the words of a batch's passages together, in a compiled loop (`memory.words`):
checked against a literal count over the learned stream (`index.normal`, zlib's crc32), and for
independence from where batches end."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gyrosi_engine.memory import files, index, store

from .test_learn_determinism import stdlib_texts
from .test_memory_tiers import engine_at

#: Text that tries the joins: a separator byte and other control bytes in the text itself, words
#: that end one passage and start the next, capitals, non-ASCII letters, a paragraph longer than
#: `index.PASSAGE_CAP` tokens (cut at word starts), an empty document and a nameless one.
AWKWARD = [
    ("awkward/control.txt", "Alpha\x01beta\x02GAMMA\x00delta_epsilon\n\nZeta eta"),
    ("awkward/long.txt", " ".join(f"Word{i % 37}s running" for i in range(400)) + "\n\n"),
    ("awkward/unicode.txt", "Ünïcode wörds and ascii_words\r\n\r\nsécond paragraph\n\n\nend"),
    ("", "a message without a name\n\nwith two paragraphs"),
    ("awkward/stems.txt", "running ring sing tested ed bed classes class bus this his glass "
     "items make made mode a I x_y 42 ___ RUNNING Tests Buses"),
    ("awkward/empty.txt", ""),
]


def literal(engine, texts: list[tuple[str, str]]) -> tuple[list[int], Counter[int]]:
    """Words per passage and (term << 32 | passage) counts, a passage at a time, from the
    learned token stream cut where the index says its passages start."""
    ix = engine.memory.index
    stream = np.concatenate([p[0] if isinstance(p, tuple) else p
                             for p in engine.message_pieces(texts)])
    starts = (ix.p_start - ix.p_start[0]).tolist() + [len(stream)]
    vocab = engine.vocab
    words, post = [], Counter()
    for pid, (lo, hi) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        toks = stream[lo:hi]
        text = vocab.encoding.decode_bytes(toks[vocab.has_bytes[toks]].tolist())
        found = index.words_of(text.decode("latin-1"))  # byte for byte: ASCII words only
        words.append(len(found))
        for term, n in Counter(index.term_id(w) for w in found).items():
            post[term << 32 | pid] = min(n, index.MAX_TF)
    return words, post


@pytest.mark.parametrize("batch", [1 << 17, 97])
def test_each_passage_counts_its_own_words(tmp_path: Path, built_home: Path,
                                           monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    monkeypatch.setattr(store, "BATCH_TOKENS", batch)
    texts = AWKWARD + stdlib_texts(60_000)
    engine = engine_at(tmp_path / "home", built_home)
    try:
        engine.learn_texts(texts)
        arrays = engine.memory.index.arrays()
        words, post = literal(engine, texts)
        assert len(words) > 100
        assert arrays["p_words"].tolist() == words
        keys = np.cumsum(arrays["post_keys"], dtype=np.uint64)
        assert dict(zip(keys.tolist(), arrays["post_tfs"].tolist(), strict=True)) == post
        # every document's words are its passages' words
        assert arrays["doc_words"].tolist() == np.bincount(
            arrays["p_doc"], weights=words, minlength=len(arrays["doc_words"])).tolist()
    finally:
        engine.close()


def test_the_index_does_not_depend_on_where_batches_end(
        tmp_path: Path, built_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = AWKWARD + stdlib_texts(60_000)
    digests = set()
    for batch in (1 << 17, 1000, 97):
        monkeypatch.setattr(store, "BATCH_TOKENS", batch)
        engine = engine_at(tmp_path / str(batch), built_home)
        engine.learn_texts(texts)
        digests.add(files.encode_arrays(engine.memory.index.arrays()))
        engine.close()
    assert len(digests) == 1
