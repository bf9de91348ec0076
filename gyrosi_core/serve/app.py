"""The FastAPI application: routes, API key and body-size checks, and one generation path.

Every route that generates goes through `Server.run`: a slot on the backend's pool, then on a
worker thread the turn engine, the translation of its events (Responses or Chat Completions)
and — for the Responses API — storing the result in SQLite. The event loop only relays text.
"""

import asyncio
import hmac
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from openai_harmony import Message
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage
from uvicorn.supervisors import Multiprocess

from ..channels import HandlerContext, open_handlers
from ..config import Config, resolve_config
from ..errors import ContextLengthError, GyrosiError
from ..home import gyrosi_home
from ..plugins import PluginHost
from ..turn import build_engine, choose_backend
from . import chat, plugin_routes, responses
from .conversation import Translator, TurnRequest, builtin_tools, new_id, open_conversation
from .errors import APIError, install, not_found
from .store import ResponseStore, Stored
from .worker import BackendPool, Cancelled, Finished, Job

log = logging.getLogger(__name__)

OPTIONS_ENV = "GYROSI_SERVE_OPTIONS"  # how `--workers N` hands the options to each process
API_KEY_ENV = "GYROSI_API_KEY"
OPEN_PATHS = {"/health"}
SWITCH_INTERVAL = 0.0005


@dataclass(frozen=True)
class ServeOptions:
    config_file: str | None = None
    backend: str | None = None
    slots: int | None = None


# -- middleware -----------------------------------------------------------------------------


class Guard:
    """API key on every path but /health and public plugin routes, and a cap on the request
    body size (ASGI level, so an oversize body is refused before it is read into memory)."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body: int,
                 public: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body = max_body
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.api_key and scope["path"] not in OPEN_PATHS and \
                not plugin_routes.is_public(self.public, scope):
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
        self.default = choose_backend(host, options.backend or config.core.backend).name
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
        engine = build_engine(self.host, self.config, name, handlers=handlers)
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
                result = translator.fail(str(_failure(exc)))
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

        job = await pool.start(work, translator.feed)
        try:
            first = await job.batch()
        except BaseException:
            job.cancel()
            raise
        last = first[0]
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
    if isinstance(exc, GyrosiError):  # a tool or backend that cannot start: its own sentence
        log.error("%s", exc)
        return APIError(500, str(exc), type="server_error")
    log.error("generation failed: %s: %s", type(exc).__name__, exc)
    log.debug("generation failure", exc_info=exc)
    return APIError(500, f"Generation failed: {type(exc).__name__}: {exc}", type="server_error")


# -- routes ---------------------------------------------------------------------------------


def create_app(host: PluginHost, config: Config, options: ServeOptions,
               api_key: str | None = None) -> FastAPI:
    # Worker threads hold the GIL while they generate; a shorter switch interval (default
    # 5 ms) lets the event loop take it back sooner, so /health and other streams stay quick.
    sys.setswitchinterval(SWITCH_INTERVAL)
    server = Server(host, config, options)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await server.pool(None)  # the default backend loads before the first request
        yield
        server.close()

    app = FastAPI(title="gyrosi", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    install(app)
    public: list[BaseRoute] = []  # filled once the plugin routes are mounted, after the API's
    app.add_middleware(Guard, api_key=api_key, max_body=config.serve.max_body_bytes,
                       public=public)
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
        turn.builtins = builtin_tools((tool.type for tool in body.tools or []), server.tool_specs,
                                      server.config.serve.builtin_tools)
        turn.conversation_id = conversation_id or new_id("conv")
        store = body.store is not False
        builder = responses.ResponseBuilder(body, pool.name, new_id("resp"), set(turn.functions))
        known_calls = dict(calls)

        def save(messages: list[dict[str, Any]]) -> None:
            response = builder.response(builder.status).model_dump(mode="json")
            server.store.put(Stored(builder.id, turn.conversation_id or "", response, messages,
                                    {**known_calls, **builder.calls}))

        translator = responses.ResponseStream(builder, bool(body.stream), save if store else None)
        job, first = await server.run(pool, turn, translator, keep=store)
        return await _reply(job, first, bool(body.stream))

    @app.post("/v1/chat/completions")
    async def chat_completions(body: chat.ChatRequest) -> Any:
        pool = await server.pool(body.model)
        turn = chat.to_turn(body, pool.engine.settings)
        builder = chat.ChatBuilder(body, pool.name, set(turn.functions))
        translator = chat.ChatStream(builder, body.stream)
        job, first = await server.run(pool, turn, translator, keep=False)
        return await _reply(job, first, body.stream)

    public.extend(plugin_routes.mount(app, host))
    return app


async def _reply(job: Job, first: list[Any], stream: bool) -> Any:
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
    batch = first
    try:
        while not isinstance(batch[-1], Finished):
            batch = await job.batch()
    finally:
        job.cancel()  # a client that left while waiting stops the worker too
    finished = batch[-1]
    if finished.error is not None:
        raise _failure(finished.error)
    status, body = finished.value
    return JSONResponse(body, status_code=status)


# -- process entry points -------------------------------------------------------------------


def app_from_env() -> FastAPI:
    """The app factory each `--workers` process calls (options travel in the environment)."""
    raw = json.loads(os.environ.get(OPTIONS_ENV, "{}"))
    options = ServeOptions(**raw)
    config = resolve_config(options.config_file, {"backend": options.backend})
    return create_app(PluginHost(), config, options, os.environ.get(API_KEY_ENV) or None)


def options_env(options: ServeOptions) -> str:
    return json.dumps(asdict(options))


class TCPConfig(uvicorn.Config):
    """uvicorn's config with a listening socket that says it is TCP.

    asyncio sets TCP_NODELAY only on connections whose socket has the TCP protocol number;
    uvicorn binds with protocol 0 when it runs several processes, so every streamed chunk after
    the headers waited for Nagle and the client's delayed ACK (~40 ms per response).
    """

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def run_processes(workers: int, options: dict[str, Any]) -> None:
    """`uvicorn.run(..., workers=N)` with `TCPConfig`; each process builds its app from the
    environment (`app_from_env`)."""
    config = TCPConfig("gyrosi_core.serve.app:app_from_env", factory=True, workers=workers,
                       **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
