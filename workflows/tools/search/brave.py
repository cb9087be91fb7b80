"""Brave Search: GET {BRAVE_SEARCH_URL}/res/v1/web/search with X-Subscription-Token."""

from __future__ import annotations

from workflows.tools.search.base import SearchResults
from workflows.tools.search.fields import hits_from, object_body
from workflows.tools.search.keyed import KeyedProvider

KEY_VARIABLE = "BRAVE_API_KEY"
URL_VARIABLE = "BRAVE_SEARCH_URL"
DEFAULT_URL = "https://api.search.brave.com"


class BraveProvider(KeyedProvider):
    name = "brave"
    key_variable = KEY_VARIABLE
    url_variable = URL_VARIABLE
    default_url = DEFAULT_URL
    path = "/res/v1/web/search"
    needed_for = "SEARCH_PROVIDER=brave"

    def search(self, query: str, num_results: int) -> SearchResults:
        data = object_body(
            self._client.request_json(
                "GET",
                self._url,
                headers={"X-Subscription-Token": self._api_key},
                params={"q": query, "count": num_results},
            )
        )
        web = data.get("web")
        items = web.get("results") if isinstance(web, dict) else None
        return SearchResults(hits=hits_from(items, title="title", link="url", snippet="description", limit=num_results))
