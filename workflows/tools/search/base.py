"""What every search provider returns, and how it says it failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    link: str
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchResults:
    hits: list[SearchHit] = field(default_factory=list)
    answer: str = ""  # a direct answer, when the provider has one (Serper answer box)
    knowledge: str = ""  # an entity summary (Serper knowledge graph, SearXNG infobox)

    @property
    def empty(self) -> bool:
        return not (self.hits or self.answer or self.knowledge)


class SearchFailed(Exception):
    """A search that did not produce results; `reason` is written for the LLM."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SearchProvider(Protocol):
    """One web search backend. Blocking; WebTools runs it in a thread."""

    name: str

    def search(self, query: str, num_results: int) -> SearchResults:
        """Return up to `num_results` hits; raise SearchFailed on failure."""
        ...
