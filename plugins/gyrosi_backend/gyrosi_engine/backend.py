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

from gyrosi_core.backend import BaseBackend, Source
from gyrosi_core.config import validate_section
from gyrosi_core.harmony import SpecialTokens

from .atlas import RichReporter
from .engine import Engine
from .generate import Trace
from .learn import PathState
from .memory.index import FRAMING, words_of
from .settings import GyroConfig
from .trace import plan_line

MAX_SESSIONS = 256


#: An answer from a passage goes on to the end of the paragraph in which it has said this many
#: tokens (or to `max_tokens`, or the document's end).
ANSWER_LEAST = 48
#: The share of a question's subject (its IDF weight) the chosen document must hold; below it,
#: the engine says it has learned nothing about the words it lacks.
MIN_COVERAGE = 0.5
FOLLOW_UPS = frozenset({
    "go on", "continue", "more", "tell me more", "and then", "keep going", "what else",
    "go ahead", "next", "and", "then", "say more", "more please", "please continue",
    "continue please", "go on please", "and more", "what next",
})
PLANS = {
    "continue": "plan: the prompt continues learned text; go on from where it ends",
    "answer": "plan: answer from the learned passage the request is about",
    "follow-up": "plan: a follow-up; go on where the last answer stopped",
    "nothing": "plan: nothing learned matches the request; say so",
}


def _follow_up(text: str) -> bool:
    return " ".join(words_of(text)) in FOLLOW_UPS


def _listed(words: list[str]) -> str:
    quoted = [f'"{w}"' for w in dict.fromkeys(words)]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


@dataclass
class Plan:
    mode: str  # "continue", "answer", "follow-up", "nothing"
    at: PathState  # where the walk starts
    address: int | None  # the learned address it follows (None: found from the first step)
    end: int | None  # the end of the document it stays in
    prefix: list[int] = field(default_factory=list)
    source: Source | None = None
    terms: tuple[str, ...] = ()
    score: float = 0.0
    says: str = ""  # a fixed sentence instead of a walk


@dataclass
class Session:
    prompt: list[int] = field(default_factory=list)  # the prompt read so far
    at: PathState | None = None  # the path after the last user message
    pending: list[list[int]] = field(default_factory=list)  # user messages not yet learned
    resume: Plan | None = None  # where a follow-up goes on
    plan: Plan | None = None  # the last turn's plan


class GyroBackend(BaseBackend):
    """GyroSI: deterministic generation from folded memory on the 788,986-state atlas"""

    speaks_harmony = True
    #: Generation only reads memory (consistent array pairs, see `Passive.swap`); learning
    #: takes the engine's lock, one batch at a time.
    parallel_sessions = 4

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

    def _read(self, message: list[int]) -> PathState:
        """Read a user message (see `Generator.read`). Text quoted from the middle of a line
        is learned with the space before its first word, which a typed prompt lacks: when the
        message as typed does not reach the deepest context it could, it is also read with a
        leading space, and the deeper of the two wins."""
        read = self.engine.generator.read
        at, depth = read(message)
        if depth < self.engine.generator.reachable(len(message))[0] and message:
            text = self.engine.vocab.encoding.decode(message)
            if not text.startswith((" ", "\n")):
                spaced, spaced_depth = read(self.engine.encode(" " + text))
                if spaced_depth > depth:
                    at = spaced
        return at

    # --- planning the answer ----------------------------------------------------------------

    def _plan(self, session: Session, messages: list[list[int]]) -> Plan:
        """What to say: continue learned text, answer from the passage the question is about,
        go on from the last answer, or say that nothing learned matches (module docstring)."""
        engine = self.engine
        for message in messages:
            session.at = self._read(message)
        at = session.at or engine.start()
        if not messages:  # the same prompt again (a retry): the same plan, the same answer
            return session.plan or Plan("continue", at, None, None)
        last = messages[-1]
        text = engine.vocab.encoding.decode(last)
        if _follow_up(text) and session.resume is not None:
            r = session.resume
            return Plan("follow-up", r.at, r.address, r.end, source=r.source, terms=r.terms)
        if _follow_up(text) and session.plan is not None and session.plan.source is not None:
            name = session.plan.source.name
            return Plan("nothing", at, None, None,
                        says=f"That is all I learned there: {name} ends with that.")
        depth = engine.generator.depth_matched(at, len(last))
        if len(last) >= 3 and depth >= engine.generator.reachable(len(last))[0]:
            return Plan("continue", at, None, None)
        index = engine.memory.index
        hit = index.search(text, engine.memory.next_seq)
        subject = [w for w in words_of(text) if w not in FRAMING]
        if hit is None or hit.coverage < MIN_COVERAGE:
            missing = (hit.missing if hit and hit.missing else subject) or ["that"]
            return Plan("nothing", at, None, None,
                        says=f"I have learned nothing about {_listed(missing)}.")
        source = Source(hit.document or "(unnamed text)", hit.start - hit.doc_start,
                        tuple(w for w in hit.terms if w not in FRAMING))
        return Plan("answer", PathState.unpack(hit.path, hit.fresh), hit.start, hit.doc_end,
                    prefix=hit.prefix, source=source, terms=source.terms, score=hit.score)

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
    ) -> Iterator[int | Source]:
        """The analysis (the plan) first, then the answer streamed token by token as it is
        walked. Cut by `max_tokens`, the answer ends without `<|return|>` (a `length` stop)."""
        tokens = list(tokens)
        engine = self.engine
        with self.lock:
            session, start = self._session(session_id, tokens)
        messages = self._user_messages(tokens, start)
        with engine.lock:
            engine.memory.refresh()
        plan = session.plan = self._plan(session, messages)
        session.prompt = tokens
        if self.learns:
            session.pending.extend(messages)
        answer: list[int] = []
        trace = Trace()
        count = 0
        try:
            analysis = self._analysis(plan, trace, max_tokens // 2) if self.settings.trace \
                else []
            header = self._final_header()
            if not analysis:
                header = header[2:]  # the prompt already holds `<|start|>assistant`
            if plan.source is not None:
                yield plan.source
            stops = set(stop_tokens)
            for token in analysis + header:
                yield token
                count += 1
                if count >= max_tokens or token in stops:
                    return
            for token in self._answer(plan, trace, max_tokens - count):
                answer.append(token)
                yield token
                count += 1
                if count >= max_tokens or token in stops:
                    return
            yield self.special.return_
        finally:
            self._remember(session, plan, trace)
            if self.settings.self_reinforce and answer:
                session.pending.append(answer)
            self._learn_pending(session)

    def _answer(self, plan: Plan, trace: Trace, room: int) -> Iterator[int]:
        engine = self.engine
        encode = engine.vocab.encoding.encode_ordinary
        if plan.says:
            yield from encode(plan.says)
            return
        para = engine.memory.index.para_end
        walked = engine.generator.recite(plan.at, plan.address, plan.end, room, trace,
                                         paragraph_end=para, least=ANSWER_LEAST,
                                         prefix=plan.prefix)
        any_token = False
        for token in walked:
            any_token = True
            yield token
        if not any_token:
            yield from encode("(nothing I have learned follows this)")

    def _remember(self, session: Session, plan: Plan, trace: Trace) -> None:
        """Where a follow-up ("go on") would continue: after the last token said."""
        if plan.says or trace.at is None or trace.halted in ("end", "exhausted", "loop", "lost"):
            session.resume = None
            return
        session.resume = Plan("follow-up", trace.at, trace.address, plan.end,
                              source=plan.source, terms=plan.terms)

    def _analysis(self, plan: Plan, trace: Trace, limit: int) -> list[int]:
        """`<|channel|>analysis<|message|>…<|end|>` with the plan, at most `limit` tokens."""
        lines = [PLANS[plan.mode]]
        if plan.source is not None:
            where = "the start" if plan.source.position == 0 else \
                f"token {plan.source.position:,}"
            lines.append(f"source: {plan.source.name}, from {where} of the document"
                         + (f" (BM25 {plan.score:.1f})" if plan.score else ""))
            if plan.terms:
                lines.append(f"matched terms: {', '.join(plan.terms)}")
        lines.append(plan_line(self.engine, plan.at))
        while lines:
            msg = Message.from_role_and_content(Role.ASSISTANT, "\n".join(lines))
            analysis = self.encoding.render(msg.with_channel("analysis"))[2:]
            if len(analysis) <= limit:
                return analysis
            lines = lines[:-1]
        return []

    def _final_header(self) -> list[int]:
        """`<|start|>assistant<|channel|>final<|message|>`: what precedes the answer's text."""
        msg = Message.from_role_and_content(Role.ASSISTANT, "").with_channel("final")
        rendered = self.encoding.render(msg)
        return rendered[: rendered.index(self.special.message) + 1]

    def _learn_pending(self, session: Session) -> None:
        with self.lock:
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

        def texts() -> Iterator[tuple[str, str]]:
            for name, text in docs:
                yield name, text
                report.advance(len(text.encode()))

        engine.learn_texts(texts())
    engine.memory.compact()
    (engine.memory.root / "starter.done").write_text(
        "\n".join(name for name, _ in docs) + "\n", encoding="utf-8")

