"""The FastAPI application: routes, API key and body-size checks, and one generation path.

Every route that generates goes through `Server.run`: a slot on the backend's pool, the turn
engine on a worker thread, its events translated on the event loop (Responses or Chat
Completions), and — for the Responses API — the result stored in SQLite.
"""

import asyncio
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai_harmony import Message
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from ..channels import HandlerContext
from ..config import Config
from ..errors import ContextLengthError, GyrosiError
from ..frontend import resolve_config
from ..home import gyrosi_home
from ..plugins import PluginHost
from ..turn import build_engine
from . import chat, responses
from .conversation import TurnRequest, builtin_tools, coalesce, new_id, open_conversation
from .errors import APIError, install, not_found
from .store import ResponseStore, Stored
from .worker import BackendPool, Finished, Job, drive

log = logging.getLogger(__name__)

OPTIONS_ENV = "GYROSI_SERVE_OPTIONS"  # how `--workers N` hands the options to each process
API_KEY_ENV = "GYROSI_API_KEY"
OPEN_PATHS = {"/health"}


@dataclass(frozen=True)
class ServeOptions:
    config_file: str | None = None
    backend: str | None = None
    slots: int | None = None


# -- middleware -----------------------------------------------------------------------------


class Guard:
    """API key on every path but /health, and a cap on the request body size (ASGI level, so
    an oversize body is refused before it is read into memory)."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.api_key and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    token.strip().encode(), self.api_key.encode()):
                what = "Incorrect API key provided" if given else "Missing API key"
                err = APIError(401, f"{what}; send 'Authorization: Bearer <key>' with the key "
                               f"the server was started with.", code="invalid_api_key")
                await err.response()(scope, receive, send)
                return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._too_large().response()(scope, receive, send)
            return
        seen = 0

        async def limited() -> ASGIMessage:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> APIError:
        return APIError(413, f"The request body is larger than {self.max_body} bytes "
                        f"(serve.max_body_bytes).", code="request_too_large")


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
        self.default = options.backend or config.core.backend
        self.backends = host.backends()
        self.tool_specs = host.tools()
        self.pools: dict[str, BackendPool] = {}
        self.loading: dict[str, asyncio.Lock] = {}
        s = config.serve
        self.store = ResponseStore(gyrosi_home() / "responses.sqlite3",
                                   max_responses=s.store_max_responses,
                                   max_age_days=s.store_max_age_days)

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
                self.pools[name] = await asyncio.to_thread(self._load, name)
        return self.pools[name]

    def _load(self, name: str) -> BackendPool:
        context = HandlerContext(frontend="serve", config=self.config, console=None, options={})
        handlers = [h for spec in self.host.handlers().values()
                    if (h := spec.factory(context)) is not None]
        try:
            engine = build_engine(self.host, self.config, name, handlers=handlers)
        except GyrosiError as exc:
            log.error("%s", exc)
            raise APIError(500, str(exc), type="server_error", code="backend_unavailable") \
                from exc
        slots = self.options.slots or self.config.serve.slots or \
            int(getattr(engine.backend, "parallel_sessions", 1))
        log.info("backend %s ready (%d slots)", name, slots)
        return BackendPool(name, engine, slots, self.config.serve.queue)

    async def run(self, pool: BackendPool, turn: TurnRequest, keep: bool) -> tuple[Job, list[Any]]:
        """Start the turn on a worker; return the job and its first batch, once the turn has
        got past its context check (so a prompt that does not fit is a 400, not a stream)."""
        engine = pool.engine
        conversation_id = turn.conversation_id = turn.conversation_id or new_id("conv")

        def work(job: Job) -> list[dict[str, Any]]:
            conv = open_conversation(engine, self.tool_specs, turn, conversation_id)
            try:
                drive(job, engine.turn(conv, turn.new))
                return [m.to_dict() for m in conv.messages]
            finally:
                conv.close()
                if not keep:  # nothing can continue this conversation: drop backend state
                    end_session = getattr(engine.backend, "end_session", None)
                    if callable(end_session):
                        end_session(conversation_id)

        job = await pool.start(work)
        try:
            first = await job.batch()
        except BaseException:
            job.cancel()
            raise
        last = first[-1]
        if isinstance(last, Finished) and last.error is not None:
            raise _failure(last.error)
        return job, first

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def _failure(exc: BaseException) -> APIError:
    if isinstance(exc, ContextLengthError):
        return APIError(400, str(exc).replace(" (/reset)", ""), param="input",
                        code="context_length_exceeded")
    log.error("generation failed: %s: %s", type(exc).__name__, exc)
    log.debug("generation failure", exc_info=exc)
    return APIError(500, f"Generation failed: {type(exc).__name__}: {exc}", type="server_error")


def _sse(events: list[Any], counter: list[int]) -> str:
    parts = []
    for event in events:
        event.sequence_number = counter[0]
        counter[0] += 1
        parts.append(f"event: {event.type}\ndata: {event.model_dump_json()}\n\n")
    return "".join(parts)


def _chunks(chunks: list[dict[str, Any]]) -> str:
    return "".join(f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks)


# -- routes ---------------------------------------------------------------------------------


def create_app(host: PluginHost, config: Config, options: ServeOptions,
               api_key: str | None = None) -> FastAPI:
    server = Server(host, config, options)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await server.pool(None)  # the default backend loads before the first request
        yield
        server.close()

    app = FastAPI(title="gyrosi", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    install(app)
    app.add_middleware(Guard, api_key=api_key, max_body=config.serve.max_body_bytes)
    app.state.server = server

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "backends": {n: p.stats() for n, p in server.pools.items()}}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": spec.plugin.distribution,
             "description": spec.description}
            for name, spec in sorted(server.backends.items())]}

    @app.get("/v1/responses/{response_id}")
    async def get_response(response_id: str) -> dict[str, Any]:
        stored = await asyncio.to_thread(server.store.get, response_id)
        if stored is None:
            raise not_found("Response", response_id, code="response_not_found")
        return stored.response

    @app.post("/v1/responses")
    async def create_response(body: responses.ResponsesRequest) -> Any:
        pool = await server.pool(body.model)
        history: list[Message] = []
        calls: dict[str, str] = {}
        conversation_id = None
        if body.previous_response_id:
            prev = await asyncio.to_thread(server.store.get, body.previous_response_id)
            if prev is None:
                raise APIError(404, f"Previous response with id {body.previous_response_id!r} "
                               f"not found.", param="previous_response_id",
                               code="previous_response_not_found")
            history = [Message.from_dict(m) for m in prev.messages]
            calls, conversation_id = dict(prev.calls), prev.conversation_id
        turn = responses.to_turn(body, pool.engine.settings, history, calls)
        turn.builtins = builtin_tools((tool.type for tool in body.tools or []), server.tool_specs)
        turn.conversation_id = conversation_id or new_id("conv")
        store = body.store is not False
        builder = responses.ResponseBuilder(body, pool.name, new_id("resp"), set(turn.functions))
        job, first = await server.run(pool, turn, keep=store)

        async def finish(done: Finished) -> None:
            if done.error is not None:
                builder.error = builder.error or _turn_error(done.error)
            if store and builder.status != "failed" and done.value is not None:
                response = builder.response(builder.status).model_dump(mode="json")
                row = Stored(builder.id, turn.conversation_id or "", response, done.value,
                             {**calls, **builder.calls})
                await asyncio.to_thread(server.store.put, row)

        if not body.stream:
            batch: list[Any] = first
            while True:
                for item in batch:
                    if isinstance(item, Finished):
                        await finish(item)
                        if builder.status == "failed":
                            raise _failed(builder.error)
                        return builder.response(builder.status)
                    builder.on(item)
                batch = await job.batch()

        async def stream() -> AsyncIterator[str]:
            counter = [0]
            batch, out = first, builder.start()
            while True:
                for item in coalesce(batch):
                    if isinstance(item, Finished):
                        await finish(item)
                        yield _sse(out + builder.finish(), counter)
                        return
                    out.extend(builder.on(item))
                yield _sse(out, counter)
                out = []
                batch = await job.batch()

        return EventStream(stream(), job.cancel)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: chat.ChatRequest) -> Any:
        pool = await server.pool(body.model)
        turn = chat.to_turn(body, pool.engine.settings)
        builder = chat.ChatBuilder(body, pool.name, set(turn.functions))
        job, first = await server.run(pool, turn, keep=False)

        if not body.stream:
            batch: list[Any] = first
            try:
                while True:
                    for item in batch:
                        if isinstance(item, Finished):
                            if item.error is not None:
                                raise _failure(item.error)
                            if builder.error is not None:
                                raise _failed(builder.error)
                            return builder.completion()
                        builder.on(item)
                        if builder.stopped:
                            return builder.completion()
                    batch = await job.batch()
            finally:
                job.cancel()

        async def stream() -> AsyncIterator[str]:
            batch = first
            out = [builder.chunk({"role": "assistant", "content": ""})]
            while True:
                for item in coalesce(batch):
                    if isinstance(item, Finished) or builder.stopped:
                        if isinstance(item, Finished) and item.error is not None:
                            builder.error = _turn_error(item.error)
                        out.append(builder.chunk({}, builder.finish_reason))
                        if body.stream_options and body.stream_options.include_usage:
                            out.append(builder.usage_chunk())
                        text = _chunks(out)
                        if builder.error is not None:
                            text += _chunks([_failed(builder.error).body()])
                        yield text + "data: [DONE]\n\n"
                        return
                    out.extend(builder.chunk(d) for d in builder.on(item))
                yield _chunks(out)
                out = []
                batch = await job.batch()

        return EventStream(stream(), job.cancel)

    return app


def _turn_error(exc: BaseException) -> Any:
    from ..events import TurnError

    return TurnError("backend_error", str(_failure(exc)))


def _failed(error: Any) -> APIError:
    return APIError(500, error.message, type="server_error", code=error.kind)


# -- process entry points -------------------------------------------------------------------


def app_from_env() -> FastAPI:
    """The app factory each `--workers` process calls (options travel in the environment)."""
    raw = json.loads(os.environ.get(OPTIONS_ENV, "{}"))
    options = ServeOptions(**raw)
    config = resolve_config(options.config_file, {"backend": options.backend})
    return create_app(PluginHost(), config, options, os.environ.get(API_KEY_ENV) or None)


def options_env(options: ServeOptions) -> str:
    return json.dumps(asdict(options))
