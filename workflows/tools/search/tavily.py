"""Tavily: POST {TAVILY_URL}/search with a bearer key.

Tavily uses 432/433 for plan and pay-as-you-go limits.
"""

from __future__ import annotations

from workflows.tools.search.base import SearchResults
from workflows.tools.search.fields import hits_from, object_body, plain
from workflows.tools.search.keyed import KeyedProvider

KEY_VARIABLE = "TAVILY_API_KEY"
URL_VARIABLE = "TAVILY_URL"
DEFAULT_URL = "https://api.tavily.com"


class TavilyProvider(KeyedProvider):
    name = "tavily"
    key_variable = KEY_VARIABLE
    url_variable = URL_VARIABLE
    default_url = DEFAULT_URL
    path = "/search"
    needed_for = "SEARCH_PROVIDER=tavily"

    def search(self, query: str, num_results: int) -> SearchResults:
        data = object_body(
            self._client.request_json(
                "POST",
                self._url,
                headers={"Authorization": f"Bearer {self._api_key}"},
                json_body={"query": query, "max_results": num_results},
            )
        )
        return SearchResults(
            hits=hits_from(data.get("results"), title="title", link="url", snippet="content", limit=num_results),
            answer=plain(data.get("answer")),
        )
