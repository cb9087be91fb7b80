"""A trip that finishes with the structured itinerary: one question, then a
finish call whose plan is broken in several fields (the error the planner
sends back names each), then the same plan fixed."""

from __future__ import annotations

import copy
from typing import Any

from testing.fakes.llm_server import Script, call_tools, say

QUESTION = "Which dates are you travelling?"

LISBON: dict[str, Any] = {
    "title": "Lisbon & Sintra in May",
    "summary": "Three easy days: the old town, a palace day trip, and the river.",
    "start_date": "2026-05-01",
    "end_date": "2026-05-03",
    "travellers": 4,
    "currency": "EUR",
    "timezone": "Europe/Lisbon",
    "days": [
        {
            "date": "2026-05-01",
            "title": "Alfama",
            "items": [
                {"time": "10:00", "title": "Castelo de São Jorge", "place": "Castelo de São Jorge, Lisbon",
                 "notes": "Buy tickets online; the queue is long by 11.", "cost_per_person": 15,
                 "source_url": "https://castelodesaojorge.pt/en/tickets?lang=en&x=1"},
                {"time": "13:00", "title": "Lunch at Time Out Market", "place": "Mercado da Ribeira, Lisbon",
                 "cost_per_person": 20},
                {"time": "21:00", "title": "Fado night", "place": "Tasca do Chico, Rua do Diário de Notícias 39",
                 "cost_per_person": 30, "source_url": "https://example.org/fado"},
            ],
        },
        {
            "date": "2026-05-02",
            "title": "Sintra",
            "items": [
                {"time": "09:15", "title": "Train to Sintra", "place": "Rossio station, Lisbon",
                 "cost_per_person": 4.6},
                {"time": "11:00", "title": "Pena Palace", "place": "Palácio da Pena, Sintra",
                 "cost_per_person": 20, "source_url": "https://www.parquesdesintra.pt/en/"},
            ],
        },
        {
            "date": "2026-05-03",
            "items": [{"title": "Free day by the river", "place": "Belém, Lisbon",
                       "notes": "Pastéis de Belém before noon."}],
        },
    ],
}


def broken_lisbon() -> dict[str, Any]:
    """LISBON with a bad date, an item without a title, too many items in a
    day (options instead of a choice) and a source that is not a URL."""
    plan = copy.deepcopy(LISBON)
    plan["days"][0]["date"] = "2026-05-32"
    del plan["days"][1]["items"][0]["title"]
    plan["days"][1]["items"] += [{"title": f"Option {n}"} for n in range(12)]
    plan["days"][2]["items"][0]["source_url"] = "see the tourist office"
    return plan


#: The fields the error about `broken_lisbon()` must name.
BROKEN_FIELDS = (
    "days[0].date: '2026-05-32' is not a real date",
    "days[1].items[0].title: is required",
    "days[1].items: has 14 items; at most 12 a day",
    "days[2].items[0].source_url: 'see the tourist office' is not an http(s) URL",
)


def itinerary_script(site_url: str = "") -> Script:
    """Ask once, then finish broken, then finish fixed (after the tool error)."""

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        last = messages[-1]
        if not any(m.get("role") == "assistant" for m in messages):
            return say(QUESTION)
        if last.get("role") == "tool" and str(last.get("content", "")).startswith("Error:"):
            return call_tools(("finish_trip", LISBON))
        return call_tools(("finish_trip", broken_lisbon()))

    return script
