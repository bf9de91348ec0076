"""The browser tool's local backend, driven through the real turn loop over a real FTS5 index."""

import os
from pathlib import Path

import pytest

from gyrosi_core.errors import ConfigError
from gyrosi_tools_oss.corpus import Corpus

from .conftest import build, call

SECRET = "zebra-password-4242"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "paris.md").write_text(
        "# Paris\n\nParis is the capital of France.\n\nThe Eiffel Tower was finished in 1889.\n"
        "\nSee also [Lyon](lyon.html).\n"
    )
    (root / "docs" / "lyon.html").write_text(
        "<html><head><title>Lyon city</title><style>.x{}</style></head><body><h1>Lyon</h1>"
        "<p>Lyon is famous for silk weaving and its cuisine.</p>"
        "<p>Back to <a href='paris.md'>Paris</a>.</p></body></html>"
    )
    (root / "bread.txt").write_text("Notes on bread\n\nSourdough needs a starter and patience.\n")
    (root / "image.png").write_bytes(b"\x89PNG not a page")
    outside = tmp_path / "secret.txt"
    outside.write_text(f"The secret is {SECRET}.\n")
    (root / "leak.txt").symlink_to(outside)  # a link out of the corpus: never indexed or read
    return root


def browser_rules() -> list[dict]:
    return [
        call("search capital", "browser.search", {"query": "What is the capital of France?"}),
        call("search silk", "browser.search", {"query": "silk weaving"}),
        call("search secret", "browser.search", {"query": SECRET}),
        call("search sourdough", "browser.search", {"query": "sourdough starter"}),
        call("click first", "browser.open", {"id": 0}),
        call("open paris", "browser.open", {"id": "docs/paris.md"}),
        call("open lyon url", "browser.open", {"id": "file://corpus/docs/lyon.html"}),
        call("scroll", "browser.open", {"loc": 2, "num_lines": 1}),
        call("find eiffel", "browser.find", {"pattern": "Eiffel"}),
        call("open dotdot", "browser.open", {"id": "../secret.txt"}),
        call("open dotdot url", "browser.open", {"id": "file://corpus/../secret.txt"}),
        call("open absolute", "browser.open", {"id": "/etc/passwd"}),
        call("open symlink", "browser.open", {"id": "leak.txt"}),
        call("open web", "browser.open", {"id": "https://example.com/"}),
        call("open png", "browser.open", {"id": "image.png"}),
        call("bad json", "browser.search", "{not json"),
        call("bad name", "browser.search", {"qeury": "x"}),
        call("bad type", "browser.search", {"query": ["a", "b"]}),
        call("bad function", "browser.fly", {}),
    ]


def local(corpus: Path, tmp_path: Path) -> dict:
    return {"browser": {"corpus": str(corpus), "index": str(tmp_path / "index.sqlite")}}


def test_search_open_find_and_cite(chat, corpus, tmp_path):
    c = chat(browser_rules(), local(corpus, tmp_path), ["browser"])
    results = c.ask("search capital")
    assert results.startswith("[0] What is the capital of France?")
    assert "【0†Paris】" in results.split("\n", 5)[-1]  # the best hit is the first link
    assert "capital of France" in results
    assert c.tool_messages()[0].author == "browser.search"

    page = c.ask("click first")  # follows link 0 of the results page
    assert page.startswith("[1] Paris (file://corpus/docs/paris.md)")
    assert "L2: Paris is the capital of France." in page
    assert "【0†Lyon】" in page  # the page's own link, numbered by gpt-oss's page processing

    found = c.ask("find eiffel")
    assert "match at L4" in found and "Eiffel Tower was finished in 1889" in found

    lyon = c.ask("open lyon url")
    assert lyon.startswith("[3] Lyon city") and "famous for silk" in lyon and ".x{}" not in lyon

    # Citations come back in gpt-oss's form: cursor → the page's URL.
    tool = c.conv.tools["browser"]
    text, notes, _ = tool.normalize_citations("It is Paris 【1†L2】.")
    assert notes[0]["url"] == "file://corpus/docs/paris.md"
    assert "(file://corpus/docs/paris.md)" in text


def test_open_by_path_scroll_and_other_kinds(chat, corpus, tmp_path):
    c = chat(browser_rules(), local(corpus, tmp_path), ["browser"])
    assert "Eiffel" in c.ask("open paris")
    scrolled = c.ask("scroll")
    assert "viewing lines [2 - 2]" in scrolled and "L2: Paris is the capital" in scrolled
    bread = c.ask("search sourdough")  # a text file: its first line is its title
    assert "【0†Notes on bread】" in bread and "Sourdough needs a starter" in bread
    assert "Lyon city" in c.ask("search silk")


@pytest.mark.parametrize("ask", ["open dotdot", "open dotdot url", "open absolute",
                                 "open symlink", "open web", "open png"])
def test_open_outside_the_corpus_is_refused(chat, corpus, tmp_path, ask):
    c = chat(browser_rules(), local(corpus, tmp_path), ["browser"])
    answer = c.ask(ask)
    assert "Refused" in answer, answer
    assert SECRET not in answer and "root:" not in answer


def test_links_out_of_the_corpus_are_not_indexed(chat, corpus, tmp_path):
    c = chat(browser_rules(), local(corpus, tmp_path), ["browser"])
    answer = c.ask("search secret")
    assert "No results" in answer and "leak.txt" not in answer


@pytest.mark.parametrize("ask,expected", [
    ("bad json", "Invalid function arguments"),
    ("bad name", "bad arguments for browser.search"),
    ("bad type", "`query` must be a string"),
    ("bad function", "Unknown function: fly"),
])
def test_malformed_calls_answer_the_model(chat, corpus, tmp_path, ask, expected):
    c = chat(browser_rules(), local(corpus, tmp_path), ["browser"])
    answer = c.ask(ask)
    assert expected in answer
    assert c.tool_messages()[0].recipient == "assistant"


def test_index_is_incremental(corpus, tmp_path, gyrosi_home):
    index = tmp_path / "index.sqlite"
    store = Corpus(corpus, index)
    seen: list[tuple[int, int]] = []
    first = store.refresh(lambda done, total: seen.append((done, total)))
    assert (first.files, first.added, first.updated, first.removed) == (3, 3, 0, 0)
    assert seen == [(1, 3), (2, 3), (3, 3)]  # what `gyrosi browser index` draws its bar from
    assert store.refresh().added == store.refresh().updated == 0

    bread = corpus / "bread.txt"
    bread.write_text("Notes on bread\n\nRye wants a hot oven.\n")
    os.utime(bread, ns=(1, 1))  # a change the mtime/size check must catch
    (corpus / "docs" / "lyon.html").unlink()
    (corpus / "new.md").write_text("# Rome\n\nRome has seven hills.\n")
    again = store.refresh()
    assert (again.files, again.added, again.updated, again.removed) == (3, 1, 1, 1)
    assert [h.path for h in store.search("hot oven", 5)] == ["bread.txt"]
    assert store.search("sourdough", 5) == [] and store.search("silk", 5) == []
    assert store.search("seven hills", 5)[0].title == "Rome"
    store.close()


def test_a_new_conversation_sees_changed_files(chat, corpus, tmp_path):
    rules = [call("search", "browser.search", {"query": "marmalade"})]
    first = chat(rules, local(corpus, tmp_path), ["browser"])
    assert "No results" in first.ask("search")
    (corpus / "jam.md").write_text("# Jam\n\nOrange marmalade is bitter.\n")
    second = chat(rules, local(corpus, tmp_path), ["browser"])
    assert "【0†Jam】" in second.ask("search")


def test_index_of_another_corpus_is_refused(corpus, tmp_path, gyrosi_home):
    index = tmp_path / "index.sqlite"
    Corpus(corpus, index).close()
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ConfigError, match="belongs to the corpus"):
        Corpus(other, index)


def test_start_up_errors_are_one_sentence(gyrosi_home, harmony_encoding, monkeypatch, tmp_path):
    monkeypatch.delenv("EXA_API_KEY", raising=False)
    monkeypatch.delenv("YDC_API_KEY", raising=False)
    cases = [
        ({}, "The local browser needs a corpus directory: pass --corpus DIR or set "
             "tools.browser.corpus."),
        ({"corpus": str(tmp_path / "nope")}, "is not a directory"),
        ({"backend": "exa"}, "The browser's exa backend needs an API key: set EXA_API_KEY or "
                             "tools.browser.api_key."),
        ({"backend": "youcom"}, "The browser's youcom backend needs an API key: set YDC_API_KEY."),
        ({"backend": "bing"}, "Invalid config: tools.browser.backend"),
    ]
    for section, message in cases:
        engine = build([], {"browser": section}, ["browser"])
        with pytest.raises(ConfigError) as info:
            engine.new_conversation()
        assert message in str(info.value)
        engine.close()


def test_remote_backends_start_with_a_key(gyrosi_home, harmony_encoding, monkeypatch):
    monkeypatch.setenv("YDC_API_KEY", "test-key")  # nothing is fetched until the model searches
    engine = build([], {"browser": {"backend": "exa", "api_key": "k"}}, ["browser"])
    conv = engine.new_conversation()
    assert "sources=web" in conv.tools["browser"].instruction
    engine.end_conversation(conv)
    engine = build([], {"browser": {"backend": "youcom"}}, ["browser"])
    conv = engine.new_conversation()
    assert "sources=web" in conv.tools["browser"].instruction
    engine.end_conversation(conv)


def big_page(path: Path, megabytes: float) -> None:
    """A Markdown page: a heading and a word near the start, filler, a word at the very end."""
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n\n"
    count = int(megabytes * 1024 * 1024 / len(filler))
    path.write_text("# Big page\n\nThe opening mentions aardvark.\n\n" + filler * count
                    + "The closing mentions zeppelin.\n")


def test_a_large_page_counts_by_its_first_part_and_says_so(chat, corpus, tmp_path):
    big_page(corpus / "big.md", 1.0)
    rules = [call("search start", "browser.search", {"query": "aardvark"}),
             call("search end", "browser.search", {"query": "zeppelin"}),
             call("open big", "browser.open", {"id": "big.md"})]
    settings = local(corpus, tmp_path)
    settings["browser"].update(max_page_mb=0.25, view_tokens=200)
    c = chat(rules, settings, ["browser"])
    assert "【0†Big page】" in c.ask("search start")
    assert "No results" in c.ask("search end")  # past the cap: not indexed
    page = c.ask("open big")
    assert page.split("\n")[3].startswith(  # the first line the model reads
        "L0: [This file has 1,048,599 bytes; only its first 262,144 are indexed and shown")
    assert "aardvark" in page  # not an empty page


def test_rendered_pages_are_cached_until_the_file_changes(chat, corpus, tmp_path, monkeypatch):
    reads: list[Path] = []
    real_read = Corpus.read

    def counted(self, path):
        reads.append(path)
        return real_read(self, path)

    monkeypatch.setattr(Corpus, "read", counted)
    c = chat(browser_rules(), local(corpus, tmp_path), ["browser"])
    reads.clear()  # indexing read every file once
    assert "Eiffel" in c.ask("open paris")
    assert "Eiffel" in c.ask("open paris")
    assert "Lyon is famous" in c.ask("open lyon url")
    assert "Eiffel" in c.ask("open paris")
    assert [p.name for p in reads] == ["paris.md", "lyon.html"]
    paris = corpus / "docs" / "paris.md"
    paris.write_text("# Paris\n\nParis has the Louvre.\n")
    assert "Louvre" in c.ask("open paris")  # changed on disk: rendered again
    assert [p.name for p in reads] == ["paris.md", "lyon.html", "paris.md"]


def test_a_fifo_in_the_corpus_is_skipped_and_refused(chat, corpus, tmp_path):
    os.mkfifo(corpus / "pipe.md")  # reading it would wait for a writer forever
    rules = [*browser_rules(), call("open pipe", "browser.open", {"id": "pipe.md"})]
    c = chat(rules, local(corpus, tmp_path), ["browser"])  # indexing does not hang
    assert "【0†Paris】" in c.ask("search capital")
    assert "Refused" in c.ask("open pipe")
    store = Corpus(corpus, tmp_path / "index.sqlite")
    assert store.refresh().files == 3 and store.search("pipe", 5) == []  # as before the FIFO
    store.close()
