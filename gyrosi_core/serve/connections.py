"""Connections: uvicorn's h11 protocol with the limits it lacks, and its config.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but waits forever for a
request's head or body, so a slowloris client (a header line every few seconds, a body that
never ends) holds a connection and a task for good; and its `limit_concurrency` answers a plain
text 503. Here a request's head must arrive within `serve.header_timeout_s`, its body within
`serve.body_timeout_s` of the head, and connections beyond `serve.max_connections` get an
OpenAI-style 503 `server_busy` with `Retry-After` at once.
"""

import asyncio
import json
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..config import ServeConfig
from .errors import APIError
from .worker import RETRY_AFTER_S


def busy_response(message: str) -> bytes:
    """A complete HTTP/1.1 503 response with an OpenAI error body."""
    body = json.dumps(APIError(503, message, type="server_error", code="server_busy").body())
    return (f"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            f"retry-after: {RETRY_AFTER_S}\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n{body}").encode()


class GuardedH11(H11Protocol):
    """h11 with a deadline on each request's head and body and a connection limit."""

    def __init__(self, config: "ServerConfig", *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)  # type: ignore[arg-type]
        self.limits = config.limits
        self.deadline: asyncio.TimerHandle | None = None
        self.timed: Any = None  # the request cycle whose head the deadline has seen

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.write(busy_response(
                f"The server has {self.limits.max_connections} connections open "
                f"(serve.max_connections); retry shortly."))
            transport.close()
            return
        self._arm(self.limits.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        if cycle is not self.timed:  # a request's head has just been read
            self.timed = cycle
            if cycle.more_body:
                self._arm(self.limits.body_timeout_s)
            else:
                self._disarm()
        elif not cycle.more_body:  # its body is complete: the app runs as long as it needs
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.header_timeout_s)  # the next request's head

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, delay: float) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expired(self) -> None:
        self.deadline = None
        cycle = self.cycle
        reading = cycle is None or cycle.response_complete or cycle.more_body
        if reading and not self.transport.is_closing():
            self.transport.close()  # a request still arriving after its time: give up on it


class ServerConfig(uvicorn.Config):
    """uvicorn's config with `GuardedH11`, the `serve` limits, and a listening socket that says
    it is TCP.

    asyncio sets TCP_NODELAY only on connections whose socket has the TCP protocol number;
    uvicorn binds with protocol 0 when it runs several processes, so every streamed chunk after
    the headers waited for Nagle and the client's delayed ACK (~40 ms per response).
    """

    def __init__(self, app: Any, limits: ServeConfig, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedH11, timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]
                         h11_max_incomplete_event_size=64 * 1024, **kwargs)
        self.limits = limits  # pickled with the config into each --workers process

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
