"""OpenAI-style error objects: every failure a client sees is `{"error": {...}}` with a status."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class APIError(StarletteHTTPException):
    """An error answered as an OpenAI error object with HTTP status `status`.

    An HTTPException, so one raised while FastAPI reads the body (the size limit) keeps its
    status instead of becoming a generic 400."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def response(self) -> JSONResponse:
        headers = dict(self.headers or {})
        if self.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def not_found(kind: str, name: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(404, f"{kind} {name!r} not found.", param=param, code=code)


def _validation(exc: RequestValidationError) -> APIError:
    """A bad query or path parameter (bodies are parsed by `request.parse`): OpenAI's 400."""
    first = next(iter(exc.errors()), {"loc": (), "msg": "invalid request"})
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    return APIError(400, f"Invalid value for {where!r}: {first.get('msg', 'invalid value')}.",
                    param=where or None, code="invalid_value")


def install(app: FastAPI) -> None:
    """Route every error through one shape; log server errors, never send a traceback."""

    @app.exception_handler(APIError)
    async def _api(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404:
            message = "Unknown endpoint; see GET /v1/models, /v1/responses, /v1/chat/completions."
        return APIError(exc.status_code, message, type=kind).response()

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed: %s: %s", type(exc).__name__, exc)
        log.debug("request failure", exc_info=exc)
        return APIError(500, "The server failed to handle the request; see its log.",
                        type="server_error").response()
