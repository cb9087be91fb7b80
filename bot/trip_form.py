"""The "Plan a trip" modal the Home tab opens: its view, what a submission
holds, what is wrong with it, and the trip request it becomes.

Slack sends the answers in `view.state.values[block_id][action_id]`: a
datepicker as `selected_date` ("YYYY-MM-DD" or None), a text or number input
as `value` (None when left empty), a conversations select as
`selected_conversation`. A submission Slack should refuse is answered with
`response_action: "errors"` and a message per input block (`form_errors`);
Slack then shows each message under its block and keeps the modal open.

Block Kit limits checked here (slack_sdk.models.views.View and
models.blocks): title, submit and close at most 24 characters, at most 100
blocks, an input's label at most 2000.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

#: `callback_id` of the modal (the view_submission listener matches it).
TRIP_FORM_CALLBACK = "plan_trip_form"
#: The Home tab's "Plan a trip" button.
OPEN_TRIP_FORM_ACTION = "plan_trip_open"

#: block_id == action_id for every input, so an error names the block.
DESTINATION, START, END, TRAVELLERS, BUDGET, CHANNEL = (
    "destination", "start_date", "end_date", "travellers", "budget", "channel",
)
#: Longest destination and budget texts we take (Slack's input max_length).
MAX_DESTINATION_CHARS, MAX_BUDGET_CHARS = 150, 100
MAX_TRAVELLERS = 500


def open_form_button() -> dict[str, Any]:
    """The Home tab's actions block with the "Plan a trip" button."""
    return {
        "type": "actions",
        "block_id": "plan_trip",
        "elements": [
            {
                "type": "button",
                "action_id": OPEN_TRIP_FORM_ACTION,
                "text": {"type": "plain_text", "text": "Plan a trip"},
                "style": "primary",
                "value": "open",
            }
        ],
    }


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": {**element, "action_id": block_id},
        "optional": optional,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _placeholder(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def trip_form_view() -> dict[str, Any]:
    """The modal: destination, dates, travellers, budget, channel."""
    return {
        "type": "modal",
        "callback_id": TRIP_FORM_CALLBACK,
        "title": {"type": "plain_text", "text": "Plan a trip"},
        "submit": {"type": "plain_text", "text": "Start planning"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input(DESTINATION, "Where to?", {
                "type": "plain_text_input", "max_length": MAX_DESTINATION_CHARS,
                "placeholder": _placeholder("Porto, or a road trip through Andalusia"),
            }),
            _input(START, "First day", {"type": "datepicker", "placeholder": _placeholder("Pick a date")},
                   optional=True, hint="Leave the dates empty if you don't know them yet: the planner will ask."),
            _input(END, "Last day", {"type": "datepicker", "placeholder": _placeholder("Pick a date")}, optional=True),
            _input(TRAVELLERS, "How many travellers?", {
                "type": "number_input", "is_decimal_allowed": False, "min_value": "1",
                "max_value": str(MAX_TRAVELLERS),
            }, optional=True),
            _input(BUDGET, "Budget", {
                "type": "plain_text_input", "max_length": MAX_BUDGET_CHARS,
                "placeholder": _placeholder("800 EUR per person"),
            }, optional=True),
            _input(CHANNEL, "Plan it in", {
                "type": "conversations_select",
                "placeholder": _placeholder("A channel"),
                "filter": {"include": ["public", "private"], "exclude_bot_users": True},
            }, hint="The planner posts in this channel and everyone there can answer in the thread."),
        ],
    }


@dataclass(frozen=True, slots=True)
class TripFormAnswers:
    """What a submission of the form holds, as Slack sent it (stripped)."""

    destination: str = ""
    start: str = ""
    end: str = ""
    travellers: str = ""
    budget: str = ""
    channel: str = ""


def answers_of(view: dict[str, Any]) -> TripFormAnswers:
    """The answers in a view_submission's `view.state.values`."""
    values = ((view.get("state") or {}).get("values")) or {}

    def field(block_id: str, key: str) -> str:
        entry = (values.get(block_id) or {}).get(block_id) or {}
        return str(entry.get(key) or "").strip()

    return TripFormAnswers(
        destination=field(DESTINATION, "value"),
        start=field(START, "selected_date"),
        end=field(END, "selected_date"),
        travellers=field(TRAVELLERS, "value"),
        budget=field(BUDGET, "value"),
        channel=field(CHANNEL, "selected_conversation"),
    )


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def form_errors(answers: TripFormAnswers, *, today: dt.date | None = None) -> dict[str, str]:
    """block_id -> what is wrong there; empty when the form can start a trip."""
    today = today or dt.datetime.now(dt.UTC).date()
    errors: dict[str, str] = {}
    if not answers.destination:
        errors[DESTINATION] = "Say where the trip goes."
    elif len(answers.destination) > MAX_DESTINATION_CHARS:
        errors[DESTINATION] = f"Keep it under {MAX_DESTINATION_CHARS} characters."
    start, end = _date(answers.start), _date(answers.end)
    if answers.start and start is None:
        errors[START] = "Pick the first day with the date picker."
    if answers.end and end is None:
        errors[END] = "Pick the last day with the date picker."
    if start is not None and not answers.end:
        errors[END] = "Pick the last day too (or clear the first day)."
    if end is not None and not answers.start:
        errors[START] = "Pick the first day too (or clear the last day)."
    # A day of slack: the person's "today" may still be yesterday in UTC.
    if start is not None and start < today - dt.timedelta(days=1):
        errors[START] = "That day has passed: pick a day from today on."
    if start is not None and end is not None and end < start:
        errors[END] = "The last day is before the first day."
    if answers.travellers:
        try:
            travellers = int(answers.travellers)
        except ValueError:
            travellers = 0
        if not 1 <= travellers <= MAX_TRAVELLERS:
            errors[TRAVELLERS] = f"A whole number from 1 to {MAX_TRAVELLERS}."
    if len(answers.budget) > MAX_BUDGET_CHARS:
        errors[BUDGET] = f"Keep it under {MAX_BUDGET_CHARS} characters."
    if not answers.channel:
        errors[CHANNEL] = "Pick the channel to plan in."
    return errors


def trip_request(answers: TripFormAnswers) -> str:
    """The request the trip starts with, as if typed after /plan-trip:
    "Porto, 2027-05-01 to 2027-05-05, 4 travellers, budget 800 EUR per person"."""
    parts = [" ".join(answers.destination.split())]
    if answers.start and answers.end:
        parts.append(answers.start if answers.start == answers.end else f"{answers.start} to {answers.end}")
    if answers.travellers:
        count = int(answers.travellers)
        parts.append(f"{count} traveller{'s' if count != 1 else ''}")
    if answers.budget:
        parts.append(f"budget {' '.join(answers.budget.split())}")
    return ", ".join(parts)


__all__ = [
    "BUDGET",
    "CHANNEL",
    "DESTINATION",
    "END",
    "OPEN_TRIP_FORM_ACTION",
    "START",
    "TRAVELLERS",
    "TRIP_FORM_CALLBACK",
    "TripFormAnswers",
    "answers_of",
    "form_errors",
    "open_form_button",
    "trip_form_view",
    "trip_request",
]
