"""The prefixes that mark a tool's answer as a failure.

The tools never raise for things that can go wrong on the web; they return a
string the LLM can read. Callers (the engine, the CLI) tell a failure from a
result by these prefixes.
"""

from __future__ import annotations

SEARCH_FAILED = "Search failed:"
PAGE_UNREADABLE = "Could not read page:"


def is_tool_error(text: str) -> bool:
    """True when a tool's answer reports a failure rather than content."""
    return text.startswith((SEARCH_FAILED, PAGE_UNREADABLE))
