"""`Engine`: the atlas, the vocabulary, memory and the generator of one home, opened together.

The backend, `gyrosi learn`, `gyrosi memory` and the benchmarks all start here, so they agree on
where memory lives and how text becomes tokens.
"""

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gyrosi_core.home import gyrosi_home

from .address import AddressBook
from .atlas import AtlasPaths, Reporter, ensure_atlas
from .generate import Generator
from .learn import CHUNK_CHARS, PathState, chunks
from .learn_map import Mapper, encode_pieces
from .memory.store import Memory, Piece, memory_depth
from .settings import GyroConfig
from .vocab import vocab

END = "<|end|>"
#: tiktoken releases the GIL, so tokenising runs on every core while numpy folds.
TOKENISERS = max(1, min(4, os.cpu_count() or 1))


class Engine:
    def __init__(
        self, settings: GyroConfig | None = None, *, home: Path | None = None,
        report: Reporter | None = None,
    ) -> None:
        self.settings = settings or GyroConfig()
        self.home = home or gyrosi_home()
        self.atlas = ensure_atlas(AtlasPaths(self.home), report)
        self.vocab = vocab()
        self.end_token = self.vocab.encoding.encode_single_token(END)
        root = self.home / "memory"
        #: the longest context in tokens: the configured one, or an existing memory's
        self.depth = memory_depth(root, self.settings.depth, "depth" in
                                  self.settings.model_fields_set)
        self.memory = Memory(
            root, self.vocab, self.atlas, depth=self.depth,
            per_context=self.settings.per_context, per_token=self.settings.per_token,
            end_token=self.end_token,
        )
        self.addresses = AddressBook(self.atlas, self.vocab, root / "addresses.npy")
        self.generator = Generator(self.memory, self.addresses)
        self.lock = threading.RLock()  # one writer of RAM state per process

    def start(self) -> PathState:
        return PathState.start(self.atlas, self.depth)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encoding.encode_ordinary(text)

    def message_pieces(self, texts: Iterable[str | tuple[str, str]],
                       mapper: Mapper | None = None) -> Iterator[Piece]:
        """Token arrays of messages (one per text, each closed by `<|end|>`), tokenised by
        `TOKENISERS` threads (or `mapper`'s workers) a few chunks ahead of the caller, in order.
        A text may come with its document's name, `(name, text)`; the first piece of each
        message carries it ("" when unnamed), so the content index can cite it."""
        if mapper is not None:
            yield from self._mapped_pieces(texts, mapper)
            return
        end = np.asarray([self.end_token], dtype=np.int64)
        encode = self.vocab.encoding.encode_ordinary

        def tokenise(piece: str) -> npt.NDArray[np.int64]:
            return np.asarray(encode(piece), dtype=np.int64) if piece else end

        def pieces() -> Iterator[tuple[str, str | None]]:
            for item in texts:
                name, text = item if isinstance(item, tuple) else ("", item)
                first: str | None = name
                for piece in chunks(text):
                    yield piece, first
                    first = None
                yield "", first  # the message's end (its start too, when it was empty)

        with ThreadPoolExecutor(TOKENISERS, thread_name_prefix="gyrosi-tokenise") as pool:
            pending: deque[tuple[Future[npt.NDArray[np.int64]], str | None]] = deque()
            for piece, name in pieces():
                pending.append((pool.submit(tokenise, piece), name))
                if len(pending) > 2 * TOKENISERS:
                    future, named = pending.popleft()
                    yield future.result(), named
            while pending:
                future, named = pending.popleft()
                yield future.result(), named

    def _mapped_pieces(self, texts: Iterable[str | tuple[str, str]],
                       mapper: Mapper) -> Iterator[Piece]:
        """`message_pieces` with the tokenising done by `mapper`'s workers, a parcel of about
        `CHUNK_CHARS` characters (small documents together, a large one in chunks) a task."""
        def parcels() -> Iterator[list[tuple[str, str | None]]]:
            parcel: list[tuple[str, str | None]] = []
            size = 0
            for item in texts:
                name, text = item if isinstance(item, tuple) else ("", item)
                first: str | None = name
                for piece in [*chunks(text), ""]:  # "": the message's end
                    parcel.append((piece, first))
                    first = None
                    size += len(piece)
                    if size >= CHUNK_CHARS:
                        yield parcel
                        parcel, size = [], 0
            if parcel:
                yield parcel

        end = self.end_token
        for parcel, tokens in mapper.imap(encode_pieces, parcels(),
                                          lambda p: ([piece for piece, _ in p], end)):
            for (_, name), piece in zip(parcel, tokens, strict=True):
                yield piece.astype(np.int64), name

    def learn_texts(
        self, texts: Iterable[str | tuple[str, str]], *,
        on_batch: Callable[[int], None] | None = None,
        on_wait: Callable[[], None] | None = None,
        mapper: Mapper | None = None,
    ) -> None:
        """Learn each text as one message, ending in a learned `<|end|>`; `(name, text)` names
        the document for the content index. The order of `texts` is the learned order: with a
        `mapper` (`learn_map`: local workers or a Dask cluster) the memory is byte for byte the
        one learned without."""
        with self.lock:
            self.memory.learn_stream(self.message_pieces(texts, mapper), on_batch=on_batch,
                                     on_wait=on_wait, mapper=mapper)

    def learn_prompts(self, messages: Iterable[list[int]]) -> None:
        """Learn conversation messages, each from a fresh path but with no `<|end|>`: what
        follows a user's message is the answer, not the end of what there is to say."""
        with self.lock:
            for tokens in messages:
                if tokens:
                    self.memory.learn(np.asarray(tokens, dtype=np.int64), self.start())

    def close(self) -> None:
        """Save the address cache, and fold what this process learned into the snapshot (a
        process that only read writes nothing: it may run on a read-only or full disk)."""
        self.addresses.save()
        if self.memory.learned_here:
            self.memory.compact()
