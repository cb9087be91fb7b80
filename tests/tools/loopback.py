"""Real HTTP servers on 127.0.0.1 (and ::1) for the tool tests.

A test gives a `route(handler)` function that answers each request however
it likes (normal replies, dripping bytes, endless bodies). The server counts
accepted TCP connections as well as parsed requests, so an SSRF test can
assert that nothing at all reached it.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from testing.loopback import LoopbackHTTP, LoopbackHTTPServer


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request line had been read

    def json(self) -> Any:
        return json.loads(self.body)


Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection; bodies end at close
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.request_body = body
        self.server.owner.seen.append(
            SeenRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
            )
        )
        try:
            self.server.owner.route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as the size and time caps make it do

    do_GET = do_POST = do_HEAD = _serve

    # Helpers for routes.
    def reply(self, status: int = 200, body: bytes | str = b"", content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reply_json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.reply(status, json.dumps(data), "application/json", headers)

    def redirect(self, location: str, status: int = 302) -> None:
        self.reply(status, b"", "", {"Location": location})


class _Server(LoopbackHTTPServer):
    owner: LoopbackServer

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.owner.connections += 1
        return True

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.owner.tls is not None:  # handshake in the handler thread, not in accept()
            request = self.owner.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (TLS refused, caps hit) are expected here


@dataclass
class LoopbackServer:
    route: Route
    ipv6: bool = False
    tls: ssl.SSLContext | None = None
    seen: list[SeenRequest] = field(default_factory=list)
    connections: int = 0
    http: LoopbackHTTP | None = None  # while started

    def start(self) -> LoopbackServer:
        self.http = LoopbackHTTP(Handler, self, ipv6=self.ipv6, server_class=_Server).start()
        return self

    @property
    def port(self) -> int:
        assert self.http is not None, "start() the server first"
        return self.http.port

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
