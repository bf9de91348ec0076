"""The one generation path every endpoint shares: backends loaded on demand, a slot on the
backend's pool, then on a worker thread the turn engine and the translation of its events
(Responses, Chat Completions or Completions) — and storing the result. The event loop only
relays text.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..channels import HandlerContext, open_handlers
from ..config import Config
from ..errors import ContextLengthError, GyrosiError
from ..home import gyrosi_home
from ..plugins import PluginHost
from ..turn import choose_backend, close_all, plan_engine
from .conversation import Translator, TurnRequest, new_id, open_conversation
from .errors import APIError
from .store import ResponseStore
from .worker import BackendPool, Cancelled, Finished, Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    config_file: str | None = None
    backend: str | None = None
    slots: int | None = None


class EventStream(StreamingResponse):
    """A streaming response that calls `on_close` however it ends (finished, or the client went
    away mid-stream), so the generation behind it stops."""

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


# -- the server -----------------------------------------------------------------------------


class Server:
    def __init__(self, host: PluginHost, config: Config, options: ServeOptions) -> None:
        self.host = host
        self.config = config
        self.options = options
        self.default = choose_backend(host, options.backend or config.core.backend).name
        self.backends = host.backends()
        self.tool_specs = host.tools()
        self.pools: dict[str, BackendPool] = {}
        self.loading: dict[str, asyncio.Lock] = {}
        self.tool_verdicts: dict[str, str | None] = {}
        s = config.serve
        self.store = ResponseStore(gyrosi_home() / "responses.sqlite3",
                                   max_responses=s.store_max_responses,
                                   max_age_days=s.store_max_age_days)

    async def check_tool(self, name: str, kind: str) -> None:
        """A 400 before any generation when tool plugin `name` cannot start with this server's
        config (a browser with no corpus): it is started once, on a thread, and the verdict
        kept for the life of the process."""
        if name not in self.tool_verdicts:
            self.tool_verdicts[name] = await asyncio.to_thread(self._try_tool, name)
        if (why := self.tool_verdicts[name]) is not None:
            raise APIError(400, f"The tool type {kind!r} is not configured on this server: "
                           f"{why}", param="tools", code="tool_not_configured")

    def _try_tool(self, name: str) -> str | None:
        try:
            tool = self.tool_specs[name].factory(self.config.tool_section(name))
        except GyrosiError as exc:
            return str(exc)
        close_all([tool])
        return None

    async def pool(self, model: str | None) -> BackendPool:
        name = model or self.default
        if name not in self.backends:
            known = ", ".join(sorted(self.backends)) or "none"
            raise APIError(404, f"The model {name!r} does not exist; available: {known}.",
                           param="model", code="model_not_found")
        if (pool := self.pools.get(name)) is not None:
            return pool
        async with self.loading.setdefault(name, asyncio.Lock()):
            if name not in self.pools:
                try:
                    self.pools[name] = await asyncio.to_thread(self.load, name)
                except GyrosiError as exc:
                    log.error("%s", exc)
                    raise APIError(500, str(exc), type="server_error",
                                   code="backend_unavailable") from exc
        return self.pools[name]

    def load(self, name: str) -> BackendPool:
        """Start backend `name` (a GyrosiError in one sentence when it cannot start)."""
        if (pool := self.pools.get(name)) is not None:
            return pool
        context = HandlerContext(frontend="serve", config=self.config, console=None, options={})
        handlers = open_handlers(self.host, context)
        engine = plan_engine(self.host, self.config, name, handlers=handlers).build()
        slots = self.options.slots or self.config.serve.slots or \
            int(getattr(engine.backend, "parallel_sessions", 1))
        log.info("backend %s ready (%d slots)", name, slots)
        self.pools[name] = BackendPool(name, engine, slots, self.config.serve.queue)
        return self.pools[name]

    async def run(self, pool: BackendPool, turn: TurnRequest, translator: Translator,
                  keep: bool) -> tuple[Job, list[Any]]:
        """Start the turn on a worker; return the job and its first batch, once the turn has
        got past its context check (so a prompt that does not fit is a 400, not a stream).

        The worker does everything per event — engine, translation, storing — and hands over
        text; `keep` says whether the conversation may continue (its backend state is kept).
        """
        engine = pool.engine
        conversation_id = turn.conversation_id = turn.conversation_id or new_id("conv")

        def work(job: Job) -> Any:
            conv = open_conversation(engine, self.tool_specs, turn, conversation_id)
            if (use_tools := getattr(translator, "use_tools", None)) is not None:
                use_tools(conv.tools)
            try:
                events = engine.turn(conv, turn.new)
                try:
                    for event in events:
                        job.put(event)
                        if translator.stopped:
                            break
                finally:
                    events.close()
                job.flush()
                result = translator.finish([m.to_dict() for m in conv.messages])
            except Cancelled:
                raise
            except Exception as exc:
                if not job.started:
                    raise  # nothing sent yet: the route answers with an HTTP error
                result = translator.fail(str(failure(exc)))
            finally:
                conv.close()
                if not keep:  # nothing can continue this conversation: drop backend state
                    end_session = getattr(engine.backend, "end_session", None)
                    if callable(end_session):
                        end_session(conversation_id)
            if isinstance(result, str):
                job.send(result)
                return None
            return result

        return await self.start(pool, work, translator)

    async def start(self, pool: BackendPool, work: Callable[[Job], Any],
                    translator: Translator) -> tuple[Job, list[Any]]:
        """Run `work` on one of the pool's workers; return the job and its first batch (an
        error raised before anything was sent is raised here, as an APIError)."""
        job = await pool.start(work, translator.feed)
        try:
            first = await job.batch()
        except BaseException:
            job.cancel()
            raise
        last = first[0]
        if isinstance(last, Finished) and last.error is not None:
            raise failure(last.error)
        return job, first

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def failure(exc: BaseException) -> APIError:
    if isinstance(exc, ContextLengthError):
        return APIError(400, str(exc).replace(" (/reset)", ""), param="input",
                        code="context_length_exceeded")
    if isinstance(exc, GyrosiError):  # a tool or backend that cannot start: its own sentence
        log.error("%s", exc)
        return APIError(500, str(exc), type="server_error")
    log.error("generation failed: %s: %s", type(exc).__name__, exc)
    log.debug("generation failure", exc_info=exc)
    return APIError(500, f"Generation failed: {type(exc).__name__}: {exc}", type="server_error")


async def reply(job: Job, first: list[Any], stream: bool) -> Any:
    """The worker's text as an event stream, or its (status, body) as one JSON response."""
    if stream:
        async def relay() -> AsyncIterator[str]:
            batch = first
            while True:
                done = isinstance(batch[-1], Finished)
                text = "".join(item for item in batch if isinstance(item, str))
                if text:
                    yield text
                if done:
                    return
                batch = await job.batch()

        return EventStream(relay(), job.cancel)
    status, body = await collect(job, first)
    return JSONResponse(body, status_code=status)


async def collect(job: Job, first: list[Any]) -> tuple[int, Any]:
    """The (status, body) a job that does not stream ends with."""
    batch = first
    try:
        while not isinstance(batch[-1], Finished):
            batch = await job.batch()
    finally:
        job.cancel()  # a client that left while waiting stops the worker too
    finished = batch[-1]
    if finished.error is not None:
        raise failure(finished.error)
    status, body = finished.value
    return status, body


def server_of(request: Request) -> Server:
    """The route dependency that hands a route the app's `Server`."""
    server: Server = request.app.state.server
    return server


ServerDep = Annotated[Server, Depends(server_of)]
