"""Steering a trip from Slack: Finish / Cancel / Continue buttons and the
`@bot cancel`, `@bot finish`, `@bot status` commands in a trip's thread.

Controls travel to the trip like answers: as a `Reply` with `kind` set,
through the trip's durable inbox (`TripControl.deliver_reply`), so they are
deduplicated, ordered and never lost; the engine acts on them (a cancel stops
the trip before any further LLM call).

Who may do what: anyone in the channel can finish or continue; only the trip's
starter or a workspace admin/owner (users.info `is_admin` / `is_owner`) can
cancel. Anyone else gets an ephemeral refusal in the thread.

`status` answers ephemerally (only the asker sees it, in the thread): it is a
personal question, so the team's thread stays the planner's conversation; and
an ephemeral is harmless if a retried Slack event repeats it, where a second
public post would break "nothing is posted twice". It reads the registry only:
never the LLM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.formatting import escape_mrkdwn, neutralise_mentions, slack_date, truncate
from bot.people import CONTROL_NAME_LOOKUP_SECONDS, NAME_LOOKUP_SECONDS, People
from bot.services import BotServices
from workflows.plan_revisions import takes_changes
from workflows.ports import RUNNING_STATES, TripRecord
from workflows.usage import NO_PRICES, Prices, usage_words

#: Words that, sent to the bot alone in a trip thread, are commands.
COMMANDS = ("cancel", "finish", "status", "close")
STATE_WORDS = {
    "active": "🗺️ Planning (researching or thinking)",
    "waiting": "💬 Waiting for an answer",
    "parked": "💤 Parked (no answer for a while; any reply wakes it)",
    "done": "✅ Plan ready",
    "closed": "✅ Plan ready, closed for changes",
    "cancelled": "🛑 Cancelled",
    "expired": "⌛ Closed (the planning window ended)",
    "failed": "⚠️ Stopped (I can no longer post in this thread)",
}

_TRAILING = re.compile(r"[\s.!?…]+$")


def command_word(text: str) -> str | None:
    """The command `text` is (bot mention already stripped), or None.

    Just the word, any case, trailing punctuation allowed: "Cancel!" is a
    command, "cancel the museum day" is an answer."""
    word = _TRAILING.sub("", text.strip()).strip().lower()
    return word if word in COMMANDS else None


def status_text(record: TripRecord, *, waiting_replies: int = 0, prices: Prices = NO_PRICES) -> str:
    """What `@bot status` answers, from the registry alone."""
    lines = [f"*Trip status:* {STATE_WORDS.get(record.state, record.state)}"]
    if record.request:
        lines.append(f"*Request:* {escape_mrkdwn(neutralise_mentions(truncate(record.request, 300)))}")
    if record.state in ("waiting", "parked") and record.last_question:
        question = escape_mrkdwn(neutralise_mentions(truncate(record.last_question, 600)))
        lines.append(f"*Waiting for an answer to:* {question}")
    if waiting_replies:
        lines.append(f"*Not read yet:* {waiting_replies} message{'s' if waiting_replies != 1 else ''} (I'll read them next)")
    lines.append(f"*Usage so far:* {usage_words(record.usage or {}, prices)}")
    starter = f"<@{record.starter}>" if re.fullmatch(r"[UW][A-Z0-9]+", record.starter or "") else (record.starter or "someone")
    lines.append(f"*Started by* {starter} {slack_date(record.created_at)} · *last activity* {slack_date(record.updated_at, '{ago}')}")
    if record.plan_versions:
        lines.append(f"*Plan versions:* {record.plan_versions}")
    if takes_changes(record):
        lines.append("_Reply in the thread to change the plan; mention me with `close` when it is final._")
    elif record.state in RUNNING_STATES:
        lines.append("_Mention me with `finish` to get the plan with what I have, or `cancel` to stop the trip._")
    return "\n".join(lines)


def refusal_text(record: TripRecord) -> str:
    starter = f"<@{record.starter}>" if record.starter else "the person who started it"
    return f"Only {starter} (who started this trip) or a workspace admin can cancel it. You can still answer, or press *Finish with what you have*."


def finished_text(record: TripRecord) -> str:
    return f"This trip is no longer running: {STATE_WORDS.get(record.state, record.state)}."


#: What a finish or cancel on a posted plan that still takes changes is told.
CHANGES_HINT = (
    "The plan is posted. Reply in the thread to change it (I'll post a new version), "
    "or mention me with `close` when it is final."
)


def nothing_to_close_text(record: TripRecord) -> str:
    if record.state in RUNNING_STATES:
        return "There is no plan to close yet. Mention me with `finish` to get one, or `cancel` to stop the trip."
    return finished_text(record)


CONFIRMATIONS = {
    "finish": "Got it: I'll finish the plan with what I have and post it in this thread.",
    "continue": "Got it: planning continues.",
}


@dataclass(frozen=True, slots=True)
class ControlRequest:
    team: str
    channel: str
    thread_ts: str  # the trip's root ts
    trip_id: str
    user: str
    kind: str  # cancel | finish | continue
    key: str  # stable across Slack retries
    ts: str = ""  # when it was asked (orders it among answers)
    seen: str = ""  # in-process marker of the Slack message it came from


async def may_cancel(people: People, user: str, record: TripRecord, wait: float = NAME_LOOKUP_SECONDS) -> bool:
    if user and user == record.starter:
        return True
    return await people.is_workspace_admin(user, team=str(record.thread.get("team") or ""), wait=wait)


async def request_control(
    services: BotServices, request: ControlRequest, *, tell: bool = True, notice_once: str = ""
) -> str:
    """Check and deliver one control. Returns what happened: "delivered",
    "duplicate", "refused", "not_running" or "unknown" (not a trip).

    Refusals (and with `tell`, confirmations) go to the person ephemerally, in
    the background, so a caller on Slack's ack path never waits for them;
    `notice_once` (a dedupe mark) keeps the twins of one message from saying
    it twice. The control itself is deduplicated by the trip's inbox (by
    `request.key`), never by a mark set before it is stored."""
    record = await services.directory.get_trip(request.trip_id)
    if record is None:
        return "unknown"

    async def say(text: str) -> None:
        if notice_once and not await services.first_time(notice_once):
            return
        services.in_background(
            services.post_ephemeral(
                team=request.team, channel=request.channel, user=request.user, text=text, thread_ts=request.thread_ts
            ),
            name=f"ephemeral-{request.kind}",
        )

    if request.kind == "close":
        if not takes_changes(record):
            await say(nothing_to_close_text(record))
            return "not_running"
    elif record.state not in RUNNING_STATES:
        await say(CHANGES_HINT if takes_changes(record) else finished_text(record))
        return "not_running"
    # A button is acknowledged before this runs, so Slack may take longer to say who clicked.
    wait = NAME_LOOKUP_SECONDS if request.seen else CONTROL_NAME_LOOKUP_SECONDS
    if request.kind == "cancel" and not await may_cancel(services.people, request.user, record, wait):
        services.logger.info("cancel of %s by %s refused (starter %s)", request.trip_id, request.user, record.starter)
        await say(refusal_text(record))
        return "refused"
    accepted = await services.deliveries.deliver_control(
        team=request.team, trip_id=request.trip_id, key=request.key, user=request.user, kind=request.kind, ts=request.ts, seen=request.seen
    )
    if accepted and tell and request.kind in CONFIRMATIONS:
        await say(CONFIRMATIONS[request.kind])
    return "delivered" if accepted else "duplicate"


async def answer_status(
    services: BotServices, *, team: str, trip_id: str, channel: str, thread_ts: str, user: str
) -> None:
    record = await services.directory.get_trip(trip_id)
    if record is None:
        return
    waiting = len(await services.inbox.unclaimed_replies(trip_id)) if record.state in RUNNING_STATES else 0
    text = status_text(record, waiting_replies=waiting, prices=services.price_per_mtok)
    await services.post_ephemeral(team=team, channel=channel, user=user, text=text, thread_ts=thread_ts)


__all__ = [
    "COMMANDS",
    "ControlRequest",
    "answer_status",
    "command_word",
    "may_cancel",
    "refusal_text",
    "request_control",
    "status_text",
]
