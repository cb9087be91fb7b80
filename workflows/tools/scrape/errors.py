"""How reading a page fails."""

from __future__ import annotations


class PageUnreadable(Exception):
    """The page could not be read; `reason` is written for the LLM."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
