"""Stored responses: SQLite in WAL mode under GYROSI_HOME, shared by every server process.

A row holds the response object a client can fetch again and the Harmony conversation behind
it, so `previous_response_id` continues the exact conversation — across a restart too.
Retention is bounded by count and age (`serve.store_max_responses`, `serve.store_max_age_days`).
"""

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..home import private_file

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    conversation_id TEXT NOT NULL,
    response TEXT NOT NULL,      -- the response object, JSON
    messages TEXT NOT NULL,      -- the Harmony conversation after this response, JSON list
    calls TEXT NOT NULL,         -- call_id -> function name for every client call so far, JSON
    input TEXT NOT NULL DEFAULT '[]'  -- the request's input items (with ids), JSON list
);
CREATE INDEX IF NOT EXISTS responses_created ON responses (created_at);
"""


@dataclass(frozen=True)
class Stored:
    id: str
    conversation_id: str
    response: dict[str, Any]
    messages: list[dict[str, Any]]
    calls: dict[str, str]
    input: list[dict[str, Any]] = field(default_factory=list)


class ResponseStore:
    """Thread-safe: one connection per thread (SQLite connections must not be shared)."""

    def __init__(self, path: Path, *, max_responses: int, max_age_days: float) -> None:
        self.path = path
        self.max_responses = max_responses
        self.max_age_s = max_age_days * 86400
        self._local = threading.local()
        db = self._db()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 1:  # before input items were kept: they read as none
            with db:
                db.execute("ALTER TABLE responses ADD COLUMN input TEXT NOT NULL DEFAULT '[]'")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version not in (0, SCHEMA_VERSION):
            raise RuntimeError(
                f"The response store {path} has schema version {version}, this gyrosi reads "
                f"{SCHEMA_VERSION}; move the file away or upgrade gyrosi."
            )
        with db:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            private_file(self.path)
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL is safe
            self._local.db = db
        return db

    def put(self, item: Stored) -> None:
        now = time.time()
        db = self._db()
        with db:
            db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.id, now, item.conversation_id, json.dumps(item.response),
                 json.dumps(item.messages), json.dumps(item.calls), json.dumps(item.input)),
            )
            db.execute("DELETE FROM responses WHERE created_at < ?", (now - self.max_age_s,))
            db.execute(
                "DELETE FROM responses WHERE id NOT IN "
                "(SELECT id FROM responses ORDER BY created_at DESC LIMIT ?)",
                (self.max_responses,),
            )

    def get(self, response_id: str) -> Stored | None:
        row = self._db().execute(
            "SELECT id, conversation_id, response, messages, calls, created_at, input "
            "FROM responses WHERE id = ?", (response_id,),
        ).fetchone()
        if row is None or row[5] < time.time() - self.max_age_s:
            return None
        return Stored(row[0], row[1], json.loads(row[2]), json.loads(row[3]), json.loads(row[4]),
                      json.loads(row[6]))

    def delete(self, response_id: str) -> bool:
        db = self._db()
        with db:
            return db.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0
