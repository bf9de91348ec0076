"""The `browser` tool: gpt-oss's SimpleBrowserTool over a local corpus, Exa or You.com.

gpt-oss supplies the tool (search/open/find, page state, line-numbered views, citations) and the
Exa and You.com backends; this module adds the `local` backend, which searches an FTS5 index of
a corpus directory and renders its pages through gpt-oss's own page processing.
"""

import html
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

import chz
import structlog
from aiohttp import ClientSession
from gpt_oss.tools.simple_browser import ExaBackend, SimpleBrowserTool, YouComBackend
from gpt_oss.tools.simple_browser.backend import VIEW_SOURCE_PREFIX, Backend, BackendError
from gpt_oss.tools.simple_browser.page_contents import PageContents, process_html
from openai_harmony import Author, Message, Role, TextContent
from pydantic import BaseModel, ConfigDict, Field

from gyrosi_core.config import validate_section
from gyrosi_core.errors import ConfigError

from .corpus import Corpus, OutsideCorpusError, kind_of, page_title, size_note, to_html

GPT_OSS_LOGGER = "gpt_oss.tools.simple_browser"
RENDERED_PAGES = 8  # pages kept rendered per conversation (scrolling re-opens the same page)


def _gpt_oss_detail(logger: Any, method: str, event: Any) -> Any:
    """SimpleBrowserTool logs every failed fetch (a refused path included) as a warning with a
    traceback, and structlog's default prints that to stdout, into the command's output. The
    model already gets the error as the tool's answer; the log is debug detail."""
    if not logging.getLogger(GPT_OSS_LOGGER).isEnabledFor(logging.DEBUG):
        raise structlog.DropEvent
    return event


# gpt-oss is the only structlog user here: send its events to `logging`, as debug detail.
structlog.configure(
    processors=[_gpt_oss_detail, structlog.stdlib.render_to_log_kwargs],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
)

# Corpus pages get URLs of their own: `file://corpus/<path>`. The `file` scheme makes relative
# links between pages resolve (urljoin), and one host keeps them on the same "domain".
URL_PREFIX = "file://corpus/"


class BrowserConfig(BaseModel):
    """The `tools.browser` config section."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "exa", "youcom"] = "local"
    corpus: Path | None = None  # the local backend's root directory
    index: Path | None = None  # default: GYROSI_HOME/browser/corpus-<hash>.sqlite
    api_key: str | None = None  # exa only; default $EXA_API_KEY (You.com reads $YDC_API_KEY)
    max_search_results: int = Field(default=10, gt=0, le=100)
    view_tokens: int = Field(default=1024, gt=0)
    max_page_mb: float = Field(default=4.0, gt=0)  # a larger file counts by its first part

    @property
    def max_page_bytes(self) -> int:
        return max(1, int(self.max_page_mb * 1024 * 1024))


def page_url(relative: str) -> str:
    return URL_PREFIX + quote(relative)


def corpus_path(url: str) -> str:
    """The corpus-relative path a URL (or a bare path the model typed) names."""
    if url.startswith(URL_PREFIX):
        return unquote(urlsplit(url).path)
    if "://" in url:
        raise OutsideCorpusError(f"`{url}` is not in the local corpus (the browser is offline)")
    return unquote(url)


@chz.chz(typecheck=True)
class LocalBackend(Backend):
    """Searches and opens the pages of a local corpus directory; never reads outside it."""

    source: str = chz.field(doc="Description of the backend source", default="local corpus")
    corpus: Corpus = chz.field(doc="The indexed corpus")
    rendered: OrderedDict[tuple[str, bool, int, int], PageContents] = chz.field(
        doc="Rendered pages by path, view-source flag, mtime and size", default_factory=OrderedDict
    )

    async def search(self, query: str, topn: int, session: ClientSession) -> PageContents:
        if not isinstance(query, str):
            raise BackendError("`query` must be a string")
        hits = self.corpus.search(query, topn)
        items = "".join(
            f"<li><a href='{html.escape(page_url(h.path), quote=True)}'>{html.escape(h.title)}"
            f"</a> {html.escape(h.snippet)}</li>"
            for h in hits
        )
        body = f"<ul>{items}</ul>" if hits else "<p>No results.</p>"
        page = f"<html><body><h1>Search Results</h1>{body}</body></html>"
        url = f"{URL_PREFIX}search?q={quote(query)}"
        return process_html(html=page, url=url, title=query, display_urls=True, session=session)

    async def fetch(self, url: str, session: ClientSession) -> PageContents:
        view_source = url.startswith(VIEW_SOURCE_PREFIX)
        if view_source:
            url = url[len(VIEW_SOURCE_PREFIX) :]
        try:
            relative = corpus_path(url)
            path = self.corpus.resolve(relative)
        except OutsideCorpusError as exc:
            raise BackendError(f"Refused: {exc}.") from exc
        relative = path.relative_to(self.corpus.root).as_posix()
        try:
            info = path.stat()
        except OSError as exc:
            raise BackendError(f"Cannot open `{relative}`: {exc.strerror or exc}.") from exc
        key = (relative, view_source, info.st_mtime_ns, info.st_size)
        if (page := self.rendered.get(key)) is not None:
            self.rendered.move_to_end(key)
            return page
        page = self._render(path, relative, view_source, session)
        self.rendered[key] = page
        if len(self.rendered) > RENDERED_PAGES:
            self.rendered.popitem(last=False)
        return page

    def _render(self, path: Path, relative: str, view_source: bool,
                session: ClientSession) -> PageContents:
        try:
            document = self.corpus.read(path)
        except OSError as exc:
            raise BackendError(f"Cannot open `{relative}`: {exc.strerror or exc}.") from exc
        text, kind = document.text, kind_of(path) or "text"
        title = page_title(text, kind, path.name)
        note = f"<p>{html.escape(size_note(document, self.corpus.max_bytes))}</p>" \
            if document.cut else ""
        if view_source:
            source = f"<html><body>{note}<pre>{html.escape(text)}</pre></body></html>"
            return process_html(source, VIEW_SOURCE_PREFIX + page_url(relative), title)
        page = to_html(text, kind)
        if note:  # first thing on the page, where the model starts reading
            page = f"<html><body>{note}{page}</body></html>" if kind == "html" else \
                page.replace("<body>", "<body>" + note, 1)
        return process_html(page, page_url(relative), title, session=session)


class Browser(SimpleBrowserTool):
    """SimpleBrowserTool that closes its corpus with the conversation and answers arguments of
    the wrong shape with an error the model can read."""

    def __init__(self, backend: Backend, corpus: Corpus | None, settings: BrowserConfig) -> None:
        super().__init__(
            backend=backend,
            max_search_results=settings.max_search_results,
            view_tokens=settings.view_tokens,
        )
        self.corpus = corpus

    async def _process(self, message: Message) -> AsyncIterator[Message]:
        try:
            async for m in super()._process(message):
                yield m
        except (TypeError, ValueError) as exc:  # unknown argument names, wrong types
            text = f"Error: bad arguments for {message.recipient}: {exc}."
            yield self.make_response(
                TextContent(text=text), author=Author(role=Role.TOOL, name=message.recipient)
            )

    def close(self) -> None:
        if self.corpus is not None:
            self.corpus.close()


def make_backend(settings: BrowserConfig) -> tuple[Backend, Corpus | None]:
    """The configured backend; a missing corpus or API key is a start-up error, in one sentence."""
    if settings.backend == "local":
        if settings.corpus is None:
            raise ConfigError(
                "The local browser needs a corpus directory: pass --corpus DIR or set "
                "tools.browser.corpus."
            )
        corpus = Corpus(settings.corpus, settings.index, max_bytes=settings.max_page_bytes)
        corpus.refresh()
        return LocalBackend(corpus=corpus), corpus
    backend: Backend
    if settings.backend == "exa":
        backend = ExaBackend(source="web", api_key=settings.api_key)
        where = "set EXA_API_KEY or tools.browser.api_key"
    else:
        backend = YouComBackend(source="web")
        where = "set YDC_API_KEY"
    try:
        backend._get_api_key()  # type: ignore[attr-defined]
    except BackendError as exc:
        raise ConfigError(
            f"The browser's {settings.backend} backend needs an API key: {where}."
        ) from exc
    return backend, None


def make_browser(config: dict[str, Any]) -> Browser:
    """Search and read pages (local corpus, Exa or You.com)."""
    settings = validate_section(BrowserConfig, config, "tools.browser")
    backend, corpus = make_backend(settings)
    return Browser(backend, corpus, settings)
