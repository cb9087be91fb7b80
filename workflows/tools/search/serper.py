"""Serper (Google results): POST {SERPER_URL}/search with X-API-KEY.

Serper answers 403 for a bad key and 400 "Not enough credits", and sends no
rate-limit headers.
"""

from __future__ import annotations

from typing import Any

from workflows.tools.search.base import SearchResults
from workflows.tools.search.fields import hits_from, plain
from workflows.tools.search.keyed import KeyedProvider

_KNOWLEDGE_ATTRIBUTES = 8


class SerperProvider(KeyedProvider):
    name = "serper"
    key_variable = "SERPER_API_KEY"
    url_variable = "SERPER_URL"
    default_url = "https://google.serper.dev"
    path = "/search"
    needed_for = "SEARCH_PROVIDER=serper (the default)"

    def search(self, query: str, num_results: int) -> SearchResults:
        data = self._call("POST", {"X-API-KEY": self._api_key}, json_body={"q": query, "num": num_results})
        return SearchResults(
            hits=hits_from(data.get("organic"), title="title", link="link", snippet="snippet", limit=num_results),
            answer=_answer_box(data.get("answerBox")),
            knowledge=_knowledge_graph(data.get("knowledgeGraph")),
        )


def _answer_box(box: Any) -> str:
    if not isinstance(box, dict):
        return ""
    answer = plain(box.get("answer")) or plain(box.get("snippet"))
    if not answer:
        return ""
    title, link = plain(box.get("title")), plain(box.get("link"))
    return " - ".join(part for part in (answer, title, link) if part)


def _knowledge_graph(graph: Any) -> str:
    if not isinstance(graph, dict):
        return ""
    title = plain(graph.get("title"))
    kind = plain(graph.get("type"))
    head = f"{title} ({kind})" if title and kind else title or kind
    parts = [p for p in (head, plain(graph.get("description")), plain(graph.get("website"))) if p]
    attributes = graph.get("attributes")
    if isinstance(attributes, dict):
        shown = [f"{plain(k)}: {plain(v)}" for k, v in list(attributes.items())[:_KNOWLEDGE_ATTRIBUTES] if plain(v)]
        if shown:
            parts.append("; ".join(shown))
    return ". ".join(parts)
