"""HTTPS page reads: certificates are verified, and the deadline covers the handshake.

Certificates come from trustme (a throwaway CA), servers are on loopback.
"""

from __future__ import annotations

import asyncio
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from workflows.errors import ConfigError
from workflows.tools import PAGE_UNREADABLE, WebTools
from workflows.tools.scrape import FetchSettings, PageReader, ReaderSettings

ARTICLE = ("<html><body><article><h1>Coimbra</h1>"
           + "<p>The Joanina Library admits visitors in timed groups of sixty; buy tickets at the shop.</p>" * 3
           + "</article></body></html>")
ALLOW = frozenset({"127.0.0.1"})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def read(url: str, **fetch: object) -> tuple[str, float]:
    reader = PageReader(ReaderSettings(fetch=FetchSettings(allow_hosts=ALLOW, **fetch)))
    started = time.monotonic()
    return asyncio.run(WebTools(reader=reader).scrape_website(url)), time.monotonic() - started


def test_https_page_with_a_trusted_certificate(loopback, server_tls, ca_file) -> None:
    server = loopback(lambda h: h.reply(200, ARTICLE), tls=server_tls)
    out, _ = read(server.url("/joanina"), ca_bundle=ca_file)
    assert out.startswith(f"Page: https://127.0.0.1:{server.port}/joanina")
    assert "Joanina Library admits visitors" in out


def test_an_untrusted_certificate_is_refused_not_ignored(loopback, server_tls) -> None:
    server = loopback(lambda h: h.reply(200, ARTICLE), tls=server_tls)
    out, _ = read(server.url("/joanina"))  # default trust store: our test CA is unknown
    assert out == f"{PAGE_UNREADABLE} the site's secure connection (TLS certificate) could not be verified."
    assert server.seen == []


def test_ca_bundle_comes_from_the_environment(loopback, server_tls, ca_file) -> None:
    server = loopback(lambda h: h.reply(200, ARTICLE), tls=server_tls)
    reader = PageReader.from_env({"SCRAPE_ALLOW_HOSTS": "127.0.0.1", "SCRAPE_CA_BUNDLE": ca_file})
    assert "Joanina Library" in asyncio.run(WebTools(reader=reader).scrape_website(server.url("/")))
    with pytest.raises(ConfigError) as caught:
        PageReader.from_env({"SCRAPE_CA_BUNDLE": "/no/such/ca.pem"})
    assert caught.value.variable == "SCRAPE_CA_BUNDLE"


class _DripHandshake(socketserver.BaseRequestHandler):
    """Claims a 16 KB TLS record is coming, then sends it a byte at a time."""

    def handle(self) -> None:
        try:
            self.request.sendall(b"\x16\x03\x03\x40\x00")
            for _ in range(1000):
                self.request.sendall(b"\x00")
                time.sleep(0.05)
        except OSError:
            pass


@pytest.fixture
def dripping_tls_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _DripHandshake)
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_dripping_tls_handshake_cannot_outlast_the_deadline(dripping_tls_port: int) -> None:
    # (CPython bounds a handshake by the socket timeout as a whole, and ours
    # never exceeds the time left; the deadline's socket watch backs it up.)
    out, elapsed = read(f"https://127.0.0.1:{dripping_tls_port}/", deadline_seconds=1.0)
    assert out == f"{PAGE_UNREADABLE} the site took longer than 1 seconds to send the page; try another result."
    assert elapsed < 1.6


def test_dripping_headers_over_tls_cannot_outlast_the_deadline(loopback, server_tls, ca_file) -> None:
    def drip_headers(h) -> None:
        h.wfile.write(b"HTTP/1.0 200 OK\r\n")
        for _ in range(1000):
            h.wfile.write(b"X-Slow: y\r\n")
            h.wfile.flush()
            time.sleep(0.05)

    server = loopback(drip_headers, tls=server_tls)
    out, elapsed = read(server.url("/"), ca_bundle=ca_file, deadline_seconds=1.0)
    assert out == f"{PAGE_UNREADABLE} the site took longer than 1 seconds to send the page; try another result."
    assert elapsed < 1.6
