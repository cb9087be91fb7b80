"""Text from outside made storable: no lone UTF-16 surrogates.

JSON lets a sender write `"\\ud800"` (half of a surrogate pair) and Python
decodes it to a `str` that cannot be encoded as UTF-8. Such a string from a
Slack event, the LLM or a search provider would make SQLite (the registry)
and msgspec (the durable store) raise: a reply dropped with a 500, or a step
whose result can never be stored, re-run in a loop. Everything that enters
durable state from outside goes through `scrub`, which replaces each lone
surrogate with U+FFFD and leaves every other character (NUL, RTL overrides,
zero-width, emoji ZWJ sequences, combining marks) as it is.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, text)
    return text


def scrub(value: Any) -> Any:
    """`scrub_text` applied to every string in a JSON-like value (keys too)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v) for v in value)
    return value


__all__ = ["REPLACEMENT", "scrub", "scrub_text"]
