"""The page's Markdown renderer (static/markdown.js), run in Chromium on the served page: what
each construct becomes, and that nothing in model text becomes HTML, script or a bad link."""

from typing import Any

import pytest

from gyrosi_core.testing import ServeProcess

from .conftest import expect

# Renders `text` into a fresh element and describes the result as a list of
# [tag, text, href] for every element, in document order.
RENDER = """async (text) => {
  const { renderMarkdown } = await import('/web/markdown.js');
  const box = document.createElement('div');
  renderMarkdown(text, box);
  return [...box.querySelectorAll('*')].map(n => [n.tagName.toLowerCase(),
      n.textContent, n.getAttribute('href') || '']);
}"""


@pytest.fixture
def render(page: Any, server: ServeProcess) -> Any:
    page.goto(f"{server.url}/")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    return lambda text: [tuple(x) for x in page.evaluate(RENDER, text)]


def tags(nodes: list[tuple[str, str, str]]) -> list[str]:
    return [tag for tag, _, _ in nodes]


def test_blocks(render: Any) -> None:
    assert render("# Title\n\nText") == [("h1", "Title", ""), ("p", "Text", "")]
    assert tags(render("> quoted\n> more")) == ["blockquote", "p", "br"]
    assert tags(render("a\n\n---\n\nb")) == ["p", "hr", "p"]
    ordered = render("3. three\n4. four")
    assert tags(ordered) == ["ol", "li", "li"] and ordered[1][1] == "three"
    assert render("- x\n  continued") == [("ul", "xcontinued", ""), ("li", "xcontinued", ""),
                                          ("br", "", "")]


def test_code_blocks_and_a_fence_still_streaming(render: Any) -> None:
    done = render("```js\nlet a = '<b>';\n```\nafter")
    assert ("pre", "let a = '<b>';", "") in done and ("span", "js", "") in done
    assert ("button", "Copy", "") in done and ("p", "after", "") in done
    streaming = render("```py\nprint(1)\nprint(2")
    assert ("pre", "print(1)\nprint(2", "") in streaming


def test_inline(render: Any) -> None:
    nodes = render("**b** *i* `c` snake_case_name 2*3*4")
    assert ("strong", "b", "") in nodes and ("em", "i", "") in nodes
    assert ("code", "c", "") in nodes
    assert nodes[0][1] == "b i c snake_case_name 2*3*4"  # no emphasis inside words
    assert tags(render("line one\nline two")) == ["p", "br"]


def test_links(render: Any) -> None:
    assert render("[docs](https://example.com/a?b=1)")[1] == \
        ("a", "docs", "https://example.com/a?b=1")
    url = "https://example.com/x"
    assert render(f"see {url}.")[1] == ("a", url, url)  # the full stop is not part of it
    for bad in ["[x](javascript:alert(1))", "[x](data:text/html,<script>alert(1)</script>)",
                "[x](/relative)", "[x](vbscript:msgbox)"]:
        nodes = render(bad)
        assert tags(nodes) == ["p"] and nodes[0][1] == bad, bad


def test_html_in_model_text_stays_text(render: Any, page: Any) -> None:
    for text in ["<script>window.pwned = 1</script>", '<img src=x onerror="window.pwned=2">',
                 "<b>bold?</b>", "**<i>x</i>**", "`<svg onload=alert(1)>`",
                 "```\n</code></pre><img src=x onerror=alert(1)>\n```",
                 '[<img src=x onerror="window.pwned=3">](https://example.com)']:
        nodes = render(text)
        assert not {"script", "img", "svg", "b", "i"} & set(tags(nodes)), text
    assert page.evaluate("window.pwned") is None


CITED = """(response) => import('/web/view.js').then(({ ResponseView }) => {
  const view = new ResponseView(document.body);
  view.finish(response);
  return [...view.node.querySelectorAll('.citations li > *')].map(n => [n.tagName.toLowerCase(),
      n.textContent, n.getAttribute('href') || n.title]);
})"""


def test_citations_become_links_or_named_documents(render: Any, page: Any) -> None:
    """A stored response's annotations: a URL citation is a link (when http/https), a file
    citation names the learned document; duplicates are listed once."""
    notes = [
        {"type": "url_citation", "url": "https://example.com/paris", "title": "Paris",
         "start_index": 0, "end_index": 5},
        {"type": "url_citation", "url": "javascript:alert(1)", "title": "bad",
         "start_index": 0, "end_index": 5},
        {"type": "file_citation", "file_id": "/notes/lanterns.txt", "filename": "lanterns.txt",
         "index": 0},
        {"type": "file_citation", "file_id": "/notes/lanterns.txt", "filename": "lanterns.txt",
         "index": 0},
    ]
    response = {"id": "resp_1", "status": "completed", "model": "m", "output": [
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Paris.", "annotations": notes}]}]}
    assert [tuple(x) for x in page.evaluate(CITED, response)] == [
        ("a", "Paris", "https://example.com/paris"),
        ("span", "bad", "javascript:alert(1)"),  # shown as text, its target only as a tooltip
        ("span", "lanterns.txt", "/notes/lanterns.txt"),
    ]
