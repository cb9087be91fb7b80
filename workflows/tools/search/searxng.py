"""SearXNG (self-hosted metasearch): GET {SEARXNG_URL}/search?format=json, no key.

The instance must allow the json format (`search.formats` in settings.yml);
otherwise it answers 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflows.tools import env as envvars
from workflows.tools.search.base import SearchFailed, SearchResults
from workflows.tools.search.fields import hits_from, object_body, plain
from workflows.tools.search.http import HttpSettings, ProviderClient

URL_VARIABLE = "SEARXNG_URL"


class SearxngProvider:
    name = "searxng"

    def __init__(self, base_url: str, http: HttpSettings | None = None) -> None:
        self._url = base_url.rstrip("/") + "/search"
        self._client = ProviderClient(self.name, http or HttpSettings())

    @classmethod
    def from_env(cls, env: Mapping[str, str], http: HttpSettings | None = None) -> SearxngProvider:
        return cls(envvars.http_url(env, URL_VARIABLE, needed_for="SEARCH_PROVIDER=searxng"), http)

    def __repr__(self) -> str:
        return f"SearxngProvider(url={self._url!r})"

    def search(self, query: str, num_results: int) -> SearchResults:
        try:
            body = self._client.request_json("GET", self._url, params={"q": query, "format": "json"})
        except SearchFailed as failure:
            if "HTTP 403" in failure.reason:
                raise SearchFailed(
                    "the SearXNG instance refused the request (HTTP 403); an operator must enable the "
                    "json format in its settings. Carry on without web search."
                ) from None
            raise
        data = object_body(body)
        return SearchResults(
            hits=hits_from(data.get("results"), title="title", link="url", snippet="content", limit=num_results),
            answer=_answers(data.get("answers")),
            knowledge=_infobox(data.get("infoboxes")),
        )


def _answers(answers: Any) -> str:
    if not isinstance(answers, list):
        return ""
    # Older instances send strings, newer ones {"answer": ..., "url": ...}.
    texts = [plain(a.get("answer") if isinstance(a, dict) else a) for a in answers[:3]]
    return " / ".join(t for t in texts if t)


def _infobox(infoboxes: Any) -> str:
    if not isinstance(infoboxes, list) or not infoboxes or not isinstance(infoboxes[0], dict):
        return ""
    box = infoboxes[0]
    return ". ".join(p for p in (plain(box.get("infobox")), plain(box.get("content"))) if p)
