"""The App Home tab: how to start a trip (with the "Plan a trip" button,
`bot.trip_form`), and the trips this person started,
grouped by state (planning, waiting, parked, plan ready, closed), newest
first, each with a link to its thread. Within Block Kit's 100 blocks a view.
"""

from __future__ import annotations

from typing import Any

from bot.formatting import escape_mrkdwn, neutralise_mentions, slack_date, truncate
from bot.trip_form import open_form_button
from workflows.feedback import Feedback, tally_words
from workflows.ports import TripRecord
from workflows.usage import usage_words

#: Block Kit's limit for a Home tab view.
MAX_VIEW_BLOCKS = 100

#: (title, states), in the order they are shown.
GROUPS: tuple[tuple[str, frozenset[str]], ...] = (
    ("🗺️ Planning now", frozenset({"active"})),
    ("💬 Waiting for answers", frozenset({"waiting"})),
    ("💤 Parked", frozenset({"parked"})),
    ("✅ Plan ready", frozenset({"done", "closed"})),
    ("Closed", frozenset({"cancelled", "expired", "failed"})),
)
_CLOSED_WORDS = {
    "cancelled": "cancelled", "expired": "closed: planning window ended", "failed": "stopped", "closed": "closed for changes",
}

INTRO = (
    "Press *Plan a trip*, or type `/plan-trip Lisbon in May, 4 people` in a channel (or mention me with your "
    "request). I'll ask questions in the thread, research options and post an itinerary there. "
    "Anyone in the channel can answer; the buttons on the trip's first message finish or cancel it. "
    "For a trip of your own, send me a direct message: I'll plan it in that message's thread."
)


def thread_url(record: TripRecord, workspace_url: str) -> str:
    """The standard archive link to the trip's root message (its thread)."""
    channel = record.thread.get("channel", "")
    ts = record.thread.get("thread_ts", "")
    if not (workspace_url and channel and ts):
        return ""
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"


def plan_words(record: TripRecord, votes: list[Feedback]) -> str:
    """"3 plan versions · latest 👍 2 👎 0" (the votes on the newest version), or ""."""
    if not record.plan_versions:
        return ""
    count = record.plan_versions
    words = f"{count} plan version{'s' if count != 1 else ''}"
    tally = tally_words(v for v in votes if v.version == count)
    return f"{words} · latest {tally}" if tally else words


def trip_block(record: TripRecord, link: str = "", votes: list[Feedback] | None = None) -> dict[str, Any]:
    request = escape_mrkdwn(neutralise_mentions(truncate(record.request or "(no request yet)", 150))).replace("\n", " ")
    title = f"*<{link}|{request.replace('|', '¦')}>*" if link else f"*{request}*"
    details = []
    channel = record.thread.get("channel", "")
    if channel:
        details.append("direct message" if channel.startswith("D") else f"<#{channel}>")
    details.append(f"started {slack_date(record.created_at, '{date_short_pretty}')}")
    details.append(f"last activity {slack_date(record.updated_at, '{ago}')}")
    if record.state in _CLOSED_WORDS:
        details.append(_CLOSED_WORDS[record.state])
    lines = [title, " · ".join(details)]
    if record.state in ("waiting", "parked") and record.last_question:
        question = escape_mrkdwn(neutralise_mentions(truncate(record.last_question, 300))).replace("\n", " ")
        lines.append(f"_Waiting for:_ {question}")
    plans = plan_words(record, votes or [])
    if plans:
        lines.append(f"_Plans:_ {plans}")
    if record.usage:
        lines.append(f"_Used:_ {usage_words(record.usage)}")
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}


def home_view(
    trips: list[TripRecord], links: dict[str, str] | None = None, votes: dict[str, list[Feedback]] | None = None
) -> dict[str, Any]:
    """The Home tab for someone who started `trips` (newest first); `votes`:
    trip_id -> the feedback on its plans."""
    links, votes = links or {}, votes or {}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Travel Planner"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": INTRO}},
        open_form_button(),
    ]
    if not trips:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "You haven't started a trip yet."}]})
        return {"type": "home", "blocks": blocks}
    ordered = sorted(trips, key=lambda t: (t.created_at, t.trip_id), reverse=True)
    room = MAX_VIEW_BLOCKS - len(blocks) - 1  # one kept for "and N more"
    shown = 0
    for title, states in GROUPS:
        group = [t for t in ordered if t.state in states]
        if not group or room < 3:
            continue
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}* ({len(group)})"}})
        room -= 2
        for record in group:
            if room < 1:
                break
            blocks.append(trip_block(record, links.get(record.trip_id, ""), votes.get(record.trip_id)))
            room -= 1
            shown += 1
    if shown < len(trips):
        more = len(trips) - shown
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {more} older trip{'s' if more != 1 else ''} not shown."}]}
        )
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


__all__ = ["GROUPS", "MAX_VIEW_BLOCKS", "home_view", "thread_url", "trip_block"]
