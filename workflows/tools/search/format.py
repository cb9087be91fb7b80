"""Search results as the LLM reads them: compact, numbered, fenced."""

from __future__ import annotations

from workflows.tools.search.base import SearchResults
from workflows.tools.untrusted import fence, neutralise

_TITLE_CHARS = 150
_SNIPPET_CHARS = 320
_EXTRA_CHARS = 600


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def format_results(query: str, results: SearchResults) -> str:
    lines: list[str] = []
    if results.answer:
        lines.append(f"Answer box: {_clip(results.answer, _EXTRA_CHARS)}")
    if results.knowledge:
        lines.append(f"Knowledge graph: {_clip(results.knowledge, _EXTRA_CHARS)}")
    if lines and results.hits:
        lines.append("")
    for number, hit in enumerate(results.hits, start=1):
        lines.append(f"{number}. {_clip(hit.title, _TITLE_CHARS)}")
        lines.append(f"   {hit.link}")
        if hit.snippet:
            lines.append(f"   {_clip(hit.snippet, _SNIPPET_CHARS)}")
    count = len(results.hits)
    head = f'Web search results for "{neutralise(query)}" ({count} result{"s" if count != 1 else ""}):'
    return f"{head}\n{fence(chr(10).join(lines))}"


def no_results(query: str) -> str:
    # Deliberately not a "Search failed:" string: the search worked.
    return f'No results for "{neutralise(query)}". Try different or broader search terms.'
