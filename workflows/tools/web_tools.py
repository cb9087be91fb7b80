"""WebTools: the two tools the planner calls, as async methods for the engine.

Both methods run their blocking work (requests, trafilatura) in a worker
thread, never raise for the web's ordinary failures (they return a string
starting with "Search failed:" or "Could not read page:"), and keep no
per-call state on the instance, so many trips can call them at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from workflows.tools.outcomes import PAGE_UNREADABLE, SEARCH_FAILED
from workflows.tools.scrape import PageReader
from workflows.tools.search import SearchFailed, SearchProvider, format_results, no_results, search_provider_from_env
from workflows.tools.specs import DEFAULT_RESULTS, MAX_RESULTS, MIN_RESULTS

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 400


class WebTools:
    def __init__(
        self,
        search: SearchProvider | None = None,
        reader: PageReader | None = None,
        *,
        scrape_backstop_seconds: float = 10.0,
    ) -> None:
        self._search = search
        self._reader = reader
        # The reader's own deadline ends a fetch; the backstop covers what that
        # cannot interrupt (a hung DNS lookup, a slow extraction), so the
        # planner is never stuck on one page.
        self._backstop = scrape_backstop_seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebTools:
        """Both tools, configured; ConfigError naming the variable if not possible."""
        return cls(search_provider_from_env(env), PageReader.from_env(env))

    async def internet_search(self, search_query: str, num_results: int = DEFAULT_RESULTS) -> str:
        return await asyncio.to_thread(self._search_now, search_query, num_results)

    async def scrape_website(self, url: str) -> str:
        if self._reader is None:
            return f"{PAGE_UNREADABLE} page reading is not configured."
        limit = self._reader.settings.fetch.deadline_seconds + self._backstop
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._reader.read, str(url)), timeout=limit)
        except TimeoutError:
            logger.warning("page read outlived its deadline by %g s; abandoned", self._backstop)
            return f"{PAGE_UNREADABLE} the site took too long to answer; try another result."

    def _search_now(self, search_query: Any, num_results: Any) -> str:
        if self._search is None:
            return f"{SEARCH_FAILED} web search is not configured."
        query = " ".join(str(search_query or "").split())[:MAX_QUERY_CHARS]
        if not query:
            return f"{SEARCH_FAILED} the search query is empty; say what to search for."
        count = clamp_results(num_results)
        try:
            results = self._search.search(query, count)
        except SearchFailed as failure:
            return f"{SEARCH_FAILED} {failure.reason}"
        except Exception:
            logger.exception("unexpected error in search provider %s", getattr(self._search, "name", "?"))
            return f"{SEARCH_FAILED} an unexpected error occurred; try again later."
        return no_results(query) if results.empty else format_results(query, results)


def clamp_results(num_results: Any) -> int:
    """The LLM's num_results, forced into 1-10 (a non-number means the default)."""
    try:
        count = int(num_results)
    except (TypeError, ValueError):
        return DEFAULT_RESULTS
    return max(MIN_RESULTS, min(MAX_RESULTS, count))
