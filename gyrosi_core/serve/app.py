"""The FastAPI application: the API key and body-size guard, each endpoint family's router,
and the process entry points (one process, or `--workers N` sharing a socket)."""

import hmac
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage
from uvicorn.supervisors import Multiprocess

from ..config import Config, ServeConfig, resolve_config
from ..plugins import PluginHost
from . import chat_completions, completions, models, plugin_routes, responses
from .chat_completions.protocol import ChatRequest
from .completions.protocol import CompletionRequest
from .connections import ServerConfig
from .errors import APIError, install
from .request import add_schemas
from .responses.protocol import ResponsesRequest
from .server import ServeOptions, Server

log = logging.getLogger(__name__)

OPTIONS_ENV = "GYROSI_SERVE_OPTIONS"  # how `--workers N` hands the options to each process
API_KEY_ENV = "GYROSI_API_KEY"
OPEN_PATHS = {"/health"}
REQUESTS: list[type[BaseModel]] = [ResponsesRequest, ChatRequest, CompletionRequest]
SWITCH_INTERVAL = 0.0005


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

    app = FastAPI(title="gyrosi", lifespan=lifespan, docs_url=None, redoc_url=None)
    install(app)
    public: list[BaseRoute] = []  # filled once the plugin routes are mounted, after the API's
    app.add_middleware(Guard, api_key=api_key, max_body=config.serve.max_body_bytes,
                       public=public)
    if config.serve.cors_origins:  # outside the guard: a preflight carries no API key
        app.add_middleware(CORSMiddleware, allow_origins=config.serve.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
                           expose_headers=["Retry-After"], max_age=600)
    app.state.server = server
    for router in (models.router, responses.router, chat_completions.router,
                   completions.router):
        app.include_router(router)

    def openapi() -> dict[str, Any]:  # FastAPI's, with the request bodies the routes parse
        if app.openapi_schema is None:
            app.openapi_schema = add_schemas(get_openapi(title=app.title, version="1",
                                                         routes=app.routes), REQUESTS)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    public.extend(plugin_routes.mount(app, host))
    return app


# -- process entry points -------------------------------------------------------------------


def app_from_env() -> FastAPI:
    """The app factory each `--workers` process calls (options travel in the environment)."""
    raw = json.loads(os.environ.get(OPTIONS_ENV, "{}"))
    options = ServeOptions(**raw)
    config = resolve_config(options.config_file, {"backend": options.backend})
    return create_app(PluginHost(), config, options, os.environ.get(API_KEY_ENV) or None)


def options_env(options: ServeOptions) -> str:
    return json.dumps(asdict(options))


def run_one(app: FastAPI, limits: ServeConfig, options: dict[str, Any]) -> None:
    """One server process for `app`."""
    uvicorn.Server(ServerConfig(app, limits, **options)).run()


def run_processes(workers: int, limits: ServeConfig, options: dict[str, Any]) -> None:
    """`uvicorn.run(..., workers=N)` with `ServerConfig`; each process builds its app from the
    environment (`app_from_env`)."""
    config = ServerConfig("gyrosi_core.serve.app:app_from_env", limits, factory=True,
                          workers=workers, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
