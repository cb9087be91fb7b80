"""Turning a provider's loosely typed JSON into SearchHits.

Providers change shapes and omit fields; a missing or odd field costs that
field, not the whole search.
"""

from __future__ import annotations

import html
import re
from typing import Any

from workflows.tools.search.base import SearchFailed, SearchHit

_TAG = re.compile(r"<[^>]{0,200}>")


def plain(value: Any) -> str:
    """A single line of text: markup (Brave's <strong>) and entities removed."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return ""
    text = html.unescape(_TAG.sub("", str(value)))
    return " ".join(text.split())


def object_body(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SearchFailed("the search provider returned an unexpected response. Try again later.")
    return data


def hits_from(items: Any, *, title: str, link: str, snippet: str, limit: int) -> list[SearchHit]:
    if not isinstance(items, list):
        return []
    hits = []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = plain(item.get(link))
        if not url.startswith(("http://", "https://")):
            continue  # a result the LLM cannot open is no use to it
        hits.append(SearchHit(title=plain(item.get(title)) or url, link=url, snippet=plain(item.get(snippet))))
        if len(hits) == limit:
            break
    return hits
