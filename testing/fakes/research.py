"""Loopback fakes for the planner's research: a Serper-style search API and
a site with pages to read. Both count requests, which is how tests check that
a completed search or scrape is never paid for again."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any

from testing.loopback import LoopbackHTTP


class _RecordingSite:
    """Answers every request with `answer()`, recording its path and body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, body)
        self._lock = threading.Lock()
        self.http = LoopbackHTTP(_Handler, self)

    @property
    def url(self) -> str:
        return self.http.url()

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.http.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.stop()

    def counts(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.requests)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def _serve(self, method: str) -> None:
        site: _RecordingSite = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        with site._lock:
            site.requests.append((self.path, body.decode(errors="replace")))
        status, ctype, data = site.answer(method, self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")


class FakeSerper(_RecordingSite):
    """`POST /search` with `X-API-KEY`, answering from canned results."""

    def __init__(self, results_for: dict[str, list[dict[str, str]]] | None = None) -> None:
        super().__init__()
        self.results_for = results_for or {}

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        query = json.loads(body or b"{}").get("q", "")
        organic = self.results_for.get(query) or [
            {"title": f"About {query}", "link": f"https://example.org/{len(query)}", "snippet": f"All about {query}."}
        ]
        payload: dict[str, Any] = {"organic": organic}
        return 200, "application/json", json.dumps(payload).encode()


class PageSite(_RecordingSite):
    """Serves HTML pages by path."""

    def __init__(self, pages: dict[str, str]) -> None:
        super().__init__()
        self.pages = pages

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        html = self.pages.get(path)
        if html is None:
            return 404, "text/html", b"<html><body>not found</body></html>"
        return 200, "text/html; charset=utf-8", html.encode()


def article(title: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{body}</article>"
        "<footer>Copyright footer</footer></body></html>"
    )
