"""The `gyrosi` backend: Harmony in, an `analysis` trace and a `final` answer from memory out.

Per conversation (`session_id`) the backend keeps how much of the prompt it has read and the
path after the last user message, so a new turn reads only the tokens the turn added. Each user
message is walked from a fresh path, as learning walks a message, so a prompt that repeats the
start of learned text lands on the learned path. User messages are learned after the answer is
generated (learning first would make the message's own learned end the freshest candidate).
"""

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from openai_harmony import HarmonyEncoding, Message, Role

from gyrosi_core.backend import BaseBackend
from gyrosi_core.config import validate_section
from gyrosi_core.harmony import SpecialTokens

from .atlas import RichReporter
from .engine import Engine
from .generate import Trace
from .learn import PathState
from .settings import GyroConfig
from .trace import describe

MAX_SESSIONS = 256


@dataclass
class Session:
    prompt: list[int] = field(default_factory=list)  # the prompt read so far
    at: PathState | None = None  # the path after the last user message
    phase: int = -1  # how it was read (see `Generator.read`)
    pending: list[list[int]] = field(default_factory=list)  # user messages not yet learned


class GyroBackend(BaseBackend):
    """GyroSI: deterministic generation from folded memory on the 788,986-state atlas"""

    speaks_harmony = True
    parallel_sessions = 1  # one engine and one memory per process: turns take their turn

    def __init__(self, config: dict[str, Any], encoding: HarmonyEncoding,
                 engine: Engine | None = None) -> None:
        super().__init__(config, encoding)
        self.settings = validate_section(GyroConfig, config, "backends.gyrosi")
        self.context_length = self.settings.context_length
        self.special = SpecialTokens.of(encoding)
        self.user_header = encoding.encode("user", allowed_special=set())
        self.engine = engine or open_engine(self.settings)
        self.learns = (self.settings.learn_from_users if self.settings.learn_from_users is not None
                       else self.settings.cli)
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.lock = threading.Lock()

    def describe(self) -> str:
        m = self.engine.memory
        return (f"GyroSI engine: {len(m.passive):,} memory entries from {m.tokens_learned:,} "
                f"learned tokens, context depth {m.depth}")

    # --- reading the prompt -----------------------------------------------------------------

    def _session(self, session_id: str | None, tokens: Sequence[int]) -> tuple[Session, int]:
        """The session and where its new tokens start (0: read the whole prompt)."""
        key = session_id or ""
        session = self.sessions.pop(key, None)
        if session is None or tokens[: len(session.prompt)] != session.prompt:
            session = Session()
        self.sessions[key] = session
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return session, len(session.prompt)

    def _user_messages(self, tokens: list[int], start: int) -> list[list[int]]:
        """Content tokens of each complete user message that starts at or after `start`."""
        sp = self.special
        out: list[list[int]] = []
        i, n = start, len(tokens)
        header_len = len(self.user_header)
        while i < n:
            if tokens[i] != sp.start:
                i += 1
                continue
            try:
                m = tokens.index(sp.message, i + 1)
            except ValueError:
                break
            header = tokens[i + 1 : m]
            j = m + 1
            while j < n and tokens[j] not in sp.message_ends:
                j += 1
            if j >= n:
                break  # the open `<|start|>assistant` (or a cut message): not a user message
            if header[:header_len] == self.user_header:
                out.append([t for t in tokens[m + 1 : j] if self.engine.vocab.has_bytes[t]])
            i = j + 1
        return out

    def _read(self, message: list[int]) -> tuple[PathState, int]:
        """Read a user message (see `Generator.read`). Text quoted from the middle of a line
        is learned with the space before its first word, which a typed prompt lacks: when the
        message as typed does not reach the deepest context it could, it is also read with a
        leading space, and the deeper of the two wins."""
        read = self.engine.generator.read
        at, phase, depth = read(message)
        if depth < min(len(message), self.engine.settings.depth) and message:
            text = self.engine.vocab.encoding.decode(message)
            if not text.startswith((" ", "\n")):
                spaced = read(self.engine.encode(" " + text))
                if spaced[2] > depth:
                    at, phase = spaced[0], spaced[1]
        return at, phase

    # --- generating -------------------------------------------------------------------------

    def generate(
        self,
        tokens: Sequence[int],
        *,
        stop_tokens: Sequence[int],
        max_tokens: int,
        temperature: float = 0.0,
        seed: int | None = None,
        session_id: str | None = None,
    ) -> Iterator[int]:
        tokens = list(tokens)
        with self.lock:
            session, start = self._session(session_id, tokens)
            engine = self.engine
            messages = self._user_messages(tokens, start)
            with engine.lock:
                engine.memory.refresh()
                for message in messages:
                    session.at, session.phase = self._read(message)
                at = session.at or engine.start()
                trace = Trace()
                answer = list(engine.generator.emit(at, max(1, max_tokens), trace))
            session.prompt = tokens
            if self.learns:
                session.pending.extend(messages)
            if self.settings.self_reinforce and answer:
                session.pending.append(answer)
            trace.phase = session.phase
            out = self._render(answer, trace, at, max_tokens)
        stops = set(stop_tokens)
        try:
            for count, token in enumerate(out, start=1):
                yield token
                if token in stops or count >= max_tokens:
                    return
        finally:
            self._learn_pending(session)

    def _render(self, answer: list[int], trace: Trace, at: PathState, limit: int) -> list[int]:
        """`<|channel|>analysis…<|end|><|start|>assistant<|channel|>final…<|return|>`, fitted to
        `limit` tokens: the trace takes at most half, the answer what is left."""
        analysis: list[int] = []
        if self.settings.trace:
            lines = describe(self.engine, at, trace, answer).splitlines()
            while lines:
                msg = Message.from_role_and_content(Role.ASSISTANT, "\n".join(lines))
                analysis = self.encoding.render(msg.with_channel("analysis"))[2:]
                if len(analysis) <= limit // 2:
                    break
                lines, analysis = lines[:-1], []
        decode = self.engine.vocab.encoding.decode
        final: list[int] = []
        while True:
            body = decode(answer) if answer else "(nothing I have learned follows this)"
            msg = Message.from_role_and_content(Role.ASSISTANT, body).with_channel("final")
            final = self.encoding.render(msg)
            over = len(analysis) + len(final) - limit - (0 if analysis else 2)
            if over <= 0 or len(answer) <= 1:
                break
            answer = answer[: max(1, len(answer) - over)]
        out = analysis + final if analysis else final[2:]  # the prompt holds `<|start|>assistant`
        out[-1] = self.special.return_
        return out

    def _learn_pending(self, session: Session) -> None:
        if not session.pending:
            return
        pending, session.pending = session.pending, []
        self.engine.learn_prompts(pending)

    def end_session(self, session_id: str) -> None:
        with self.lock:
            self.sessions.pop(session_id, None)

    def close(self) -> None:
        self.engine.close()


def open_engine(settings: GyroConfig) -> Engine:
    """The engine (the atlas is built on first use, with progress), with the starter corpus
    learned into an empty memory."""
    engine = Engine(settings)
    if settings.starter and engine.memory.tokens_learned == 0 and not starter_done(engine):
        learn_starter(engine)
    return engine


def starter_done(engine: Engine) -> bool:
    return (engine.memory.root / "starter.done").exists()


def learn_starter(engine: Engine) -> None:
    """Learn the starter corpus with a progress bar (once per memory)."""
    from . import starter

    docs = list(starter.documents())
    total = sum(len(text.encode()) for _, text in docs)
    with RichReporter() as report:
        report.message("Learning the starter corpus into an empty memory (once)…")
        report.phase("starter corpus", total, "bytes")

        def texts() -> Iterator[str]:
            for _, text in docs:
                yield text
                report.advance(len(text.encode()))

        engine.learn_texts(texts())
    engine.memory.compact()
    (engine.memory.root / "starter.done").write_text(
        "\n".join(name for name, _ in docs) + "\n", encoding="utf-8")

