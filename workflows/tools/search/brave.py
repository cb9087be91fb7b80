"""Brave Search: GET {BRAVE_SEARCH_URL}/res/v1/web/search with X-Subscription-Token."""

from __future__ import annotations

from workflows.tools.search.base import SearchResults
from workflows.tools.search.fields import hits_from
from workflows.tools.search.keyed import KeyedProvider


class BraveProvider(KeyedProvider):
    name = "brave"
    key_variable = "BRAVE_API_KEY"
    url_variable = "BRAVE_SEARCH_URL"
    default_url = "https://api.search.brave.com"
    path = "/res/v1/web/search"

    def search(self, query: str, num_results: int) -> SearchResults:
        data = self._call("GET", {"X-Subscription-Token": self._api_key}, params={"q": query, "count": num_results})
        web = data.get("web")
        items = web.get("results") if isinstance(web, dict) else None
        return SearchResults(hits=hits_from(items, title="title", link="url", snippet="description", limit=num_results))
