"""How long the page reader takes per page, on the test fixture pages.

    uv run python benchmarks/extraction.py [--runs N]

Two timings per page, in milliseconds (median and p90 over N runs):
- extract: hidden-element pruning + trafilatura (or plain-text decoding),
  the CPU part of scrape_website;
- read: the whole PageReader.read() against a loopback HTTP server
  (guarded connection, capped read, extraction, fencing).
One extra, synthetic row pads a fixture with the bulk real pages carry
(inline scripts and JSON, mega-menus) to show how size drives the cost.
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import threading
import time
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from workflows.tools.scrape import FetchSettings, PageReader, ReaderSettings
from workflows.tools.scrape.extract import extract_markdown, plain_text

PAGES = Path(__file__).resolve().parents[1] / "tests" / "tools" / "pages"
SYNTHETIC = "synthetic_heavy.html"


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".xhtml": "application/xhtml+xml"}

    def log_message(self, format: str, *args: object) -> None:
        pass


def _heavy_page() -> bytes:
    """lisbon_guide.html plus ~400 KB of the bulk real pages carry."""
    base = (PAGES / "lisbon_guide.html").read_text(encoding="utf-8")
    menu = "".join(f'<li><a href="/d/{i}">Destination {i}</a></li>' for i in range(1500))
    state = ",".join(f'{{"id":{i},"name":"Tour {i}","price":{i % 90 + 10}}}' for i in range(5000))
    bulk = f'<nav class="mega-menu"><ul>{menu}</ul></nav><script>window.__STATE__=[{state}];</script>'
    return base.replace("<body>", f"<body>{bulk}", 1).encode("utf-8")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return statistics.median(ordered), p90


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm up (imports, caches)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def _extractor(name: str, body: bytes) -> Callable[[], object]:
    if name.endswith(".txt"):
        return lambda: plain_text(body, "utf-8")
    return lambda: extract_markdown(body, None, f"https://example.com/{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs

    pages = {p.name: p.read_bytes() for p in sorted(PAGES.iterdir()) if p.is_file()}
    pages[SYNTHETIC] = _heavy_page()

    serve_dir = PAGES
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(serve_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reader = PageReader(ReaderSettings(fetch=FetchSettings(allow_hosts=frozenset({"127.0.0.1"}))))
    base = f"http://127.0.0.1:{server.server_address[1]}"

    header = f"{'page':<26} {'KB':>6} {'extract ms':>11} {'p90':>7} {'read ms':>9} {'p90':>7} {'chars out':>10}"
    print(f"runs per page: {runs}\n{header}\n{'-' * len(header)}")
    try:
        for name, body in pages.items():
            ext_med, ext_p90 = _time(_extractor(name, body), runs)
            if name == SYNTHETIC:
                read_cells, chars = f"{'-':>9} {'-':>7}", len(extract_markdown(body, None, "https://x/") or "")
            else:
                read_med, read_p90 = _time(lambda n=name: reader.read(f"{base}/{n}"), runs)
                read_cells, chars = f"{read_med:>9.1f} {read_p90:>7.1f}", len(reader.read(f"{base}/{name}"))
            print(f"{name:<26} {len(body) / 1024:>6.1f} {ext_med:>11.1f} {ext_p90:>7.1f} {read_cells} {chars:>10,}")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
