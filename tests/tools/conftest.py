"""Fixtures for the web tool tests: real loopback servers, nothing patched."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from tests.tools.loopback import LoopbackServer, Route


@pytest.fixture
def loopback() -> Iterator[object]:
    """`loopback(route, ipv6=False, tls=None)` starts a server; all are stopped after the test."""
    servers: list[LoopbackServer] = []

    def start(route: Route, *, ipv6: bool = False, tls: ssl.SSLContext | None = None) -> LoopbackServer:
        server = LoopbackServer(route, ipv6=ipv6, tls=tls).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
