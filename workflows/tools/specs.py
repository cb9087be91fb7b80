"""The tools as the LLM sees them (OpenAI chat-completions "tools" entries)."""

from __future__ import annotations

from typing import Any

MIN_RESULTS, MAX_RESULTS, DEFAULT_RESULTS = 1, 10, 5

INTERNET_SEARCH_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "internet_search",
        "description": (
            "Search the web. Returns numbered results with title, URL and a short snippet. "
            "Use it for facts that change: prices, opening hours, events, transport. "
            "Read the most promising results with scrape_website."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "search_query": {
                    "type": "string",
                    "description": "What to search for, as you would type it into a search engine.",
                },
                "num_results": {
                    "type": "integer",
                    "description": (
                        f"How many results to return ({MIN_RESULTS}-{MAX_RESULTS}, default {DEFAULT_RESULTS})."
                    ),
                    "minimum": MIN_RESULTS,
                    "maximum": MAX_RESULTS,
                },
            },
            "required": ["search_query"],
            "additionalProperties": False,
        },
    },
}

SCRAPE_WEBSITE_SPEC: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "scrape_website",
        "description": (
            "Read one public web page (HTML or plain text) and return its main text as Markdown, "
            "up to about 12,000 characters. PDFs, images and pages behind logins cannot be read."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "description": "The full http:// or https:// URL of the page, e.g. from a search result.",
                },
            },
            "required": ["url"],
            "additionalProperties": False,
        },
    },
}

TOOL_SPECS: list[dict[str, Any]] = [INTERNET_SEARCH_SPEC, SCRAPE_WEBSITE_SPEC]
