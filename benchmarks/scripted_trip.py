"""A scripted trip for the token benchmark: what the LLM answers, what the web
holds, what the team replies.

Each turn is one research round of a search (10 results with snippets), one
of reading two of its pages (8–12 KB of article text each), then a question
the team answers. The last answer is followed by the plan (`finish_trip`).
A turn is 7 steps (3 LLM calls, 3 tool calls, 1 answer), so 7 turns and the
final call make the 50 steps of the benchmark. Everything is generated from
fixed seeds: both sides of the benchmark see the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from testing.fakes.llm_server import call_tools
from testing.fakes.research import article

REQUEST = "5 days in Lisbon in May for 4 adults, one vegetarian; we like food, views and day trips"

_TOPICS = (
    ("lisbon neighbourhoods to stay in", "where-to-stay"),
    ("lisbon vegetarian restaurants", "vegetarian-food"),
    ("sintra day trip from lisbon", "sintra"),
    ("lisbon viewpoints miradouros", "viewpoints"),
    ("lisbon public transport viva viagem card", "transport"),
    ("cascais and estoril beaches day trip", "cascais"),
    ("belem monastery tower tickets", "belem"),
    ("fado houses alfama reservations", "fado"),
    ("lisbon markets time out mercado", "markets"),
    ("porto day trip by train from lisbon", "porto"),
)

_QUESTIONS = (
    "Which dates in May work for all four of you, and do you arrive by plane?",
    "What is your budget per person for the whole stay, roughly?",
    "Would you rather stay in Alfama (historic, hilly) or Baixa/Chiado (central, flat)?",
    "How much walking is comfortable for everyone in a day?",
    "Is a full-day trip to Sintra a must, or would half a day do?",
    "Do you want one fado evening, and is a late dinner fine?",
    "Should I book restaurants ahead, or keep the evenings flexible?",
    "Any must-see museums, or should I keep to neighbourhoods and views?",
    "Would you like a beach afternoon in Cascais?",
    "Anything else I should know before I write the plan?",
)

_REPLIES = (
    "May 10 to 15 works for all of us; we land at 9:40 on the 10th and fly out at 18:00 on the 15th.",
    "About 1,200 EUR each for hotel, food and sights; flights are booked already.",
    "Baixa or Chiado please, two of us have bad knees, so flat matters more than charm.",
    "Up to 10 km a day is fine if there are breaks and the trams help with the hills.",
    "Sintra is a must for Pena Palace, a full day is fine, and we'd like to see Quinta da Regaleira too.",
    "Yes to one fado evening, dinner at 21:00 is fine, and the vegetarian needs a proper main course.",
    "Book the fado dinner and one nice restaurant, keep the other evenings open.",
    "The tile museum and Gulbenkian, nothing else indoors unless it rains.",
    "Yes, one lazy afternoon in Cascais would be lovely, ideally on the Sunday.",
    "That's all, thanks! Please include rough costs per day.",
)

_WORDS = (
    "the a of and to in is for on with at by from as this that it its their our"
    " tram hill river castle view bakery pastry ferry beach palace garden train ticket price hour"
    " market fish wine tile street square cathedral monastery tower bridge sunset walk tour guide"
    " hotel room night booking family queue morning evening lunch dinner table menu dish vegetable"
    " soup bread cheese coffee custard tart terrace rooftop station platform line stop card"
    " neighbourhood district lane stairs miradouro church museum exhibition collection gallery"
    " visitors locals season crowds weekend weekday summer spring rain sun wind harbour coast"
).split()
_NAMES = ("Alfama", "Baixa", "Chiado", "Belém", "Sintra", "Cascais", "Príncipe Real", "Graça", "Tagus", "Rossio")


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(9, 22))]
    for _ in range(rng.randint(0, 2)):
        words.insert(rng.randrange(len(words)), rng.choice(_NAMES))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), f"{rng.randint(2, 60)} €")
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), f"{rng.randint(7, 22)}:{rng.choice(('00', '15', '30', '45'))}")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "!", "?"))


def prose(seed: int, chars: int) -> list[str]:
    """Paragraphs of travel-guide-like text, about `chars` long."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    size = 0
    while size < chars:
        para = " ".join(_sentence(rng) for _ in range(rng.randint(3, 7)))
        paragraphs.append(para)
        size += len(para) + 2
    return paragraphs


def page_chars(turn: int, which: int) -> int:
    """8,000–11,500 characters of article text: the 8–12 KB a page read brings."""
    return 8_000 + (turn * 977 + which * 1_709) % 3_500


@dataclass
class ScriptedTrip:
    """The whole trip, for `turns` turns (at most 10)."""

    turns: int = 7

    def query(self, turn: int) -> str:
        return _TOPICS[turn][0]

    def result_paths(self, turn: int) -> list[str]:
        slug = _TOPICS[turn][1]
        return [f"/{slug}/{i}" for i in range(10)]

    def search_results(self, site_url: str) -> dict[str, list[dict[str, str]]]:
        """Serper `organic` results per query: 10 hits with ~250-character snippets."""
        out = {}
        for turn in range(self.turns):
            hits = []
            for i, path in enumerate(self.result_paths(turn)):
                rng = random.Random(turn * 100 + i)
                snippet = " ".join(_sentence(rng) for _ in range(3))[:300]
                title = f"{self.query(turn).title()}: guide {i + 1} – {rng.choice(_NAMES)} tips"
                hits.append({"title": title, "link": site_url + path, "snippet": snippet})
            out[self.query(turn)] = hits
        return out

    def pages(self) -> dict[str, str]:
        """HTML of the two pages each turn reads."""
        out = {}
        for turn in range(self.turns):
            for which, path in enumerate(self.result_paths(turn)[:2]):
                title = f"{self.query(turn).title()} – guide {which + 1}"
                out[path] = article(title, *prose(turn * 10 + which, page_chars(turn, which)))
        return out

    def answers(self, site_url: str) -> list[dict[str, Any]]:
        """What the LLM answers, request by request (ScriptedLLM answer dicts)."""
        out: list[dict[str, Any]] = []
        for turn in range(self.turns):
            out.append(call_tools(("internet_search", {"search_query": self.query(turn), "num_results": 10})))
            a, b = self.result_paths(turn)[:2]
            out.append(call_tools(("scrape_website", {"url": site_url + a}), ("scrape_website", {"url": site_url + b})))
            out.append({"content": _QUESTIONS[turn]})
        out.append(call_tools(("finish_trip", {"plan": self.plan()})))
        return out

    def expected_last_roles(self) -> list[str]:
        """The role of the last message of each request, for checking the script stays in step."""
        return ["user", "tool", "tool"] * self.turns + ["user"]

    def reply(self, turn: int) -> str:
        return _REPLIES[turn]

    def plan(self) -> str:
        days = []
        for day in range(5):
            items = "\n".join(f"- {s}" for s in (_sentence(random.Random(900 + day * 10 + i)) for i in range(5)))
            days.append(f"## Day {day + 1}\n{items}\n**Cost:** about {180 + day * 15} EUR per person")
        return "# Lisbon, May 10–15\n\n" + "\n\n".join(days)

    @property
    def steps(self) -> int:
        return self.turns * 7 + 1


@dataclass
class ScriptedAnswers:
    """A `ScriptedLLM` script: the trip's answers in order, one per request.

    Records what it answered (for output tokens) and any request that came
    out of step with the script (a last message of the wrong role)."""

    answers: list[dict[str, Any]]
    expected_roles: list[str]
    served: list[dict[str, Any]] = field(default_factory=list)
    out_of_step: list[str] = field(default_factory=list)

    def __call__(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(self.served)
        if n >= len(self.answers):
            self.out_of_step.append(f"request {n + 1}: the script has only {len(self.answers)} answers")
            return {"content": "The script is over."}
        role = messages[-1].get("role") if messages else ""
        if role != self.expected_roles[n]:
            self.out_of_step.append(f"request {n + 1} ends with a {role} message, not {self.expected_roles[n]}")
        self.served.append(self.answers[n])
        return self.answers[n]
