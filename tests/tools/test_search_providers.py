"""internet_search against each provider's API shape, served on loopback.

Every provider is pointed at a local server through its base-URL variable,
so these run the real requests/urllib3 stack: retries, Retry-After,
timeouts and error mapping included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.tools.loopback import Handler, SeenRequest
from workflows.tools import SEARCH_FAILED, WebTools
from workflows.tools.search import HttpSettings, search_provider_from_env

KEY = "sk-test-SECRET-7f3a9c"
RETRY_AFTER_CAP = 0.3
#: Short retry pauses; a read deadline generous enough for a loaded machine
#: (a loopback answer that comes at once is never cut off).
FAST = HttpSettings(connect_timeout=1.0, read_timeout=5.0, retries=2, backoff_factor=0.01,
                    retry_after_cap=RETRY_AFTER_CAP)
#: For a provider that is slow on purpose (0.6 s): each attempt times out.
TIGHT = replace(FAST, read_timeout=0.2)

HITS = [
    ("Hotel Avenida Palace", "https://avenida.example/", "Historic hotel next to Rossio station."),
    ("Memmo Alfama", "https://memmo.example/alfama", "Boutique hotel with a rooftop pool."),
    ("Lisbon hostel guide", "https://hostels.example/lisbon", "Ten hostels under 30 euros a night."),
]


@dataclass(frozen=True)
class Case:
    name: str
    key_variable: str | None
    url_variable: str
    method: str
    path: str
    success: Callable[[list[tuple[str, str, str]]], dict[str, Any]]
    empty: dict[str, Any]
    key_sent: Callable[[SeenRequest], str | None]
    count_sent: Callable[[SeenRequest], int | None]
    query_sent: Callable[[SeenRequest], str | None]

    def env(self, base_url: str) -> dict[str, str]:
        env = {"SEARCH_PROVIDER": self.name, self.url_variable: base_url}
        if self.key_variable:
            env[self.key_variable] = KEY
        return env


def _query(req: SeenRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(req.path).query).items()}


CASES = [
    Case(
        name="serper", key_variable="SERPER_API_KEY", url_variable="SERPER_URL", method="POST", path="/search",
        success=lambda hits: {
            "organic": [{"title": t, "link": u, "snippet": s, "position": i} for i, (t, u, s) in enumerate(hits, 1)],
            "answerBox": {"title": "Average hotel price in Lisbon", "answer": "About 120 euros a night"},
            "knowledgeGraph": {"title": "Lisbon", "type": "Capital of Portugal",
                               "description": "Lisbon is the capital and largest city of Portugal.",
                               "attributes": {"Population": "545,000"}},
        },
        empty={"searchParameters": {"q": "x"}, "organic": []},
        key_sent=lambda r: r.headers.get("x-api-key"),
        count_sent=lambda r: r.json()["num"],
        query_sent=lambda r: r.json()["q"],
    ),
    Case(
        name="brave", key_variable="BRAVE_API_KEY", url_variable="BRAVE_SEARCH_URL", method="GET",
        path="/res/v1/web/search",
        success=lambda hits: {"type": "search", "web": {"results": [
            {"title": t, "url": u, "description": s.replace("hotel", "<strong>hotel</strong>")} for t, u, s in hits
        ]}},
        empty={"type": "search", "query": {"original": "x"}},  # Brave omits "web" when nothing matched
        key_sent=lambda r: r.headers.get("x-subscription-token"),
        count_sent=lambda r: int(_query(r)["count"]),
        query_sent=lambda r: _query(r)["q"],
    ),
    Case(
        name="tavily", key_variable="TAVILY_API_KEY", url_variable="TAVILY_URL", method="POST", path="/search",
        success=lambda hits: {"query": "x", "answer": "About 120 euros a night",
                              "results": [{"title": t, "url": u, "content": s, "score": 0.9} for t, u, s in hits]},
        empty={"query": "x", "results": []},
        key_sent=lambda r: r.headers.get("authorization", "").removeprefix("Bearer "),
        count_sent=lambda r: r.json()["max_results"],
        query_sent=lambda r: r.json()["query"],
    ),
    Case(
        name="searxng", key_variable=None, url_variable="SEARXNG_URL", method="GET", path="/search",
        success=lambda hits: {"query": "x", "results": [{"title": t, "url": u, "content": s} for t, u, s in hits],
                              "answers": ["About 120 euros a night"],
                              "infoboxes": [{"infobox": "Lisbon", "content": "Capital of Portugal"}]},
        empty={"query": "x", "results": [], "answers": [], "infoboxes": []},
        key_sent=lambda r: None,
        count_sent=lambda r: None,  # SearXNG has no count parameter; we cut the list
        query_sent=lambda r: _query(r)["q"],
    ),
]
BY_NAME = {c.name: c for c in CASES}
each_provider = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def search(case: Case, base_url: str, query: str = "lisbon hotels", num_results: Any = 5,
           http: HttpSettings = FAST) -> str:
    tools = WebTools(search=search_provider_from_env(case.env(base_url), http))
    return asyncio.run(tools.internet_search(query, num_results))


def scripted(*answers: Callable[[Handler], None]) -> Callable[[Handler], None]:
    """A route that gives the n-th request the n-th answer (the last one repeats)."""
    calls = iter(range(10**6))

    def route(h: Handler) -> None:
        answers[min(next(calls), len(answers) - 1)](h)

    return route


def ok(case: Case, hits=HITS) -> Callable[[Handler], None]:
    return lambda h: h.reply_json(case.success(list(hits)))


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Callable[[Handler], None]:
    return lambda h: h.reply_json(body if body is not None else {"message": f"status {code}"}, code, headers)


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- success and empty ---------------------------------------------------------


@each_provider
def test_results_are_compact_fenced_and_complete(case: Case, loopback) -> None:
    server = loopback(ok(case))
    out = search(case, server.url(""), "lisbon hotels", 3)

    assert out.startswith('Web search results for "lisbon hotels" (3 results):')
    for title, link, snippet in HITS:
        assert title in out and link in out and snippet in out
    assert "<strong>" not in out  # Brave's markup is stripped
    assert "<<<UNTRUSTED_WEB_CONTENT id=" in out and "<<<END_UNTRUSTED_WEB_CONTENT id=" in out
    if case.name in ("serper", "tavily", "searxng"):
        assert "About 120 euros a night" in out
    if case.name == "serper":
        assert "Knowledge graph: Lisbon (Capital of Portugal)" in out and "Population: 545,000" in out
    assert KEY not in out

    [req] = server.seen
    assert (req.method, urlsplit(req.path).path) == (case.method, case.path)
    assert case.query_sent(req) == "lisbon hotels"
    assert case.key_sent(req) == (KEY if case.key_variable else None)
    if case.name == "searxng":
        assert _query(req)["format"] == "json"


@each_provider
@pytest.mark.parametrize(("asked", "expected"), [(50, 10), (0, 1), (-3, 1), ("7", 7), ("lots", 5)])
def test_num_results_is_clamped_to_1_to_10(case: Case, loopback, asked: Any, expected: int) -> None:
    many = [(f"Result {i}", f"https://r{i}.example/", f"Snippet {i}") for i in range(15)]
    server = loopback(ok(case, many))
    out = search(case, server.url(""), "porto", asked)

    assert f"({expected} result{'s' if expected != 1 else ''}):" in out
    assert f"{expected}. Result {expected - 1}" in out and f"{expected + 1}. " not in out
    sent = case.count_sent(server.seen[0])
    assert sent in (None, expected)


@each_provider
def test_no_results_is_not_a_failure(case: Case, loopback) -> None:
    server = loopback(lambda h: h.reply_json(case.empty))
    out = search(case, server.url(""), "zzqx nonexistent")

    assert out == 'No results for "zzqx nonexistent". Try different or broader search terms.'
    assert not out.startswith(SEARCH_FAILED)


# --- permanent failures: no retry, clear string, an ERROR for operators ------------


@each_provider
@pytest.mark.parametrize("code", [401, 403])
def test_rejected_key_fails_at_once_and_is_logged(case: Case, code: int, loopback, caplog) -> None:
    caplog.set_level(logging.INFO)
    # Some APIs echo what they got; the key must still not reach logs or the LLM.
    echoed = KEY if case.key_variable else "none"
    server = loopback(status(code, {"message": f"Unauthorized: invalid key {echoed}"}))
    out = search(case, server.url(""))

    assert out.startswith(SEARCH_FAILED)
    assert f"HTTP {code}" in out
    if case.key_variable:
        assert f"rejected our API key (HTTP {code}" in out and case.key_variable in out
    elif code == 403:
        assert "json format" in out  # SearXNG's way of refusing format=json
    assert len(server.seen) == 1, "a bad key must not be retried"
    assert errors_logged(caplog), "operators need an ERROR log line"
    assert KEY not in out and KEY not in caplog.text


@each_provider
def test_out_of_credits_fails_at_once_and_is_logged(case: Case, loopback, caplog) -> None:
    caplog.set_level(logging.INFO)
    server = loopback(status(400, {"message": "Not enough credits", "statusCode": 400}))
    out = search(case, server.url(""))

    assert out.startswith(SEARCH_FAILED)
    assert "out of credits" in out and "Not enough credits" in out and "HTTP 400" in out
    assert len(server.seen) == 1
    assert errors_logged(caplog)
    assert KEY not in caplog.text


@pytest.mark.parametrize(("case", "code", "body"), [
    (BY_NAME["tavily"], 432, {"detail": {"error": "This request exceeds your plan's set usage limit."}}),
    (BY_NAME["brave"], 402, {"type": "ErrorResponse", "error": {"code": "QUOTA_LIMITED", "detail": "Quota exhausted"}}),
], ids=["tavily-432", "brave-402"])
def test_provider_specific_credit_statuses(case: Case, code: int, body: dict, loopback) -> None:
    server = loopback(status(code, body))
    out = search(case, server.url(""))
    assert out.startswith(SEARCH_FAILED) and "out of credits" in out and f"HTTP {code}" in out
    assert len(server.seen) == 1


@each_provider
def test_other_client_errors_are_not_retried(case: Case, loopback) -> None:
    server = loopback(status(422, {"message": "Query too long"}))
    out = search(case, server.url(""))
    assert out == f"{SEARCH_FAILED} the search provider refused the request (HTTP 422: Query too long)."
    assert len(server.seen) == 1


# --- transient failures: retried at most twice, honouring Retry-After -----------------


@each_provider
def test_429_is_retried_after_retry_after_capped(case: Case, loopback) -> None:
    # Retry-After says 1 s; the cap (0.3 s here) wins. Backoff alone would be ~0 s.
    server = loopback(scripted(status(429, headers={"Retry-After": "1"}),
                               status(429, headers={"Retry-After": "1"}), ok(case)))
    out = search(case, server.url(""))

    assert out.startswith("Web search results"), out
    assert len(server.seen) == 3
    gaps = [b.at - a.at for a, b in zip(server.seen, server.seen[1:], strict=False)]
    assert all(RETRY_AFTER_CAP - 0.02 <= gap < 0.9 for gap in gaps), gaps


def test_retry_after_below_the_cap_is_honoured_in_full(loopback) -> None:
    case = BY_NAME["serper"]
    server = loopback(scripted(status(429, headers={"Retry-After": "1"}), ok(case)))
    out = search(case, server.url(""), http=HttpSettings(read_timeout=1.0, retries=2, backoff_factor=0.01,
                                                         retry_after_cap=5.0))
    assert out.startswith("Web search results")
    assert len(server.seen) == 2
    assert server.seen[1].at - server.seen[0].at >= 0.95


@each_provider
def test_persistent_429_gives_up_after_two_retries(case: Case, loopback, caplog) -> None:
    caplog.set_level(logging.INFO)
    server = loopback(status(429, {"message": "Too many requests"}))  # Serper sends no Retry-After
    out = search(case, server.url(""))

    assert out.startswith(f"{SEARCH_FAILED} the search provider is rate limiting us (HTTP 429")
    assert "3 attempts" in out
    assert len(server.seen) == 3
    assert not errors_logged(caplog)  # transient: a warning, not an operator alert


@each_provider
def test_5xx_is_retried(case: Case, loopback) -> None:
    server = loopback(scripted(status(503), status(500), ok(case)))
    assert search(case, server.url("")).startswith("Web search results")
    assert len(server.seen) == 3


@each_provider
def test_persistent_5xx_fails_with_a_server_error(case: Case, loopback) -> None:
    server = loopback(status(502, {"message": "Bad gateway"}))
    out = search(case, server.url(""))
    assert out.startswith(f"{SEARCH_FAILED} the search provider had a server error (HTTP 502")
    assert len(server.seen) == 3


@each_provider
def test_slow_provider_times_out_and_is_retried(case: Case, loopback) -> None:
    def slow(h: Handler) -> None:
        time.sleep(0.6)
        h.reply_json(case.success(HITS))

    server = loopback(slow)
    started = time.monotonic()
    out = search(case, server.url(""), http=TIGHT)

    assert out == f"{SEARCH_FAILED} the search provider did not answer within 0.2 s (3 attempts). Try again later."
    assert len(server.seen) == 3
    assert time.monotonic() - started < 2.0


@each_provider
def test_unreachable_provider(case: Case, closed_port: int) -> None:
    out = search(case, f"http://127.0.0.1:{closed_port}")
    assert out == f"{SEARCH_FAILED} the search provider could not be reached (3 attempts). Try again later."


# --- broken answers --------------------------------------------------------------------


@each_provider
def test_garbage_json(case: Case, loopback, caplog) -> None:
    server = loopback(lambda h: h.reply(200, "<html><body>502 Bad Gateway</body>", "application/json"))
    out = search(case, server.url(""))
    assert out == f"{SEARCH_FAILED} the search provider returned invalid JSON. Try again later."
    assert len(server.seen) == 1


@each_provider
def test_json_of_the_wrong_shape(case: Case, loopback) -> None:
    server = loopback(lambda h: h.reply_json(["not", "an", "object"]))
    out = search(case, server.url(""))
    assert out == f"{SEARCH_FAILED} the search provider returned an unexpected response. Try again later."


@each_provider
def test_malformed_items_are_skipped_not_fatal(case: Case, loopback) -> None:
    body = case.success(HITS)
    key = {"serper": "organic", "tavily": "results", "searxng": "results"}.get(case.name)
    items = body["web"]["results"] if case.name == "brave" else body[key]
    items[1:1] = ["junk", {"title": "no link at all"}, {"url": None, "link": 42}]
    server = loopback(lambda h: h.reply_json(body))
    out = search(case, server.url(""))
    assert "(3 results)" in out and "no link at all" not in out
