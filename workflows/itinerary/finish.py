"""What the finish tool's arguments say: a structured itinerary, or (from a
model that does not use the structure) a plan in free text, or why neither.

Pure, so the workflow body runs it and replays it the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.itinerary.markdown import itinerary_markdown
from workflows.itinerary.model import TOP_FIELDS, parse_itinerary

POSTED = "The plan has been posted to the team."


@dataclass(frozen=True, slots=True)
class FinishedPlan:
    """The plan to post: its Markdown, and the itinerary it was built from (JSON-able) if any."""

    text: str
    itinerary: dict[str, Any] | None = None


def finished_plan(tool: str, args: dict[str, Any]) -> FinishedPlan | str:
    """The plan in a finish call's `args`, or the error the LLM reads (nothing is posted)."""
    structured = bool(TOP_FIELDS & set(args))
    if not structured:
        plan = args.get("plan")
        if isinstance(plan, str) and plan.strip():
            return FinishedPlan(plan)
        return (
            f"Error: {tool} needs the structured plan (title, start_date, end_date, travellers, days) "
            "or, failing that, the whole plan as Markdown in 'plan'. Nothing was posted; call it again."
        )
    parsed = parse_itinerary(args)
    if isinstance(parsed, list):
        problems = "\n".join(f"- {p}" for p in parsed)
        return (
            f"Error: the plan given to {tool} has {len(parsed)} problem{'s' if len(parsed) != 1 else ''}; "
            f"nothing was posted. Fix each and call {tool} again with the whole plan:\n{problems}\n"
            "(Only if you cannot give the structure: call it with 'plan' alone, the whole plan in Markdown.)"
        )
    return FinishedPlan(itinerary_markdown(parsed), parsed.to_dict())


_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "time": {"type": "string", "description": "Start time HH:MM (24-hour, local). Omit for an all-day item."},
        "title": {"type": "string", "description": "What it is, e.g. 'Pena Palace tour'."},
        "place": {"type": "string", "description": "Where: a name and town a map search finds."},
        "notes": {"type": "string", "description": "Tips, tickets, how to get there."},
        "cost_per_person": {"type": "number", "description": "Estimated cost per person, in the plan's currency."},
        "source_url": {"type": "string", "description": "http(s) link to the source of the facts."},
    },
    "required": ["title"],
    "additionalProperties": False,
}

FINISH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "The trip's title (at most 150 characters)."},
        "summary": {"type": "string", "description": "A few sentences on the plan as a whole."},
        "start_date": {"type": "string", "description": "First day, YYYY-MM-DD."},
        "end_date": {"type": "string", "description": "Last day, YYYY-MM-DD."},
        "travellers": {"type": "integer", "description": "How many people travel."},
        "currency": {"type": "string", "description": "ISO 4217 code of every cost, e.g. EUR."},
        "timezone": {"type": "string", "description": "IANA time zone of the times, e.g. Europe/Lisbon."},
        "days": {
            "type": "array",
            "description": "One entry per day, in order (at most 31 days, 12 items a day).",
            "items": {
                "type": "object",
                "properties": {
                    "date": {"type": "string", "description": "YYYY-MM-DD, within start_date..end_date."},
                    "title": {"type": "string", "description": "The day's theme, e.g. 'Sintra'."},
                    "items": {"type": "array", "items": _ITEM_SCHEMA},
                },
                "required": ["date", "items"],
                "additionalProperties": False,
            },
        },
        "plan": {
            "type": "string",
            "description": "Only if you cannot give the fields above: the whole plan in Markdown.",
        },
    },
    "additionalProperties": False,
}
