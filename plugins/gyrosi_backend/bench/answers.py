"""Answering: is a question about a learned document answered from that document?

For each corpus: learn its documents into an empty memory (each named), ask one question per
document that names its subject ("What does X do?", "How do I use X?", "What is X for?"), and count
an answer as right when most of it comes from that document: at least half of the answer's word
4-grams occur in the document's text. In the same run, SQLite FTS5's BM25 over the same
documents (name and text columns) gets the same questions (their words OR-ed), and its rank-1
document is counted. Also: time to the first answer token, generation speed, and what the
content index costs per learned token.

    python plugins/gyrosi_backend/bench/answers.py [--man 60] [--starts 50] [--json]

Continuation: on the licence texts of this machine (`/usr/share/common-licenses` and every
package's `copyright` file, up to 3.5 MB), `--starts` sentence starts of 5 to 8 words copied from
the learned text are given as prompts; the engine is right when its answer's next 3 (and 10)
words are the learned ones. Beside it, a literal search of the prompt in the same text (the
words after its first occurrence).

Corpora: the starter corpus's pydoc topics (one question per topic) and man pages of this
machine (`man -P cat`, the first N section-1 pages in name order that render, question words
from the page's name), which nobody tuned the engine on.
"""

import argparse
import json
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import benchlib  # noqa: E402

TEMPLATES = ("What does {} do?", "How do I use {}?", "What is {} for?")
_WORDS = re.compile(r"[A-Za-z0-9_]+")


def pydoc_corpus() -> list[tuple[str, str, str]]:
    """(document name, subject, text) per pydoc topic."""
    return [(f"pydoc topic {name}", name.replace("-", " "), text)
            for name, text in benchlib.pydoc_topics()]


def man_corpus(count: int) -> list[tuple[str, str, str]]:
    """(name, subject, text) of the first `count` section-1 man pages that render."""
    pages = sorted(p.name.split(".")[0] for p in Path("/usr/share/man/man1").glob("*.1*.gz"))
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for page in pages:
        if page in seen or not re.fullmatch(r"[a-z][a-z0-9-]+", page):
            continue
        seen.add(page)
        run = subprocess.run(["man", "-P", "cat", "1", page], capture_output=True, text=True,
                             env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin"}, timeout=30)
        text = run.stdout
        if run.returncode or len(text) < 1500:
            continue
        out.append((f"man {page}", page, text))
        if len(out) >= count:
            break
    return out


LICENCE_CAP = 3_500_000


def licence_corpus(cap: int = LICENCE_CAP) -> list[tuple[str, str, str]]:
    """(path, "", text) of the common licences and the packages' copyright files."""
    paths = sorted(p for p in Path("/usr/share/common-licenses").iterdir()
                   if p.is_file() and not p.is_symlink())
    paths += sorted(Path("/usr/share/doc").glob("*/copyright"))
    out, total, seen = [], 0, set()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if text in seen or not text.strip():
            continue
        seen.add(text)
        out.append((str(path), "", text))
        total += len(text.encode())
        if total >= cap:
            break
    return out


def sentence_starts(docs: list[tuple[str, str, str]], count: int) -> list[tuple[str, list[str]]]:
    """`count` (prompt, next ten words) pairs: sentences of at least 18 words spread evenly over
    the corpus, the prompt their first 5 to 8 words."""
    sentences = [s for _, _, text in docs for s in re.split(r"(?<=[.!?])\s+", text)
                 if len(s.split()) >= 18]
    step = max(1, len(sentences) // count)
    out = []
    for i, sentence in enumerate(sentences[::step][:count]):
        n = 5 + i % 4
        spans = [m.end() for m in re.finditer(r"\S+", sentence)]
        # the prompt is copied as it stands, line breaks included
        out.append((sentence[: spans[n - 1]], sentence[spans[n - 1]:].split()[:10]))
    return out


def same_words(got: str, want: list[str], n: int) -> bool:
    norm = [w.lower() for w in _WORDS.findall(got)]
    exp = [w.lower() for w in _WORDS.findall(" ".join(want[:n]))]
    return norm[: len(exp)] == exp


def literal_next(corpus: str, prompt: str) -> str:
    """The text after the prompt's first occurrence (whitespace-insensitive)."""
    pattern = r"\s+".join(re.escape(w) for w in prompt.split())
    found = re.search(pattern, corpus)
    return corpus[found.end() : found.end() + 400] if found else ""


def run_continuation(docs: list[tuple[str, str, str]], count: int) -> dict[str, Any]:
    from gyrosi_core.encoding import get_encoding
    from gyrosi_core.harmony import SpecialTokens
    from gyrosi_engine.backend import GyroBackend
    from gyrosi_engine.engine import Engine

    starts = sentence_starts(docs, count)
    corpus = "\n".join(text for _, _, text in docs)
    encoding = get_encoding()
    special = SpecialTokens.of(encoding)
    stops = encoding.stop_tokens_for_assistant_actions()
    with benchlib.temp_home() as home:
        engine = Engine(benchlib.settings(), home=home)
        engine.learn_texts([(name, text) for name, _, text in docs])
        engine.memory.compact()
        backend = GyroBackend({"starter": False, "learn_from_users": False, "trace": False},
                              encoding, engine=engine)
        hits = {3: 0, 10: 0}
        lit = {3: 0, 10: 0}
        for i, (prompt, want) in enumerate(starts):
            tokens = encoding.render_conversation_for_completion(_conversation(prompt),
                                                                 _assistant())
            out = [t for t in backend.generate(tokens, stop_tokens=stops, max_tokens=60,
                                               session_id=f"c{i}") if isinstance(t, int)]
            got = encoding.decode([t for t in out[3:] if t != special.return_])
            found = literal_next(corpus, prompt)
            for n in (3, 10):
                hits[n] += same_words(got, want, n)
                lit[n] += same_words(found, want, n)
    n = len(starts)
    return {"corpus": f"licence texts ({benchlib.utf8_bytes([t for _, _, t in docs]) / 1e6:.1f}"
                      f" MB, {len(docs)} files)", "prompts": n,
            "engine_next3": round(hits[3] / n, 3), "engine_next10": round(hits[10] / n, 3),
            "literal_next3": round(lit[3] / n, 3), "literal_next10": round(lit[10] / n, 3)}


def grams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORDS.findall(text)]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def from_document(answer: str, document: str) -> bool:
    got = grams(answer)
    return bool(got) and len(got & grams(document)) >= 0.5 * len(got)


def bm25_rank1(docs: list[tuple[str, str, str]], questions: list[str]) -> list[str]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(name, body)")
    db.executemany("INSERT INTO docs VALUES (?, ?)", [(n, t) for n, _, t in docs])
    out = []
    for q in questions:
        expr = " OR ".join(f'"{w}"' for w in _WORDS.findall(q))
        row = db.execute("SELECT name FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT 1",
                         (expr,)).fetchone()
        out.append(row[0] if row else "")
    return out


def run_corpus(label: str, docs: list[tuple[str, str, str]]) -> dict[str, Any]:
    from gyrosi_core.encoding import get_encoding
    from gyrosi_core.harmony import SpecialTokens
    from gyrosi_engine.backend import GyroBackend
    from gyrosi_engine.engine import Engine
    from gyrosi_engine.memory import files
    questions = [TEMPLATES[i % len(TEMPLATES)].format(subject)
                 for i, (_, subject, _) in enumerate(docs)]
    encoding = get_encoding()
    special = SpecialTokens.of(encoding)
    stops = encoding.stop_tokens_for_assistant_actions()
    with benchlib.temp_home() as home:
        engine = Engine(benchlib.settings(), home=home)
        started = time.perf_counter()
        engine.learn_texts([(name, text) for name, _, text in docs])
        engine.memory.compact()
        learn_s = time.perf_counter() - started
        stats = engine.memory.stats()
        backend = GyroBackend({"starter": False, "learn_from_users": False, "trace": False},
                              encoding, engine=engine)
        right, firsts, tokens, gen_s, wrong = 0, [], 0, 0.0, []
        for i, (question, (name, _, text)) in enumerate(zip(questions, docs, strict=True)):
            prompt = encoding.render_conversation_for_completion(
                _conversation(question), _assistant())
            t0 = time.perf_counter()
            out: list[int] = []
            first = None
            cited = ""
            for item in backend.generate(prompt, stop_tokens=stops, max_tokens=400,
                                         session_id=f"q{i}"):
                if not isinstance(item, int):
                    cited = item.name
                    continue
                out.append(item)
                if first is None and len(out) > 3:  # past `<|channel|>final<|message|>`
                    first = time.perf_counter() - t0
            elapsed = time.perf_counter() - t0
            body = [t for t in out[3:] if t != special.return_]
            answer = encoding.decode(body)
            ok = from_document(answer, text)
            right += ok
            if not ok:
                drifted = "the right document, then drifted"
                wrong.append((question, cited if cited != name else drifted))
            firsts.append(first or elapsed)
            tokens += len(body)
            gen_s += elapsed
        # the snapshot less its entries and header (format 3: 16 bytes per entry)
        index_bytes = (stats.snapshot_bytes - files.ENTRY_BYTES * stats.entries
                       - files.SNAP_HEAD.size)
        bm25 = bm25_rank1(docs, questions)
        bm25_right = sum(got == name for got, (name, _, _) in zip(bm25, docs, strict=True))
        n = len(docs)
        result = {
            "corpus": label, "documents": n, "learned_tokens": stats.tokens_learned,
            "learn_s": round(learn_s, 2),
            "engine_hit_rate": round(right / n, 3), "bm25_rank1_rate": round(bm25_right / n, 3),
            "first_token_ms_median": round(1000 * statistics.median(firsts), 2),
            "tokens_per_s": round(tokens / gen_s) if gen_s else 0,
            "index_bytes_per_token": round(index_bytes / max(1, stats.tokens_learned), 2),
            "missed": wrong[:10],
        }
    return result


def _conversation(question: str) -> Any:
    from openai_harmony import Conversation, Message, Role

    return Conversation.from_messages([Message.from_role_and_content(Role.USER, question)])


def _assistant() -> Any:
    from openai_harmony import Role

    return Role.ASSISTANT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--man", type=int, default=60, help="man pages to learn (0: none)")
    parser.add_argument("--starts", type=int, default=50,
                        help="sentence starts to continue (0: none)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    corpora = [("pydoc topics (starter corpus)", pydoc_corpus())]
    if args.man:
        corpora.append((f"{args.man} man pages (section 1)", man_corpus(args.man)))
    results = [run_corpus(label, docs) for label, docs in corpora]
    cont = run_continuation(licence_corpus(), args.starts) if args.starts else None
    if args.json:
        print(json.dumps({"answers": results, "continuation": cont}, indent=2))
        return
    print(benchlib.machine_line("answers", "one question per learned document"))
    for r in results:
        print(f"{r['corpus']}: {r['documents']} documents, {r['learned_tokens']:,} tokens "
              f"learned in {r['learn_s']} s")
        ok = r["engine_hit_rate"] >= 0.9 and r["engine_hit_rate"] >= r["bm25_rank1_rate"]
        benchlib.print_line("engine: answered from the right document",
                            f"{r['engine_hit_rate']:.3f}", ">= 0.9 and >= BM25", ok)
        benchlib.print_line("SQLite FTS5 BM25: right document first",
                            f"{r['bm25_rank1_rate']:.3f}")
        benchlib.print_line("first answer token (median)", f"{r['first_token_ms_median']} ms",
                            "<= 50 ms", r["first_token_ms_median"] <= 50)
        benchlib.print_line("generation", f"{r['tokens_per_s']:,} tokens/s", ">= 20,000",
                            r["tokens_per_s"] >= 20000)
        benchlib.print_line("content index per learned token", f"{r['index_bytes_per_token']} B",
                            "<= 4 B", r["index_bytes_per_token"] <= 4)
        for question, cited in r["missed"]:
            print(f"    missed: {question!r} (cited {cited or 'nothing'})")
    if cont:
        print(f"continuation of {cont['prompts']} sentence starts, {cont['corpus']}:")
        benchlib.print_line("engine: next 3 words right", f"{cont['engine_next3']:.3f}",
                            ">= 0.9", cont["engine_next3"] >= 0.9)
        benchlib.print_line("literal search: next 3 words right", f"{cont['literal_next3']:.3f}")
        benchlib.print_line("engine: next 10 words right", f"{cont['engine_next10']:.3f}")
        benchlib.print_line("literal search: next 10 words right",
                            f"{cont['literal_next10']:.3f}")


if __name__ == "__main__":
    main()
