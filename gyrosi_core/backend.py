"""The backend contract: token ids in, token ids out.

A backend plugin registers a factory `factory(config: dict, encoding: HarmonyEncoding) -> Backend`
(see `hookspecs.register_backends`). The turn engine calls `generate(request)` with one frozen
`GenerateRequest`, so the contract can grow (a new field with a default) without breaking any
backend. A backend written against the older contract, `generate(tokens, *, stop_tokens,
max_tokens, temperature, seed, session_id)`, keeps working: `start_generation` calls each kind
the way it is written.

Everything stateful — a KV cache, GyroSI session state — is the backend's own business, keyed by
the `session_id` of every request; an optional `end_session(session_id)` is called when that
conversation ends (`/reset`, exit, an API request served). An optional `parallel_sessions`
attribute says how many `generate` calls may run at once from different threads (the API
server's slots per backend); without it, one at a time.

Besides token ids, `generate` may yield `Source` objects: where the answer that follows comes
from. They are not tokens (they count against no limit); the turn engine turns each into a
`SourceCited` event, which `gyrosi generate --json`, the Responses API (a `file_citation`
annotation) and Chat Completions (the message's `annotations`) pass on to clients.
"""

import functools
import inspect
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


@dataclass(frozen=True)
class GenerateRequest:
    """One call to `Backend.generate`.

    `tokens` is the whole conversation rendered in Harmony, ending with `<|start|>assistant`;
    the backend yields the completion from the first message's header on. It stops after
    yielding a token in `stop_tokens` (`<|return|>`: the answer is complete, `<|call|>`: a tool
    call; the stop token is yielded) or after `max_tokens` tokens. At temperature 0 the output
    must be deterministic; otherwise `seed` makes it reproducible. `session_id` is the same for
    every call of one conversation.
    """

    tokens: Sequence[int]
    stop_tokens: Sequence[int]
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    session_id: str | None = None

    def as_keywords(self) -> dict[str, Any]:
        """The keyword arguments of the older `generate(tokens, **keywords)` contract."""
        return {"stop_tokens": self.stop_tokens, "max_tokens": self.max_tokens,
                "temperature": self.temperature, "seed": self.seed,
                "session_id": self.session_id}


def start_generation(backend: Any, request: GenerateRequest) -> Iterator["int | Source"]:
    """`backend.generate` for `request`, whichever contract the backend is written to."""
    if takes_request(type(backend)):  # type: ignore[arg-type]
        return iter(backend.generate(request))
    return iter(backend.generate(request.tokens, **request.as_keywords()))


@functools.cache
def takes_request(backend_type: Any) -> bool:
    """Whether `generate` takes one `GenerateRequest`: its first parameter is called `request`
    or annotated `GenerateRequest` (else it takes tokens and keywords, the older way)."""
    try:
        params = list(inspect.signature(backend_type.generate).parameters.values())[1:]
    except (AttributeError, TypeError, ValueError):
        return False
    if not params:
        return False
    first = params[0]
    return first.name == "request" or first.annotation in (GenerateRequest, "GenerateRequest")


@runtime_checkable
class Backend(Protocol):
    #: Largest prompt + completion, in tokens, the backend accepts.
    context_length: int
    #: True when the backend promises well-formed Harmony output (the conformance suite checks it).
    speaks_harmony: bool

    def generate(self, request: GenerateRequest) -> Iterator["int | Source"]:
        """Yield completion token ids for `request.tokens` (see `GenerateRequest`), and any
        `Source` the answer quotes."""
        ...

    def describe(self) -> str:
        """One line for `gyrosi plugins` and `/v1/models`."""
        ...

    def close(self) -> None:
        """Release resources (files, threads, caches)."""
        ...


class BaseBackend:
    """Convenience base: sensible defaults for everything but `generate`, which a subclass
    writes as `generate(self, request: GenerateRequest)` (or, the older way, with the keyword
    arguments of `GenerateRequest.as_keywords`)."""

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
