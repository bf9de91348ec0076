"""Slow, idle and too many clients, the busy 503, and CORS: a real server on loopback with short
limits, raw sockets for the clients no SDK would be. Counts and waits are bounded."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gyrosi_core.testing import PluginSite, ServeProcess

from .serve_kit import client, error_of, plugin_site, serve, served

LIMITS = {"header_timeout_s": 1.0, "body_timeout_s": 1.0, "keep_alive_s": 1.0}
CLIENTS = 40
WAIT_S = 20.0  # far beyond the 1 s limits: only a server that never closes fails


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> PluginSite:
    return plugin_site(tmp_path_factory.mktemp("site"))


def _started(tmp_path_factory: pytest.TempPathFactory, site: PluginSite,
             config: dict[str, Any], *args: str) -> ServeProcess:
    config = {"core": {"backend": "stub"}, **config}
    return serve(tmp_path_factory.mktemp("conn"), site, config, *args).start()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, site: PluginSite) -> Iterator[ServeProcess]:
    yield from served(_started(tmp_path_factory, site, {"serve": LIMITS}))


def _connect(srv: ServeProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT_S)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset), within WAIT_S."""
    sock.settimeout(WAIT_S)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


def _still_serves(srv: ServeProcess) -> None:
    assert srv.health()["status"] == "ok"
    assert client(srv).responses.create(model="stub", input="after").output_text == \
        "You said: after"


def test_idle_slow_header_and_partial_body_clients_are_closed(strict: ServeProcess) -> None:
    idle = [_connect(strict) for _ in range(CLIENTS)]
    slow_head = [_connect(strict) for _ in range(CLIENTS)]
    partial_body = [_connect(strict) for _ in range(CLIENTS)]
    for sock in partial_body:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\ncontent-type: application/json"
                     b"\r\ncontent-length: 1000\r\n\r\n{\"model\": ")
    stop = threading.Event()

    def trickle() -> None:  # a header line every 0.3 s, for as long as the socket lives
        for sock in slow_head:
            sock.sendall(b"POST /v1/responses HTTP/1.1\r\n")
        n = 0
        while not stop.wait(0.3):
            n += 1
            for sock in slow_head:
                try:
                    sock.sendall(b"X-Slow-%d: yes\r\n" % n)
                except OSError:
                    pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        for group in (idle, slow_head, partial_body):
            assert all(_closed_by_server(sock) for sock in group)
    finally:
        stop.set()
        thread.join()
        for sock in idle + slow_head + partial_body:
            sock.close()
    _still_serves(strict)


def test_idle_keep_alive_connection_is_closed(strict: ServeProcess) -> None:
    sock = _connect(strict)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(WAIT_S)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert _closed_by_server(sock)  # nothing more sent: keep_alive_s later it is closed
    sock.close()


def test_a_long_generation_is_not_cut_by_the_request_deadlines(strict: ServeProcess) -> None:
    """The deadlines cover reading a request, not the answer: the slow backend writes for ~2 s
    (over the 1 s limits) and the stream arrives whole."""
    events = list(client(strict).with_options(timeout=WAIT_S).responses.create(
        model="slow", input="go", max_output_tokens=400, stream=True))
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "incomplete" and final.output_text.count("tick") > 350


def test_connections_beyond_the_limit_get_a_503(tmp_path_factory: pytest.TempPathFactory,
                                                site: PluginSite) -> None:
    srv = _started(tmp_path_factory, site, {"serve": {"max_connections": 4}})
    held = []
    try:
        held = [_connect(srv) for _ in range(4)]
        time.sleep(0.2)  # let the server accept them (a connect returns before that)
        extra = _connect(srv)
        extra.settimeout(WAIT_S)
        reply = b""
        try:
            while chunk := extra.recv(4096):
                reply += chunk
        except ConnectionResetError:
            pass
        extra.close()
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), reply
        assert b"retry-after: 1" in head.lower()
        error = json.loads(body)["error"]
        assert error["code"] == "server_busy" and error["type"] == "server_error"
        for sock in held:
            sock.close()
        held = []
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:  # the server notices the closed sockets
            try:
                if httpx.get(f"{srv.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        _still_serves(srv)
    finally:
        for sock in held:
            sock.close()
        srv.stop()


def test_busy_backend_is_a_503_with_retry_after(tmp_path_factory: pytest.TempPathFactory,
                                                site: PluginSite) -> None:
    srv = _started(tmp_path_factory, site, {"serve": {"queue": 0}}, "--slots", "1")
    try:
        body = {"model": "slow", "input": "go", "stream": True, "max_output_tokens": 100000}
        with httpx.stream("POST", f"{srv.url}/v1/responses", json=body,
                          timeout=WAIT_S) as first:
            lines = first.iter_lines()
            while "output_text.delta" not in next(lines):
                pass
            second = httpx.post(f"{srv.url}/v1/responses", json={**body, "stream": False},
                                timeout=WAIT_S)
        assert second.status_code == 503 and second.headers["retry-after"] == "1"
        assert error_of(second)["code"] == "server_busy"
    finally:
        srv.stop()


PREFLIGHT = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def test_cors_is_off_by_default(strict: ServeProcess) -> None:
    preflight = httpx.options(f"{strict.url}/v1/responses", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    get = httpx.get(f"{strict.url}/v1/models", headers={"Origin": "http://app.example"})
    assert get.status_code == 200 and "access-control-allow-origin" not in get.headers


def test_cors_for_listed_origins(tmp_path_factory: pytest.TempPathFactory,
                                 site: PluginSite) -> None:
    config = {"serve": {"cors_origins": ["http://app.example"]}}
    srv = _started(tmp_path_factory, site, config, "--api-key", "sesame")
    try:
        preflight = httpx.options(f"{srv.url}/v1/responses", headers=PREFLIGHT)
        assert preflight.status_code == 200  # a preflight carries no key
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        get = httpx.get(f"{srv.url}/v1/models", headers={
            "Origin": "http://app.example", "Authorization": "Bearer sesame"})
        assert get.headers["access-control-allow-origin"] == "http://app.example"
        other = httpx.options(f"{srv.url}/v1/responses",
                              headers={**PREFLIGHT, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    finally:
        srv.stop()
