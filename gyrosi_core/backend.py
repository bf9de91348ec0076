"""The backend contract: token ids in, token ids out.

A backend plugin registers a factory `factory(config: dict, encoding: HarmonyEncoding) -> Backend`
(see `hookspecs.register_backends`). Everything stateful — a KV cache, GyroSI session state — is
the backend's own business, keyed by the `session_id` the turn engine passes with every call;
an optional `end_session(session_id)` is called when that conversation ends (`/reset`, exit).
An optional `parallel_sessions` attribute says how many `generate` calls may run at once from
different threads (the API server's slots per backend); without it, one at a time.

Besides token ids, `generate` may yield `Source` objects: where the answer that follows comes
from. They are not tokens (they count against no limit); the turn engine turns each into a
`SourceCited` event, which `gyrosi generate --json`, the Responses API (a `file_citation`
annotation) and Chat Completions (the message's `annotations`) pass on to clients.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from openai_harmony import HarmonyEncoding


@dataclass(frozen=True)
class Source:
    """A document an answer is taken from, as a backend names it."""

    name: str  # the document's name: a path, "<stdin>", "pydoc topic with", ...
    position: int = 0  # where in the document the quoted passage starts, in tokens
    terms: tuple[str, ...] = ()  # the words of the request that matched it


@runtime_checkable
class Backend(Protocol):
    #: Largest prompt + completion, in tokens, the backend accepts.
    context_length: int
    #: True when the backend promises well-formed Harmony output (the conformance suite checks it).
    speaks_harmony: bool

    def generate(
        self,
        tokens: Sequence[int],
        *,
        stop_tokens: Sequence[int],
        max_tokens: int,
        temperature: float = 0.0,
        seed: int | None = None,
        session_id: str | None = None,
    ) -> Iterator["int | Source"]:
        """Yield completion token ids for the prompt `tokens` (and any `Source` it quotes).

        Stop after yielding a token from `stop_tokens` (the stop token is yielded) or after
        `max_tokens` tokens, whichever comes first. At temperature 0 the output must be
        deterministic; otherwise `seed` makes it reproducible.
        """
        ...

    def describe(self) -> str:
        """One line for `gyrosi plugins` and `/v1/models`."""
        ...

    def close(self) -> None:
        """Release resources (files, threads, caches)."""
        ...


class BaseBackend:
    """Convenience base: sensible defaults for everything but `generate`, which a subclass
    writes with the signature of `Backend.generate`."""

    context_length = 131072
    speaks_harmony = False
    parallel_sessions = 1  # generate() calls that may run at once, from different threads

    def __init__(self, config: dict[str, Any], encoding: HarmonyEncoding) -> None:
        self.config = config
        self.encoding = encoding

    def describe(self) -> str:
        return (self.__doc__ or type(self).__name__).strip().splitlines()[0]

    def end_session(self, session_id: str) -> None:
        """Forget per-conversation state (called on `/reset` and when a conversation closes)."""

    def close(self) -> None:
        pass
