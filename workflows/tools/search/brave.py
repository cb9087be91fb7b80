"""Brave Search: GET {BRAVE_SEARCH_URL}/res/v1/web/search with X-Subscription-Token."""

from __future__ import annotations

from collections.abc import Mapping

from workflows.errors import ConfigError
from workflows.tools import env as envvars
from workflows.tools.search.base import SearchResults
from workflows.tools.search.fields import hits_from, object_body
from workflows.tools.search.http import HttpSettings, ProviderClient

KEY_VARIABLE = "BRAVE_API_KEY"
URL_VARIABLE = "BRAVE_SEARCH_URL"
DEFAULT_URL = "https://api.search.brave.com"


class BraveProvider:
    name = "brave"

    def __init__(self, api_key: str, base_url: str = DEFAULT_URL, http: HttpSettings | None = None) -> None:
        if not api_key.strip():
            raise ConfigError(KEY_VARIABLE, "is empty")
        self._api_key = api_key.strip()
        self._url = base_url.rstrip("/") + "/res/v1/web/search"
        self._client = ProviderClient(self.name, http or HttpSettings(), secret=api_key, key_variable=KEY_VARIABLE)

    @classmethod
    def from_env(cls, env: Mapping[str, str], http: HttpSettings | None = None) -> BraveProvider:
        return cls(
            envvars.secret(env, KEY_VARIABLE, needed_for="SEARCH_PROVIDER=brave"),
            envvars.http_url(env, URL_VARIABLE, DEFAULT_URL),
            http,
        )

    def __repr__(self) -> str:
        return f"BraveProvider(url={self._url!r})"

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
