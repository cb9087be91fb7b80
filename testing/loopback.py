"""Servers on 127.0.0.1: a free port, and `LoopbackHTTP`, the HTTP server
every fake serves from.

A fake gives `LoopbackHTTP` its request handler class and itself as the
owner; handlers reach the fake as `self.server.owner`. The server binds a
free port when it is made (so a fake's URL is known before it serves),
serves from daemon threads after `start()`, and `stop()` closes it.
"""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackHTTPServer(ThreadingHTTPServer):
    """One thread per request; none of them holds up the end of a test."""

    daemon_threads = True
    block_on_close = False
    owner: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a process the test SIGKILLed,
        a client that gave up) is what these tests do on purpose: no
        traceback for it. Anything else is still printed."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class LoopbackHTTP:
    """A `ThreadingHTTPServer` on a free port of 127.0.0.1 (with `ipv6`, on the
    same port of ::1 too), each serving from a daemon thread."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        owner: Any,
        *,
        ipv6: bool = False,
        server_class: type[LoopbackHTTPServer] = LoopbackHTTPServer,
        name: str = "loopback-http",
    ) -> None:
        self.name = name
        self.servers = _bind(handler, server_class, ipv6)
        for server in self.servers:
            server.owner = owner
        self._threads: list[threading.Thread] = []

    @property
    def server(self) -> LoopbackHTTPServer:
        """The server on 127.0.0.1."""
        return self.servers[0]

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> LoopbackHTTP:
        for server in self.servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.name, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self.servers:
            if self._threads:  # shutdown() waits for a serve_forever that must have started
                server.shutdown()
            server.server_close()
        self._threads.clear()


def _bind(
    handler: type[BaseHTTPRequestHandler], server_class: type[LoopbackHTTPServer], ipv6: bool
) -> list[LoopbackHTTPServer]:
    if not ipv6:
        return [server_class(("127.0.0.1", 0), handler)]

    class OnIPv6(server_class):  # type: ignore[valid-type, misc]
        address_family = socket.AF_INET6

    for _attempt in range(20):
        v4 = server_class(("127.0.0.1", 0), handler)
        try:
            return [v4, OnIPv6(("::1", v4.server_address[1]), handler)]
        except OSError:  # the port is taken on ::1; try another
            v4.server_close()
    raise RuntimeError("no free port on both 127.0.0.1 and ::1")


__all__ = ["LoopbackHTTP", "LoopbackHTTPServer", "free_port"]
