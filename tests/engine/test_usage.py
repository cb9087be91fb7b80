"""workflows/usage.py: one wording of a trip's usage, wherever it is shown."""

from __future__ import annotations

import pytest

from workflows.config import prices_from_env
from workflows.errors import ConfigError
from workflows.prompts import budget_question, usage_footer
from workflows.usage import NO_PRICES, Prices, cost_usd, token_count, usage_words

PRICE_VARIABLE = "TRAVEL_PLANNER_PRICE_PER_MTOK"

USAGE = {"llm_calls": 3, "prompt_tokens": 3000, "completion_tokens": 600, "tool_calls": 2}
PRICES = (0.15, 0.60)  # TRAVEL_PLANNER_PRICE_PER_MTOK="input=0.15,output=0.60"


def test_counts_tokens_and_the_estimated_cost() -> None:
    assert token_count(USAGE) == 3600 and token_count({}) == 0
    assert round(cost_usd(USAGE, PRICES), 6) == 0.00081
    assert usage_words(USAGE) == "3 AI calls, 3,600 tokens, 2 web lookups"
    assert usage_words(USAGE, PRICES) == "3 AI calls, 3,600 tokens, 2 web lookups (under $0.01)"
    big = {**USAGE, "prompt_tokens": 1_000_000}
    assert usage_words(big, PRICES, last=" and ") == "3 AI calls, 1,000,600 tokens and 2 web lookups (about $0.15)"
    assert usage_words({}, PRICES) == "0 AI calls, 0 tokens, 0 web lookups (about $0.00)"


def test_one_of_a_thing_is_singular() -> None:
    one = {"llm_calls": 1, "prompt_tokens": 1, "tool_calls": 1}
    assert usage_words(one) == "1 AI call, 1 token, 1 web lookup"
    assert usage_words(one, caps=(1, 10, 3)) == "1/1 AI call, 1/10 tokens, 1/3 web lookups"


def test_the_footer_and_the_budget_question_say_it_the_same_way() -> None:
    assert usage_footer(USAGE, (0.0, 0.0)) == "Planning used 3 AI calls, 3,600 tokens and 2 web lookups."
    assert "(3/3 AI calls, 3,600/600,000 tokens, 2/20 web lookups)" in budget_question(USAGE, (3, 600_000, 20))


def test_cached_input_tokens_are_billed_at_their_own_price_and_shown() -> None:
    usage = {**USAGE, "cached_tokens": 2000}  # 2,000 of the 3,000 prompt tokens came from OpenAI's prompt cache
    with_cache = Prices(input=1.0, output=2.0, cached=0.25)
    assert cost_usd(usage, with_cache) == (1000 * 1.0 + 2000 * 0.25 + 600 * 2.0) / 1_000_000
    assert cost_usd(usage, (1.0, 2.0)) == cost_usd(USAGE, (1.0, 2.0))  # no cached price: billed as input
    assert cost_usd({"prompt_tokens": 10, "cached_tokens": 50}, with_cache) == 10 * 0.25 / 1_000_000  # never more than the prompt
    big = {**usage, "prompt_tokens": 1_000_000, "cached_tokens": 800_000}
    assert usage_words(big, with_cache) == "3 AI calls, 1,000,600 tokens (800,000 cached), 2 web lookups (about $0.40)"
    assert usage_footer(usage, NO_PRICES) == "Planning used 3 AI calls, 3,600 tokens (2,000 cached) and 2 web lookups."


def test_the_price_variable_takes_an_optional_cached_rate_and_names_itself_when_wrong() -> None:
    assert prices_from_env({}) == NO_PRICES
    assert prices_from_env({PRICE_VARIABLE: "input=0.15,output=0.60"}) == Prices(0.15, 0.60, None)
    assert prices_from_env({PRICE_VARIABLE: "input=0.15, output=0.60, cached=0.075"}) == Prices(0.15, 0.60, 0.075)
    for wrong in ("input=0.15", "input=0.15,output=0.60,cache=0.07", "input=0.15,output=x", "input=-1,output=1"):
        with pytest.raises(ConfigError) as refused:
            prices_from_env({PRICE_VARIABLE: wrong})
        assert refused.value.variable == PRICE_VARIABLE and "cached=" in str(refused.value), wrong
