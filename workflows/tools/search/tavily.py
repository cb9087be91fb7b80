"""Tavily: POST {TAVILY_URL}/search with a bearer key.

Tavily uses 432/433 for plan and pay-as-you-go limits.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflows.errors import ConfigError
from workflows.tools import env as envvars
from workflows.tools.search.base import SearchResults
from workflows.tools.search.fields import hits_from, object_body, plain
from workflows.tools.search.http import HttpSettings, ProviderClient

KEY_VARIABLE = "TAVILY_API_KEY"
URL_VARIABLE = "TAVILY_URL"
DEFAULT_URL = "https://api.tavily.com"


class TavilyProvider:
    name = "tavily"

    def __init__(self, api_key: str, base_url: str = DEFAULT_URL, http: HttpSettings | None = None) -> None:
        if not api_key.strip():
            raise ConfigError(KEY_VARIABLE, "is empty")
        self._api_key = api_key.strip()
        self._url = base_url.rstrip("/") + "/search"
        self._client = ProviderClient(self.name, http or HttpSettings(), secret=api_key, key_variable=KEY_VARIABLE)

    @classmethod
    def from_env(cls, env: Mapping[str, str], http: HttpSettings | None = None) -> TavilyProvider:
        return cls(
            envvars.secret(env, KEY_VARIABLE, needed_for="SEARCH_PROVIDER=tavily"),
            envvars.http_url(env, URL_VARIABLE, DEFAULT_URL),
            http,
        )

    def __repr__(self) -> str:
        return f"TavilyProvider(url={self._url!r})"

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
