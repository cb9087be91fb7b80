"""A trip's usage in words: AI calls, tokens, web lookups, and what they cost.

One wording wherever usage is shown: the plan's footer and the budget
question (workflows/prompts.py), `@bot status` and the Home tab
(bot/controls.py, bot/home.py), and `travel-planner trips`. A trip's usage is
the dict the trip keeps (`llm_calls`, `prompt_tokens`, `completion_tokens`,
`tool_calls`, and `cached_tokens`: the prompt tokens OpenAI's prompt cache
served); a missing count is 0. The cost is the estimate from
TRAVEL_PLANNER_PRICE_PER_MTOK (`Prices`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Prices(NamedTuple):
    """USD per million tokens: input, output, and cached input.

    Cached input is the part of a prompt OpenAI's prompt cache served, billed
    at its own (lower) rate; `None` bills it as input."""

    input: float = 0.0
    output: float = 0.0
    cached: float | None = None


NO_PRICES = Prices()


def _count(usage: Mapping[str, Any], name: str) -> int:
    return int(usage.get(name, 0) or 0)


def token_count(usage: Mapping[str, Any]) -> int:
    """Input and output tokens together."""
    return _count(usage, "prompt_tokens") + _count(usage, "completion_tokens")


def cost_usd(usage: Mapping[str, Any], price_per_mtok: tuple[float, ...]) -> float:
    prices = Prices(*price_per_mtok)
    prompt = _count(usage, "prompt_tokens")
    cached = min(_count(usage, "cached_tokens"), prompt)
    cached_price = prices.input if prices.cached is None else prices.cached
    return (
        (prompt - cached) * prices.input + cached * cached_price + _count(usage, "completion_tokens") * prices.output
    ) / 1_000_000


def _amount(n: int, cap: int | None, noun: str) -> str:
    # The noun agrees with the last number shown: "1 AI call", "1/3 AI calls".
    last = n if cap is None else cap
    shown = f"{n:,}" if cap is None else f"{n:,}/{cap:,}"
    return f"{shown} {noun}{'' if last == 1 else 's'}"


def _cached_part(usage: Mapping[str, Any]) -> str:
    cached = _count(usage, "cached_tokens")
    return f" ({cached:,} cached)" if cached else ""


def usage_words(
    usage: Mapping[str, Any],
    price_per_mtok: tuple[float, ...] = NO_PRICES,
    *,
    caps: tuple[int, int, int] | None = None,
    last: str = ", ",
) -> str:
    """"3 AI calls, 360 tokens, 2 web lookups (about $0.01)".

    `caps` (calls, tokens, lookups) shows each count against its cap
    ("3/10 AI calls"); `last` joins the final part (" and " in a sentence);
    the cost is shown only when a price is set.
    """
    calls, tokens, lookups = caps if caps is not None else (None, None, None)
    parts = [
        _amount(_count(usage, "llm_calls"), calls, "AI call"),
        _amount(token_count(usage), tokens, "token") + _cached_part(usage),
        _amount(_count(usage, "tool_calls"), lookups, "web lookup"),
    ]
    words = ", ".join(parts[:-1]) + last + parts[-1]
    if any(price_per_mtok):  # a price is set
        cost = cost_usd(usage, price_per_mtok)
        words += " (under $0.01)" if 0 < cost < 0.01 else f" (about ${cost:.2f})"
    return words


__all__ = ["NO_PRICES", "Prices", "cost_usd", "token_count", "usage_words"]
