"""Tavily: POST {TAVILY_URL}/search with a bearer key.

Tavily uses 432/433 for plan and pay-as-you-go limits.
"""

from __future__ import annotations

from workflows.tools.search.base import SearchResults
from workflows.tools.search.fields import hits_from, plain
from workflows.tools.search.keyed import KeyedProvider


class TavilyProvider(KeyedProvider):
    name = "tavily"
    key_variable = "TAVILY_API_KEY"
    url_variable = "TAVILY_URL"
    default_url = "https://api.tavily.com"
    path = "/search"

    def search(self, query: str, num_results: int) -> SearchResults:
        body = {"query": query, "max_results": num_results}
        data = self._call("POST", {"Authorization": f"Bearer {self._api_key}"}, json_body=body)
        return SearchResults(
            hits=hits_from(data.get("results"), title="title", link="url", snippet="content", limit=num_results),
            answer=plain(data.get("answer")),
        )
