"""workflows/usage.py: one wording of a trip's usage, wherever it is shown."""

from __future__ import annotations

from workflows.prompts import budget_question, usage_footer
from workflows.usage import cost_usd, token_count, usage_words

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
