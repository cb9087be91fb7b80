"""The public API the trip engine calls: construction, specs, async behaviour."""

from __future__ import annotations

import asyncio
import inspect
import json
import time

import jsonschema
import pytest

from tests.tools.loopback import Handler
from workflows.errors import ConfigError
from workflows.tools import PAGE_UNREADABLE, SEARCH_FAILED, TOOL_SPECS, UNTRUSTED_CONTENT_RULE, WebTools, is_tool_error
from workflows.tools.scrape import FetchSettings, PageReader, ReaderSettings
from workflows.tools.search import HttpSettings, search_provider_from_env
from workflows.tools.search.brave import BraveProvider
from workflows.tools.search.serper import SerperProvider
from workflows.tools.search.tavily import TavilyProvider

ARTICLE = ("<html><body><article><h1>Sintra</h1>"
           + "<p>Pena Palace opens at 9:30; book the first slot to avoid the crowds on the ramparts.</p>" * 4
           + "</article></body></html>")


# --- configuration is checked at start-up ---------------------------------------------------


@pytest.mark.parametrize(("env", "variable"), [
    ({}, "SERPER_API_KEY"),
    ({"SERPER_API_KEY": "  "}, "SERPER_API_KEY"),
    ({"SEARCH_PROVIDER": "brave"}, "BRAVE_API_KEY"),
    ({"SEARCH_PROVIDER": "tavily"}, "TAVILY_API_KEY"),
    ({"SEARCH_PROVIDER": "searxng"}, "SEARXNG_URL"),
    ({"SEARCH_PROVIDER": "bing", "SERPER_API_KEY": "k"}, "SEARCH_PROVIDER"),
    ({"SERPER_API_KEY": "k", "SERPER_URL": "google.serper.dev"}, "SERPER_URL"),
    ({"SEARCH_PROVIDER": "searxng", "SEARXNG_URL": "ftp://search.local"}, "SEARXNG_URL"),
    ({"SERPER_API_KEY": "k", "SCRAPE_DEADLINE_SECONDS": "soon"}, "SCRAPE_DEADLINE_SECONDS"),
    ({"SERPER_API_KEY": "k", "SCRAPE_DEADLINE_SECONDS": "0"}, "SCRAPE_DEADLINE_SECONDS"),
])
def test_from_env_names_the_variable_that_is_wrong(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WebTools.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


@pytest.mark.parametrize(("env", "provider"), [
    ({"SERPER_API_KEY": "k"}, "serper"),
    ({"SEARCH_PROVIDER": "Brave", "BRAVE_API_KEY": "k"}, "brave"),
    ({"SEARCH_PROVIDER": "tavily", "TAVILY_API_KEY": "k"}, "tavily"),
    ({"SEARCH_PROVIDER": "searxng", "SEARXNG_URL": "http://searx.internal:8080/"}, "searxng"),
])
def test_from_env_builds_the_chosen_provider(env: dict[str, str], provider: str) -> None:
    assert search_provider_from_env(env).name == provider
    WebTools.from_env(env)


@pytest.mark.parametrize("provider", [SerperProvider, BraveProvider, TavilyProvider])
def test_constructors_refuse_an_empty_key(provider: type) -> None:
    with pytest.raises(ConfigError) as caught:
        provider(" ")
    assert caught.value.variable.endswith("_API_KEY")


def test_keys_do_not_show_in_reprs() -> None:
    for env in ({"SERPER_API_KEY": "sk-SECRET"}, {"SEARCH_PROVIDER": "brave", "BRAVE_API_KEY": "sk-SECRET"},
                {"SEARCH_PROVIDER": "tavily", "TAVILY_API_KEY": "sk-SECRET"}):
        assert "sk-SECRET" not in repr(search_provider_from_env(env))


# --- tool specs -----------------------------------------------------------------------------


def test_tool_specs_are_valid_openai_function_tools() -> None:
    assert [s["function"]["name"] for s in TOOL_SPECS] == ["internet_search", "scrape_website"]
    for spec in TOOL_SPECS:
        assert spec["type"] == "function"
        function = spec["function"]
        assert function["description"]
        schema = function["parameters"]
        jsonschema.Draft202012Validator.check_schema(schema)
        for name, prop in schema["properties"].items():
            assert prop["type"] in ("string", "integer") and prop["description"], name
        # The schema and the method agree on names and required parameters.
        method = inspect.signature(getattr(WebTools, function["name"]))
        params = {n: p for n, p in method.parameters.items() if n != "self"}
        assert set(params) == set(schema["properties"])
        assert set(schema["required"]) == {n for n, p in params.items() if p.default is inspect.Parameter.empty}


def test_search_spec_bounds_num_results() -> None:
    schema = TOOL_SPECS[0]["function"]["parameters"]
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"search_query": "lisbon", "num_results": 10})
    assert not validator.is_valid({"search_query": "lisbon", "num_results": 11})
    assert not validator.is_valid({"num_results": 3})


def test_untrusted_rule_is_exported() -> None:
    assert "UNTRUSTED_WEB_CONTENT" in UNTRUSTED_CONTENT_RULE


# --- async behaviour -------------------------------------------------------------------------


def test_tool_calls_do_not_block_the_event_loop(loopback) -> None:
    def slow_page(h: Handler) -> None:
        time.sleep(0.4)
        h.reply(200, ARTICLE)

    def slow_search(h: Handler) -> None:
        time.sleep(0.4)
        h.reply_json({"organic": [{"title": "Pena", "link": "https://pena.example/", "snippet": "Palace"}]})

    pages, search = loopback(slow_page), loopback(slow_search)
    tools = WebTools(
        search=search_provider_from_env({"SERPER_API_KEY": "k", "SERPER_URL": search.url("")}),
        reader=PageReader(ReaderSettings(fetch=FetchSettings(allow_hosts=frozenset({"127.0.0.1"})))),
    )

    async def main() -> tuple[list[str], float]:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        results = await asyncio.gather(tools.scrape_website(pages.url("/")), tools.internet_search("sintra", 3))
        stop.set()
        await tick
        return results, max(gaps)

    (page, found), worst_gap = asyncio.run(main())
    assert "Pena Palace opens at 9:30" in page and "Pena" in found
    assert worst_gap < 0.15, f"the event loop stalled for {worst_gap:.2f} s"


def test_many_concurrent_calls_each_get_their_own_answer(loopback) -> None:
    def page_route(h: Handler) -> None:
        time.sleep(0.05)
        h.reply(200, ARTICLE.replace("Sintra", f"Sintra page {h.path.strip('/')}"))

    def search_route(h: Handler) -> None:
        query = json.loads(h.request_body)["q"]
        h.reply_json({"organic": [{"title": f"About {query}", "link": "https://x.example/", "snippet": "s"}]})

    pages, search = loopback(page_route), loopback(search_route)
    tools = WebTools(
        search=search_provider_from_env({"SERPER_API_KEY": "k", "SERPER_URL": search.url("")}),
        reader=PageReader(ReaderSettings(fetch=FetchSettings(allow_hosts=frozenset({"127.0.0.1"})))),
    )

    async def main() -> list[str]:
        scrapes = [tools.scrape_website(pages.url(f"/{i}")) for i in range(12)]
        searches = [tools.internet_search(f"query {i}", 1) for i in range(12)]
        return await asyncio.gather(*scrapes, *searches)

    results = asyncio.run(main())
    for i in range(12):
        assert f"Sintra page {i}" in results[i]
        assert f"1. About query {i}" in results[12 + i]
    assert pages.connections == 12 and len(search.seen) == 12


def test_a_read_that_outlives_its_deadline_is_abandoned() -> None:
    # Stands in for what the reader's deadline cannot interrupt (a hung DNS lookup).
    class HungReader(PageReader):
        def read(self, url: str) -> str:
            time.sleep(1.5)
            return "too late"

    tools = WebTools(reader=HungReader(ReaderSettings(fetch=FetchSettings(deadline_seconds=0.2))),
                     scrape_backstop_seconds=0.1)

    async def timed() -> tuple[str, float]:
        started = time.monotonic()
        out = await tools.scrape_website("https://example.com/")
        return out, time.monotonic() - started

    out, elapsed = asyncio.run(timed())  # (asyncio.run itself then waits for the thread)
    assert out == f"{PAGE_UNREADABLE} the site took too long to answer; try another result."
    assert elapsed < 1.0


def test_unconfigured_tools_answer_with_a_failure_string() -> None:
    tools = WebTools()
    assert asyncio.run(tools.internet_search("x")).startswith(SEARCH_FAILED)
    assert asyncio.run(tools.scrape_website("https://example.com/")).startswith(PAGE_UNREADABLE)


@pytest.mark.parametrize("query", ["", "   ", None])
def test_empty_queries_are_refused_without_a_request(loopback, query) -> None:
    server = loopback(lambda h: h.reply_json({"organic": []}))
    tools = WebTools(search=search_provider_from_env({"SERPER_API_KEY": "k", "SERPER_URL": server.url("")}))
    out = asyncio.run(tools.internet_search(query))
    assert out == f"{SEARCH_FAILED} the search query is empty; say what to search for."
    assert server.connections == 0


def test_a_provider_bug_becomes_a_failure_string(caplog) -> None:
    class Broken:
        name = "broken"

        def search(self, query: str, num_results: int):
            raise KeyError("surprise")

    out = asyncio.run(WebTools(search=Broken()).internet_search("lisbon"))
    assert out == f"{SEARCH_FAILED} an unexpected error occurred; try again later."
    assert "surprise" in caplog.text  # logged with its traceback for operators


def test_is_tool_error() -> None:
    assert is_tool_error(f"{SEARCH_FAILED} x") and is_tool_error(f"{PAGE_UNREADABLE} x")
    assert not is_tool_error('No results for "x". Try different or broader search terms.')
    assert not is_tool_error("Web search results for ...")


def test_http_settings_worst_case_stays_inside_the_engine_lease() -> None:
    s = HttpSettings()
    attempts = s.retries + 1
    assert attempts * (s.connect_timeout + s.read_timeout) + s.retries * s.retry_after_cap < 60
