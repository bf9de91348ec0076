"""Content addressing: which learned document and passage a question is about.

Learning hands every batch of tokens to the `ContentIndex` together with the documents that start
in it (a file's path, "<stdin>", a conversation message). The index cuts the stream into *passages*
— a paragraph (ending at a token that holds a blank line), a document's end, or a long paragraph's
next word start after `PASSAGE_CAP` tokens — and keeps, per passage, its address in the learned
stream (the sequence number of its first token, the same numbering the passive memory's recency
uses), its document, its length in words and the path before it (its last tokens and boundary
state), so generation can start exactly there. Words are ASCII letters and digits, lower-cased,
with a plural "s" dropped; stop words are left out. Each word is hashed (crc32) to a term, and the
postings (term → passages, with the count in each) make BM25 over passages and over documents
possible. Only counting statistics are used: no weights are learned.

A passage is indexed once it is closed, so the index does not depend on where batches end: the
tokens of the open passage are carried (and saved in the snapshot) until it closes. Postings of
recent batches are kept in a few runs, merged into one as they grow (like a log-structured
tree), and written as one sorted run at compaction, so the same input gives the same bytes.
"""

import json
import re
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..learn import Paths, PathState
from ..vocab import Vocab
from . import words

#: The first tokens of each passage are kept as they were learned: a passage often starts where
#: many do (a document's start, a heading after a blank line), and there passive memory holds
#: only the latest occurrence; a few tokens in, the path is the passage's own.
PREFIX = 8
PASSAGE_CAP = 192  # tokens: a longer paragraph is cut at the next word start after this many
MAX_TF = 255
K1, B = 1.2, 0.75  # BM25's usual constants
INDEX_FORMAT = 1

#: Words that frame a question or a request rather than name its subject: they count at a fifth
#: of their weight. Other common words count fully; BM25's IDF already makes them cheap in text,
#: and in a document's name ("with", "for") they are the subject.
FRAMING = frozenset("""
a an the of to on at by what how do does did i me my you your is are was be can could would
should please tell
about explain describe show give why when where which who whom mean means meant want know
""".split())
PREPOSITIONS = frozenset("for with about in on to from of by at into".split())
FRAMING_WEIGHT = 0.2
NAME_BOOST = 2.0  # a question word in a document's name counts this much more than in its text
#: ...and a quarter more when the name holds it as typed, before stemming: "https" then names
#: apt-transport-https, not apt-transport-http, which it is stemmed like
EXACT_NAME_BOOST = 0.5
_WORD = re.compile(rb"[a-z0-9_]+")
_LOWER = bytes(range(256)).translate(bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"))


def normal(word: str) -> str:
    """A word as the index keeps it: lower-case, with a light stemming so that "refill",
    "refilling", "refilled" and "refills" meet ("-ing", "-ed", a plural "s", a final "e")."""
    w = word.lower()
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def term_id(word: str) -> int:
    """The 32-bit term of a normalised word (0 is never a term)."""
    return zlib.crc32(word.encode()) or 1


def exact_term(word: str) -> int:
    """The term of a word as typed (lower-cased, not stemmed), for names only."""
    return term_id("=" + word)


def raw_words(text: str) -> list[str]:
    return [w.decode() for w in _WORD.findall(text.encode("utf-8", "replace").translate(_LOWER))]


def words_of(text: str) -> list[str]:
    return [normal(w) for w in raw_words(text)]


def query_terms(text: str) -> dict[int, tuple[str, float]]:
    """The terms of a question, each with the word that gave it and its weight, in order."""
    out: dict[int, tuple[str, float]] = {}
    words = raw_words(text)
    for i, word in enumerate(words):
        # a preposition that ends a question frames it ("What is X for?")
        framing = word in FRAMING or (i == len(words) - 1 and i > 0 and word in PREPOSITIONS)
        out.setdefault(term_id(normal(word)), (word, FRAMING_WEIGHT if framing else 1.0))
    return out


@dataclass
class Hit:
    """The passage a question is about."""

    passage: int
    start: int  # its first token's address in the learned stream
    path: tuple[int, ...]  # the path before it, `PathState.packed()`
    fresh: bool  # it starts a document
    prefix: list[int]  # its first tokens, as learned
    document: str
    doc_start: int
    doc_end: int  # address just past the document (or the learned stream's end)
    terms: list[str]  # question words found in the document
    missing: list[str]  # question words the memory has never seen
    coverage: float  # share of the question's IDF weight the document matches
    score: float


@dataclass
class _Runs:
    """Postings as a few sorted runs: (term << 32 | passage) words and their counts."""

    keys: list[npt.NDArray[np.uint64]] = field(default_factory=list)
    tfs: list[npt.NDArray[np.uint8]] = field(default_factory=list)

    def add(self, keys: npt.NDArray[np.uint64], tfs: npt.NDArray[np.uint8]) -> None:
        if not len(keys):
            return
        self.keys.append(keys)
        self.tfs.append(tfs)
        # merge while the newest run is at least half the one before: O(log n) runs
        while len(self.keys) > 1 and 2 * len(self.keys[-1]) >= len(self.keys[-2]):
            k = np.concatenate(self.keys[-2:])
            t = np.concatenate(self.tfs[-2:])
            order = np.argsort(k, kind="stable")
            self.keys[-2:], self.tfs[-2:] = [k[order]], [t[order]]

    def merged(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint8]]:
        while len(self.keys) > 1:
            k = np.concatenate(self.keys[-2:])
            t = np.concatenate(self.tfs[-2:])
            order = np.argsort(k, kind="stable")
            self.keys[-2:], self.tfs[-2:] = [k[order]], [t[order]]
        if not self.keys:
            return np.empty(0, np.uint64), np.empty(0, np.uint8)
        return self.keys[0], self.tfs[0]

    def lookup(self, term: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        lo_key, hi_key = np.uint64(term << 32), np.uint64((term + 1) << 32)
        pids, tfs = [], []
        for keys, counts in zip(self.keys, self.tfs, strict=True):
            lo, hi = int(keys.searchsorted(lo_key)), int(keys.searchsorted(hi_key))
            if hi > lo:
                pids.append((keys[lo:hi] & np.uint64(0xFFFFFFFF)).astype(np.int64))
                tfs.append(counts[lo:hi].astype(np.int64))
        if not pids:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(pids), np.concatenate(tfs)

    def __len__(self) -> int:
        return sum(len(k) for k in self.keys)


def _holding(vocab: Vocab, pattern: bytes) -> npt.NDArray[np.bool_]:
    """Which tokens' bytes hold `pattern`."""
    data = np.frombuffer(vocab.blob, np.uint8)
    out = np.zeros(vocab.size, dtype=bool)
    k = len(pattern)
    if len(data) < k:
        return out
    hit = np.ones(len(data) - k + 1, dtype=bool)
    for j, byte in enumerate(pattern):
        hit &= data[j : len(data) - k + 1 + j] == byte
    at = np.flatnonzero(hit)
    token = np.searchsorted(vocab.offsets, at, side="right") - 1
    whole = at + k <= vocab.offsets[token + 1]  # not across two tokens
    out[token[whole]] = True
    return out & vocab.has_bytes.astype(bool)


class ContentIndex:
    """Documents, passages and postings of one memory (see the module docstring)."""

    def __init__(self, vocab: Vocab, depth: int, end_token: int, archetype: int) -> None:
        self.vocab, self.depth, self.end_token, self.archetype = vocab, depth, end_token, archetype
        # a token that ends a paragraph (it holds a blank line), one that starts a word (with a
        # space or newline): numpy over the vocabulary's bytes (a loop took 0.3 s per open)
        self.para_end = _holding(vocab, b"\n\n") | _holding(vocab, b"\r\n\r\n")
        data = np.frombuffer(vocab.blob, np.uint8)
        starts = vocab.offsets[:-1]
        some = vocab.has_bytes & (vocab.offsets[1:] > starts)
        first = data[np.minimum(starts, max(len(data) - 1, 0))] if len(data) else starts
        self.word_start = some & np.isin(first, np.frombuffer(b" \n\t", np.uint8))
        self.para_end[end_token] = True
        self.lock = threading.Lock()  # readers take a consistent view while a batch is added
        self.blob = np.frombuffer(vocab.blob, np.uint8)  # every token's bytes, for `words`
        self._loading: Future[None] | None = None  # a snapshot's index being decoded
        self._clear()

    def load_later(self, decode: Callable[[], dict[str, Any]]) -> None:
        """Load the arrays `decode` gives in a thread; every use of the index waits for them
        (and raises what decoding raised)."""
        self._settled()
        loading: Future[None] = Future()

        def run() -> None:
            try:
                self._load(decode())
                loading.set_result(None)
            except BaseException as exc:  # noqa: BLE001 (handed to whoever uses the index)
                loading.set_exception(exc)

        self._loading = loading
        threading.Thread(target=run, name="gyrosi-index-load", daemon=True).start()

    def _ready(self) -> None:
        if self._loading is not None:
            self._loading.result()

    def _settled(self) -> None:
        """Wait for a load in flight, whatever it found: what comes next replaces it."""
        if self._loading is not None:
            self._loading.exception()
            self._loading = None

    def clear(self) -> None:
        self._settled()
        with self.lock:
            self._clear()

    def _clear(self) -> None:
        self.doc_names: list[str] = []
        self.name_docs: dict[int, list[int]] = {}  # term -> documents whose name holds it
        self.doc_start = np.empty(0, np.int64)
        self.doc_words = np.empty(0, np.int64)
        self.p_start = np.empty(0, np.int64)
        self.p_doc = np.empty(0, np.int32)
        self.p_words = np.empty(0, np.int32)
        self.p_path = np.empty((0, self.depth + 1), np.int32)
        self.p_fresh = np.empty(0, bool)
        self.p_prefix = np.empty((0, PREFIX), np.int32)
        # passages and postings closed since the last `_flush` (appending to numpy arrays one
        # passage at a time would copy them every time)
        self._pending: list[tuple[int, int, tuple[int, ...], bool, npt.NDArray[np.int64]]] = []
        self.runs = _Runs()
        self.df_cache: dict[int, int] = {}
        # the open passage: its tokens so far, where it starts, the path before it, its document
        self.open_tokens = np.empty(0, np.int64)
        self.open_start = 0
        self.open_path: tuple[int, ...] = PathState.start_packed(self.depth, self.archetype)
        self.open_fresh = True
        self.open_doc = -1
        self.break_next = False  # the last token learned ended a paragraph

    # --- learning ---------------------------------------------------------------------------

    def add(self, tokens: npt.NDArray[np.int64], seq0: int, path_at: Paths,
            docs: list[tuple[int, str]]) -> None:
        """Index a batch: `tokens` at addresses `seq0`…, `path_at` the path before each token,
        `docs` (offset, name) of the documents that start in it (a message start without a name
        is an unnamed document)."""
        self._ready()
        n = len(tokens)
        if n == 0:
            return
        named = dict(docs)
        fresh = np.zeros(n, dtype=bool)
        fresh[1:] = tokens[:-1] == self.end_token
        fresh[0] = path_at(0).fresh
        brk = fresh.copy()
        brk[1:] |= self.para_end[tokens[:-1]]
        brk[0] |= self.break_next
        word_starts = np.flatnonzero(self.word_start[tokens])
        with self.lock:
            # where passages open in this batch (and the document each one starts, if any)
            opens: list[int] = []
            doc_at: list[str | None] = []
            held = len(self.open_tokens)  # tokens in the open passage
            pos = 0  # tokens before `pos` are closed or in the open passage
            for b in np.flatnonzero(brk).tolist() + [n]:
                while held + (b - pos) > PASSAGE_CAP:  # cut at a word start
                    k = int(np.searchsorted(word_starts, pos + max(1, PASSAGE_CAP - held)))
                    if k == len(word_starts) or word_starts[k] >= b:
                        break
                    pos, held = int(word_starts[k]), 0
                    opens.append(pos)
                    doc_at.append(None)  # a cut is never a message start
                held += b - pos
                if b < n:
                    opens.append(b)
                    doc_at.append(named.get(b, "") if fresh[b] else None)
                    held = 0
                pos = b
            paths, path_fresh = path_at.packed(np.asarray(opens, np.int64))
            rows, starts = paths.tolist(), path_fresh.tolist()
            self._extend(tokens[: opens[0] if opens else n])
            for i, j in enumerate(opens):
                self._close()
                if (name := doc_at[i]) is not None:
                    self._new_doc(name, seq0 + j)
                self.open_start, self.open_path, self.open_fresh = seq0 + j, tuple(rows[i]), \
                    starts[i]
                self.open_tokens = tokens[j : opens[i + 1] if i + 1 < len(opens) else n]
            self.break_next = bool(self.para_end[tokens[-1]])
            if self.break_next:  # the passage is complete: searchable now, not at the next one
                self._close()
            self._flush()

    def _extend(self, tokens: npt.NDArray[np.int64]) -> None:
        if len(tokens):
            self.open_tokens = np.concatenate([self.open_tokens, tokens])

    def _new_doc(self, name: str, start: int) -> None:
        words = raw_words(name)
        terms = {term_id(normal(w)) for w in words} | {exact_term(w) for w in words}
        for t in terms:
            self.name_docs.setdefault(t, []).append(len(self.doc_names))
        self.doc_names.append(name)
        self.doc_start = np.append(self.doc_start, start)
        self.doc_words = np.append(self.doc_words, 0)
        self.open_doc = len(self.doc_names) - 1

    def _close(self) -> None:
        """Close the open passage (if it holds any tokens); its words are counted at `_flush`,
        with those of every passage closed beside it."""
        if not len(self.open_tokens):
            return
        if self.open_doc < 0:
            self._new_doc("", self.open_start)
        self._pending.append((self.open_start, self.open_doc, self.open_path, self.open_fresh,
                              self.open_tokens))
        self.open_tokens = np.empty(0, np.int64)

    def _flush(self) -> None:
        """Move the passages closed since the last flush into the arrays, their words counted
        together: a passage at a time, Python's per-call costs were most of learning's index."""
        if not self._pending:
            return
        start, doc, paths, fresh, tokens = zip(*self._pending, strict=True)
        self._pending = []
        lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        toks = np.concatenate(tokens)
        counts, keys, tfs = self._count(toks, lengths, len(self.p_start))
        at = np.arange(PREFIX)
        starts = np.cumsum(lengths) - lengths
        prefix = np.where(at < lengths[:, None],
                          toks[np.minimum(starts[:, None] + at, len(toks) - 1)], -1)
        docs = np.asarray(doc, np.int32)
        np.add.at(self.doc_words, docs, counts)
        self.p_start = np.concatenate([self.p_start, np.asarray(start, np.int64)])
        self.p_doc = np.concatenate([self.p_doc, docs])
        self.p_words = np.concatenate([self.p_words, counts.astype(np.int32)])
        self.p_path = np.vstack([self.p_path, np.asarray(paths, np.int32)])
        self.p_fresh = np.concatenate([self.p_fresh, np.asarray(fresh, bool)])
        self.p_prefix = np.vstack([self.p_prefix, prefix.astype(np.int32)])
        self.runs.add(keys, tfs)

    def _count(self, toks: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], first: int
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.uint8]]:
        """Words per passage, and the postings of passages `first`, `first + 1`, ... (sorted
        (term << 32 | passage) keys, their counts), of passages `lengths` tokens long one after
        the other in `toks` (`words`)."""
        terms, pids, counts = words.passage_terms(toks, lengths, self.blob, self.vocab.offsets,
                                                  words.WORD, words.CRC)
        keys, tfs = np.unique((terms.astype(np.uint64) << np.uint64(32)) |
                              (pids + first).astype(np.uint64), return_counts=True)
        return counts, keys, np.minimum(tfs, MAX_TF).astype(np.uint8)

    # --- searching --------------------------------------------------------------------------

    def search(self, question: str, learned_end: int) -> Hit | None:
        """The passage that best answers `question` (None: no content word, or nothing
        indexed). BM25 over passages plus BM25 of the passage's document, so a passage of the
        document that is about the question wins over a stray mention elsewhere."""
        self._ready()
        wanted = query_terms(question)
        with self.lock:
            self._flush()
            n_p = len(self.p_start)
            if not wanted or n_p == 0:
                return None
            n_d = len(self.doc_names)
            avg_p = max(1.0, float(self.p_words.mean()))
            avg_d = max(1.0, float(self.doc_words.mean()))
            p_score = np.zeros(n_p)
            d_score = np.zeros(n_d)
            found: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
            idf_all: dict[int, float] = {}
            for term, (_, weight) in wanted.items():
                pids, tfs = self.runs.lookup(term)
                found[term] = (pids, tfs)
                df = len(pids)
                idf = weight * float(np.log1p((n_p - df + 0.5) / (df + 0.5)))
                # a word the memory never saw weighs, in the coverage, like one seen once
                idf_all[term] = idf if df else weight * float(np.log1p((n_p - 0.5) / 1.5))
                named = self.name_docs.get(term, [])
                if named:
                    n_idf = float(np.log1p((n_d - len(named) + 0.5) / (len(named) + 0.5)))
                    d_score[named] += NAME_BOOST * weight * n_idf
                    exact = self.name_docs.get(exact_term(wanted[term][0]), [])
                    if exact and len(exact) < len(named):  # the typed form tells them apart
                        d_score[exact] += EXACT_NAME_BOOST * weight * n_idf
                if not df:
                    continue
                norm = K1 * (1 - B + B * self.p_words[pids] / avg_p)
                np.add.at(p_score, pids, idf * tfs * (K1 + 1) / (tfs + norm))
                docs = self.p_doc[pids]
                dtf = np.bincount(docs, weights=tfs, minlength=n_d)
                hit_docs = np.flatnonzero(dtf)
                d_df = len(hit_docs)
                d_idf = weight * float(np.log1p((n_d - d_df + 0.5) / (d_df + 0.5)))
                dn = K1 * (1 - B + B * self.doc_words[hit_docs] / avg_d)
                d_score[hit_docs] += d_idf * dtf[hit_docs] * (K1 + 1) / (dtf[hit_docs] + dn)
            total = p_score + d_score[self.p_doc]
            best = int(np.argmax(total))  # ties: the earliest passage
            if total[best] <= 0:
                return None
            doc = int(self.p_doc[best])

            def holds(t: int) -> bool:  # the document's text or name holds the term
                pids = found[t][0]
                return doc in self.name_docs.get(t, ()) or bool((self.p_doc[pids] == doc).any())

            terms = [wanted[t][0] for t in found if holds(t)]
            missing = [wanted[t][0] for t, (pids, _) in found.items()
                       if not len(pids) and not self.name_docs.get(t) and wanted[t][1] == 1.0]
            # how much of the question's subject (its words that are not framing) the
            # document holds, by IDF
            subject = [t for t in found if wanted[t][1] == 1.0] or list(found)
            weight = sum(idf_all[t] for t in subject)
            matched = sum(idf_all[t] for t in subject if holds(t))
            doc_end = int(self.doc_start[doc + 1]) if doc + 1 < n_d else learned_end
            return Hit(best, int(self.p_start[best]),
                       tuple(int(x) for x in self.p_path[best]), bool(self.p_fresh[best]),
                       [int(t) for t in self.p_prefix[best] if t >= 0], self.doc_names[doc],
                       int(self.doc_start[doc]), doc_end, terms, missing,
                       matched / weight if weight else 0.0, float(total[best]))

    def document_of(self, address: int, learned_end: int) -> tuple[str, int, int] | None:
        """(name, start, end) of the document holding a learned address."""
        self._ready()
        with self.lock:
            d = int(np.searchsorted(self.doc_start, address, side="right")) - 1
            if d < 0:
                return None
            end = int(self.doc_start[d + 1]) if d + 1 < len(self.doc_start) else learned_end
            return self.doc_names[d], int(self.doc_start[d]), end

    # --- persistence ------------------------------------------------------------------------

    def arrays(self) -> dict[str, Any]:
        """Everything the snapshot keeps, postings merged into one sorted run."""
        self._ready()
        with self.lock:
            self._flush()
            keys, tfs = self.runs.merged()
            return {
                "doc_names": np.frombuffer(json.dumps(self.doc_names).encode(), np.uint8),
                "doc_start": self.doc_start, "doc_words": self.doc_words,
                "p_start": self.p_start, "p_doc": self.p_doc, "p_words": self.p_words,
                "p_path": self.p_path, "p_fresh": self.p_fresh, "p_prefix": self.p_prefix,
                # sorted keys: their differences are small and compress well (see `files`)
                "post_keys": np.diff(keys, prepend=np.uint64(0)), "post_tfs": tfs,
                "open_tokens": self.open_tokens,
                "open": np.asarray([self.open_start, int(self.open_fresh), self.open_doc,
                                    int(self.break_next), *self.open_path], np.int64),
            }

    def load(self, arrays: dict[str, Any]) -> None:
        self._settled()
        self._load(arrays)

    def _load(self, arrays: dict[str, Any]) -> None:
        with self.lock:
            self._clear()
            if not arrays:
                return
            for name in json.loads(bytes(arrays["doc_names"]).decode()):
                self._new_doc(name, 0)
            self.doc_start, self.doc_words = arrays["doc_start"], arrays["doc_words"].copy()
            self.p_start, self.p_doc = arrays["p_start"], arrays["p_doc"]
            self.p_words, self.p_path = arrays["p_words"], arrays["p_path"]
            self.p_fresh = arrays["p_fresh"].astype(bool)
            self.p_prefix = arrays["p_prefix"]
            self.runs = _Runs()
            self.runs.add(np.cumsum(arrays["post_keys"], dtype=np.uint64), arrays["post_tfs"])
            self.open_tokens = arrays["open_tokens"].astype(np.int64)
            self.open_doc = -1
            head = arrays["open"].tolist()
            self.open_start, self.open_fresh, self.open_doc = head[0], bool(head[1]), head[2]
            self.break_next, self.open_path = bool(head[3]), tuple(head[4:])

    def absorb(self, arrays: dict[str, Any], offset: int) -> None:
        """Append an exported memory's index, its addresses moved by `offset` (see
        `Memory.import_`); its open passage is closed here."""
        self._ready()
        if not arrays:
            return
        other = ContentIndex.__new__(ContentIndex)
        other.__dict__.update(self.__dict__)
        other.lock = threading.Lock()
        other.load(arrays)
        other._close()
        other._flush()
        keys, tfs = other.runs.merged()
        with self.lock:
            self._close()
            self._flush()
            pids = (keys & np.uint64(0xFFFFFFFF)) + np.uint64(len(self.p_start))
            self.runs.add((keys & ~np.uint64(0xFFFFFFFF)) | pids, tfs)
            self.runs.merged()  # (term, passage) order: the new passages come after ours
            base_doc = len(self.doc_names)
            for name in other.doc_names:
                self._new_doc(name, 0)
            self.doc_start = np.concatenate([self.doc_start[:base_doc],
                                             other.doc_start + offset])
            self.doc_words = np.concatenate([self.doc_words[:base_doc], other.doc_words])
            self.p_start = np.concatenate([self.p_start, other.p_start + offset])
            self.p_doc = np.concatenate([self.p_doc, other.p_doc + base_doc]).astype(np.int32)
            self.p_words = np.concatenate([self.p_words, other.p_words])
            self.p_path = np.vstack([self.p_path, other.p_path])
            self.p_fresh = np.concatenate([self.p_fresh, other.p_fresh])
            self.p_prefix = np.vstack([self.p_prefix, other.p_prefix])
            self.open_doc, self.break_next = -1, True

    @property
    def passages(self) -> int:
        self._ready()
        return len(self.p_start) + len(self._pending)

    @property
    def documents(self) -> int:
        self._ready()
        return len(self.doc_names)

    def postings(self) -> int:
        self._ready()
        with self.lock:
            self._flush()
            return len(self.runs)
