"""A directory of HTML, Markdown and text files, indexed for full-text search with SQLite FTS5.

The index lives in its own SQLite file (WAL mode) and is brought up to date incrementally: a file
is re-read only when its size or modification time changed, and files that disappeared are
dropped. Nothing outside the corpus root is ever read: symlinks that resolve outside it are
skipped when indexing and refused when opening. Only regular files are read (a FIFO or a device
is skipped without being opened), and at most `max_bytes` of each: a larger file is indexed and
shown by its first part, and says so.
"""

import hashlib
import html
import logging
import os
import re
import sqlite3
import stat as stats
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lxml.html
from markdown_it import MarkdownIt

from gyrosi_core.errors import ConfigError
from gyrosi_core.home import gyrosi_home

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
KINDS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown",
         ".txt": "text", ".text": "text", ".rst": "text"}
WORD = re.compile(r"\w+", re.UNICODE)

# (files seen so far, files in the corpus) after each file is checked.
Progress = Callable[[int, int], None]


class OutsideCorpusError(ValueError):
    """A path that is not a readable file inside the corpus root."""


@dataclass(frozen=True)
class Hit:
    path: str  # relative to the corpus root, with forward slashes
    title: str
    snippet: str


@dataclass(frozen=True)
class RefreshStats:
    files: int
    added: int
    updated: int
    removed: int
    cut: tuple[str, ...] = ()  # files (re)indexed by their first max_bytes only


@dataclass(frozen=True)
class Document:
    text: str
    size: int  # of the whole file
    cut: bool  # only the first part was read


def default_index_path(root: Path) -> Path:
    """One index per corpus root under GYROSI_HOME, named by a hash of the root's path."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    folder = gyrosi_home() / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"corpus-{digest}.sqlite"


def read_document(path: Path, max_bytes: int) -> Document:
    """The first `max_bytes` of a regular file, as text. OSError for anything else: the open
    does not wait (O_NONBLOCK), so a FIFO put in the file's place cannot hang it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as file:
        info = os.fstat(fd)
        if not stats.S_ISREG(info.st_mode):
            raise OSError(f"{path.name} is not a regular file")
        data = file.read(max_bytes)
    # A cut through a multi-byte character becomes one replacement character.
    return Document(data.decode("utf-8", errors="replace"), info.st_size,
                    info.st_size > max_bytes)


def size_note(document: Document, max_bytes: int) -> str:
    return (f"[This file has {document.size:,} bytes; only its first {max_bytes:,} are indexed "
            f"and shown (tools.browser.max_page_mb).]")


def kind_of(path: str | Path) -> str | None:
    return KINDS.get(Path(path).suffix.lower())


def page_title(text: str, kind: str, fallback: str) -> str:
    if kind == "html":
        root = lxml.html.fromstring(text or "<html></html>")
        for tag in ("title", "h1"):
            node = root.find(f".//{tag}")
            if node is not None and (title := node.text_content().strip()):
                return title
        return fallback
    if kind == "markdown":
        heading = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
        return heading.group(1).strip() if heading else fallback
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:120] or fallback


def to_html(text: str, kind: str) -> str:
    """The page as HTML, for gpt-oss's page processing (links become numbered ids)."""
    if kind == "html":
        return text
    if kind == "markdown":
        body = MarkdownIt("commonmark").render(text)
    else:
        body = "".join(
            "<p>" + "<br>".join(html.escape(line) for line in p.splitlines()) + "</p>"
            for p in re.split(r"\n\s*\n", text) if p.strip()
        )
    return f"<html><body>{body}</body></html>"


def plain_text(text: str, kind: str) -> str:
    """What the full-text index holds for a file: its words, without markup."""
    if kind == "text":
        return text
    if kind == "markdown":
        text = to_html(text, kind)
    root = lxml.html.fromstring(text or "<html></html>")
    for node in root.xpath("//script|//style"):
        node.drop_tree()
    return root.text_content()


class Corpus:
    """The corpus root and its FTS5 index."""

    def __init__(self, root: str | Path, index: str | Path | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        root = Path(root).expanduser()
        if not root.is_dir():
            raise ConfigError(f"The browser corpus {root} is not a directory.")
        self.root = root.resolve()
        self.index_path = Path(index).expanduser() if index else default_index_path(self.root)
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        # One conversation uses it at a time, but a server may run that conversation's tool
        # calls on a worker thread.
        self.db = sqlite3.connect(self.index_path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._schema()

    def close(self) -> None:
        self.db.close()

    def _schema(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ConfigError(
                f"The browser index {self.index_path} has format {version}, not "
                f"{SCHEMA_VERSION}; delete it and run `gyrosi browser index` again."
            )
        with self.db:
            self.db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS files (
                    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL,
                    mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, title TEXT NOT NULL);
                CREATE VIRTUAL TABLE IF NOT EXISTS pages
                    USING fts5(title, body, tokenize='porter unicode61');
                """
            )
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            row = self.db.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('root', ?)", (str(self.root),))
            elif row[0] != str(self.root):
                raise ConfigError(
                    f"The browser index {self.index_path} belongs to the corpus {row[0]}, not "
                    f"{self.root}; give each corpus its own index file."
                )
            # Indexed under another size cap: every file is read again at the next refresh.
            row = self.db.execute("SELECT value FROM meta WHERE key = 'max_bytes'").fetchone()
            if row is None or row[0] != str(self.max_bytes):
                self.db.execute("UPDATE files SET mtime_ns = -1")
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('max_bytes', ?)",
                                (str(self.max_bytes),))

    # -- paths -------------------------------------------------------------------------------

    def read(self, path: Path) -> Document:
        return read_document(path, self.max_bytes)

    def resolve(self, relative: str) -> Path:
        """The file `relative` names, if it is an indexable file inside the root."""
        relative = relative.strip().lstrip("/")
        if not relative or "\x00" in relative:
            raise OutsideCorpusError("an empty path")
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise OutsideCorpusError(f"`{relative}` is outside the corpus")
        if not path.is_file() or kind_of(path) is None:
            raise OutsideCorpusError(f"`{relative}` is not a page of the corpus")
        return path

    def _walk(self) -> Iterator[tuple[str, Path]]:
        for folder, dirs, files in os.walk(self.root):  # does not follow symlinked folders
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or kind_of(name) is None:
                    continue
                path = Path(folder) / name
                relative = path.relative_to(self.root).as_posix()
                try:
                    regular = stats.S_ISREG(path.stat().st_mode)
                except OSError:  # a dangling link, a loop
                    regular = False
                if not regular:  # a FIFO would block the read forever, a device worse
                    log.info("skipping %s: not a regular file", relative)
                    continue
                if path.is_symlink():  # folders are not followed, so only a file link can lead out
                    try:
                        self.resolve(relative)
                    except OutsideCorpusError:
                        log.info("skipping %s: it points outside the corpus", relative)
                        continue
                yield relative, path

    # -- indexing ----------------------------------------------------------------------------

    def refresh(self, progress: Progress | None = None) -> RefreshStats:
        """Bring the index up to date with the files on disk; returns what changed."""
        found = list(self._walk())
        known = {
            path: (rowid, mtime, size)
            for rowid, path, mtime, size in self.db.execute(
                "SELECT id, path, mtime_ns, size FROM files"
            )
        }
        added = updated = 0
        cut: list[str] = []
        with self.db:
            for done, (relative, path) in enumerate(found, 1):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                if not stats.S_ISREG(stat.st_mode):  # a FIFO would block the read forever
                    log.info("skipping %s: not a regular file", relative)
                    continue
                old = known.pop(relative, None)
                if old is not None and (old[1], old[2]) == (stat.st_mtime_ns, stat.st_size):
                    if progress:
                        progress(done, len(found))
                    continue
                try:
                    document = self.read(path)
                except OSError as exc:
                    log.warning("cannot read %s: %s", relative, exc)
                    continue
                if document.cut:
                    cut.append(relative)
                text = document.text
                kind = kind_of(relative) or "text"
                title = page_title(text, kind, Path(relative).name)
                body = plain_text(text, kind)
                if old is None:
                    cur = self.db.execute(
                        "INSERT INTO files (path, mtime_ns, size, title) VALUES (?, ?, ?, ?)",
                        (relative, stat.st_mtime_ns, stat.st_size, title),
                    )
                    rowid = cur.lastrowid
                    added += 1
                else:
                    rowid = old[0]
                    self.db.execute(
                        "UPDATE files SET mtime_ns = ?, size = ?, title = ? WHERE id = ?",
                        (stat.st_mtime_ns, stat.st_size, title, rowid),
                    )
                    self.db.execute("DELETE FROM pages WHERE rowid = ?", (rowid,))
                    updated += 1
                self.db.execute(
                    "INSERT INTO pages (rowid, title, body) VALUES (?, ?, ?)", (rowid, title, body)
                )
                if progress:
                    progress(done, len(found))
            for rowid, _, _ in known.values():
                self.db.execute("DELETE FROM files WHERE id = ?", (rowid,))
                self.db.execute("DELETE FROM pages WHERE rowid = ?", (rowid,))
        return RefreshStats(len(found), added, updated, len(known), tuple(cut))

    # -- search ------------------------------------------------------------------------------

    def search(self, query: str, limit: int) -> list[Hit]:
        """Pages ranked by BM25 for any of the query's words (a model's query is prose, not
        FTS5 syntax, so each word is quoted)."""
        words = WORD.findall(query)
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = self.db.execute(
            """
            SELECT files.path, files.title, snippet(pages, 1, '', '', ' … ', 24)
            FROM pages JOIN files ON files.id = pages.rowid
            WHERE pages MATCH ? ORDER BY bm25(pages, 5.0, 1.0) LIMIT ?
            """,
            (match, limit),
        ).fetchall()
        return [Hit(path, title, " ".join(snippet.split())) for path, title, snippet in rows]
