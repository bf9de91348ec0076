"""The content index's words, counted in one compiled pass over a batch's closed passages.

A word is a run of ASCII letters, digits and "_" (lower-cased) inside one passage; its term is
`index.term_id(index.normal(word))`: the same light stemming, then crc32 (zlib's), 0 read as 1.
Done a word at a time in Python, this was as costly as tokenising the text; here the bytes come
straight from the vocabulary's table and the loop holds no GIL, so it runs beside the merge.
"""

import numba
import numpy as np
import numpy.typing as npt


def _crc_table() -> npt.NDArray[np.uint32]:
    """crc32's byte table (the reflected polynomial 0xEDB88320, as zlib's)."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


def _word_table() -> npt.NDArray[np.uint8]:
    """Each byte lower-cased if it belongs to a word, else 0."""
    table = np.zeros(256, dtype=np.uint8)
    for c in b"abcdefghijklmnopqrstuvwxyz0123456789_":
        table[c] = c
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[c] = c + 32
    return table


CRC = _crc_table()
WORD = _word_table()


@numba.njit(cache=True, nogil=True, inline="always")
def _stem(buf: npt.NDArray[np.uint8], s: int, e: int) -> int:
    """Where `index.normal` ends the word buf[s:e] ("-ing", "-ed", a plural "s", a final "e")."""
    n = e - s
    if n > 5 and buf[e - 3] == 105 and buf[e - 2] == 110 and buf[e - 1] == 103:  # ing
        e -= 3
    elif n > 4 and buf[e - 2] == 101 and buf[e - 1] == 100:  # ed
        e -= 2
    elif n > 3 and buf[e - 1] == 115 and buf[e - 2] != 115 and buf[e - 2] != 117 \
            and buf[e - 2] != 105:  # s, but not ss, us, is
        e -= 1
    if e - s > 4 and buf[e - 1] == 101:  # e
        e -= 1
    return e


@numba.njit(cache=True, nogil=True)
def passage_terms(
    tokens: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], blob: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64], word: npt.NDArray[np.uint8], crc: npt.NDArray[np.uint32],
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The term of each word of passages `lengths` tokens long one after the other in `tokens`,
    the passage (0, 1, ...) of each, and the words per passage."""
    n_bytes = 0
    for t in tokens:
        n_bytes += offsets[t + 1] - offsets[t]
    buf = np.empty(n_bytes, dtype=np.uint8)
    terms = np.empty(n_bytes, dtype=np.uint32)  # a word is at least a byte long
    pids = np.empty(n_bytes, dtype=np.int64)
    words = np.zeros(lengths.shape[0], dtype=np.int64)
    out = 0
    k = 0  # the next token
    for p in range(lengths.shape[0]):
        n = 0  # this passage's bytes, mapped by `word`
        for _ in range(lengths[p]):
            t = tokens[k]
            k += 1
            for b in range(offsets[t], offsets[t + 1]):
                buf[n] = word[blob[b]]
                n += 1
        i = 0
        while i < n:
            if buf[i] == 0:
                i += 1
                continue
            s = i
            while i < n and buf[i] != 0:
                i += 1
            h = np.uint32(0xFFFFFFFF)
            for j in range(s, _stem(buf, s, i)):
                h = crc[(h ^ buf[j]) & np.uint32(0xFF)] ^ (h >> np.uint32(8))
            h ^= np.uint32(0xFFFFFFFF)
            terms[out] = h if h != 0 else 1
            pids[out] = p
            out += 1
            words[p] += 1
    return terms[:out], pids[:out], words

