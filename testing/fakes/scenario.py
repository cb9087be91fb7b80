"""The scripted trip used across tests: 3 questions, 2 searches, 2 scrapes,
and a final plan that quotes every answer it received (so a lost or doubled
reply shows in the plan)."""

from __future__ import annotations

from typing import Any

from testing.fakes.llm_server import Script, call_tools, say
from testing.fakes.research import article

QUESTIONS = (
    "Which dates are you travelling?",
    "What is your budget per person?",
    "Any food preferences?",
)

PAGES = {
    "/lisbon-hotels": article(
        "Where to stay in Lisbon",
        "Alfama is the oldest district of Lisbon, with narrow streets and fado bars.",
        "Baixa is central and flat, close to the river and the main squares.",
    ),
    "/sintra": article(
        "A day trip to Sintra",
        "Sintra is 40 minutes from Lisbon by train and famous for the Pena Palace.",
        "Buy tickets online to skip the queue at the palace.",
    ),
}


def user_answers(messages: list[dict[str, Any]]) -> list[str]:
    """Everything people said after the request, in order."""
    return [m["content"] for m in messages[1:] if m.get("role") == "user"]


def lisbon_script(site_url: str) -> Script:
    """Answer by position: how many messages follow the system prompt."""

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(messages)
        if n == 1:
            return say(QUESTIONS[0])
        if n == 3:
            return call_tools(("internet_search", {"search_query": "Lisbon hotels", "num_results": 3}))
        if n == 5:
            return call_tools(("scrape_website", {"url": f"{site_url}/lisbon-hotels"}))
        if n == 7:
            return say(QUESTIONS[1])
        if n == 9:
            return call_tools(
                ("internet_search", {"search_query": "Lisbon day trips", "num_results": 2}),
                ("scrape_website", {"url": f"{site_url}/sintra"}),
            )
        if n == 12:
            return say(QUESTIONS[2])
        answers = " | ".join(user_answers(messages))
        return say(
            "# Lisbon trip\n\n## Day 1\nAlfama walk and fado.\n\n## Day 2\nTrain to Sintra, Pena Palace.\n\n"
            f"What you told me: {answers}\n\nTRIP PLANNING COMPLETE"
        )

    return script
