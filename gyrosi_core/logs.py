"""The conversation log: every turn of `gyrosi run` and `gyrosi generate`, in SQLite.

One row per turn in `$GYROSI_HOME/logs.sqlite3`: the user's text, the final answer, the turn's
Harmony messages (every channel, tool calls and tool results) as JSON, the backend, the usage and
the timings. An FTS5 index over prompt and answer serves `gyrosi logs -q`. A conversation is
continued (`-c`, `--cid`) by replaying the messages of its turns.
"""

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from openai_harmony import Message

from .errors import GyrosiError
from .events import Event, TurnEnd, TurnError

FILE = "logs.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    frontend TEXT NOT NULL,
    backend TEXT NOT NULL,
    started REAL NOT NULL,
    seconds REAL NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT NOT NULL,
    stop_reason TEXT NOT NULL,
    error TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    tool_rounds INTEGER NOT NULL,
    messages TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation_id, id);
CREATE VIRTUAL TABLE IF NOT EXISTS turns_text USING fts5 (
    prompt, answer, content='turns', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS turns_text_insert AFTER INSERT ON turns BEGIN
    INSERT INTO turns_text (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
"""


@dataclass(frozen=True)
class LoggedTurn:
    conversation_id: str
    frontend: str
    backend: str
    started: float  # unix time
    seconds: float
    prompt: str
    answer: str
    stop_reason: str  # a TurnEnd stop reason, or "interrupted"
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    tool_rounds: int
    messages: list[dict[str, Any]] = field(default_factory=list)  # committed Harmony messages
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot store {type(value).__name__}")


class ConversationLog:
    """The log file; each call opens its own short connection, so processes may share it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise GyrosiError(f"Cannot open the conversation log {self.path} ({exc}).") from exc
        with closing(conn):
            conn.row_factory = sqlite3.Row
            with conn:  # one transaction
                yield conn

    def add(self, turn: LoggedTurn) -> int:
        row = turn.to_dict()
        row.pop("id")
        row["messages"] = json.dumps(row["messages"], default=_plain, ensure_ascii=False)
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        with self._db() as db:
            cursor = db.execute(f"INSERT INTO turns ({columns}) VALUES ({marks})", row)
            return int(cursor.lastrowid or 0)

    def turns(self, *, limit: int | None = 3, query: str | None = None,
              conversation_id: str | None = None) -> list[LoggedTurn]:
        """The most recent turns, oldest first; `query` is an FTS5 full-text query."""
        where: list[str] = []
        params: dict[str, Any] = {}
        source = "turns"
        if query:
            source = "turns JOIN turns_text ON turns_text.rowid = turns.id"
            where.append("turns_text MATCH :query")
            params["query"] = query
        if conversation_id:
            where.append("conversation_id = :cid")
            params["cid"] = conversation_id
        sql = f"SELECT turns.* FROM {source}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY turns.id DESC"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        try:
            with self._db() as db:
                rows = db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if query:
                raise GyrosiError(f"Cannot search for {query!r}: {exc}.") from exc
            raise
        return [_turn(row) for row in reversed(rows)]

    def latest_conversation(self) -> str | None:
        with self._db() as db:
            row = db.execute(
                "SELECT conversation_id FROM turns ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def messages(self, conversation_id: str) -> list[Message]:
        """The conversation's committed messages, in order, ready to continue it."""
        turns = self.turns(limit=None, conversation_id=conversation_id)
        if not turns:
            raise GyrosiError(
                f"No logged conversation has the id {conversation_id!r}; `gyrosi logs` lists them."
            )
        return [Message.from_dict(m) for t in turns for m in t.messages]


def _turn(row: sqlite3.Row) -> LoggedTurn:
    data = dict(row)
    data["messages"] = json.loads(data["messages"])
    return LoggedTurn(**data)


def open_log(home: Path) -> ConversationLog:
    return ConversationLog(home / FILE)


class TurnRecorder:
    """Watches one turn's events and, when it ends, logs it (`record` runs in a finally, so an
    interrupted turn is logged as such, with no messages: it left the history as it was)."""

    def __init__(self, log: ConversationLog | None, frontend: str, backend: str) -> None:
        self.log = log
        self.frontend = frontend
        self.backend = backend

    @contextmanager
    def turn(self, conv: Any, prompt: str) -> Iterator["Watch"]:
        watch = Watch(len(conv.messages), time.time(), time.perf_counter())
        try:
            yield watch
        finally:
            if self.log is not None:
                self._record(conv, prompt, watch)

    def _record(self, conv: Any, prompt: str, watch: "Watch") -> None:
        end = watch.end
        self.log.add(LoggedTurn(  # type: ignore[union-attr]
            conversation_id=conv.id,
            frontend=self.frontend,
            backend=self.backend,
            started=watch.started,
            seconds=round(time.perf_counter() - watch.clock, 6),
            prompt=prompt,
            answer=end.final_text if end else "",
            stop_reason=end.stop_reason if end else "interrupted",
            error=watch.error.message if watch.error else None,
            prompt_tokens=end.usage.prompt_tokens if end else 0,
            completion_tokens=end.usage.completion_tokens if end else 0,
            tool_rounds=end.tool_rounds if end else 0,
            messages=[m.to_dict() for m in conv.messages[watch.before:]],
        ))


@dataclass
class Watch:
    before: int  # messages in the conversation when the turn began
    started: float
    clock: float
    end: TurnEnd | None = None
    error: TurnError | None = None

    def see(self, event: Event) -> None:
        if isinstance(event, TurnEnd):
            self.end = event
        elif isinstance(event, TurnError):
            self.error = event
