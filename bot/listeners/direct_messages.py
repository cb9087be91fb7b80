"""A direct message to the bot plans a personal trip (`message.im`).

A person's top-level message in the app's DM (`channel_type: "im"`, no
`thread_ts`) starts a trip whose thread is that message: the planner's
questions appear right under what the person typed, as replies to it, and
the person answers in that thread exactly as in a channel (the `message`
listener in `events` delivers those answers). Each top-level DM is a trip of
its own. We do not post a root message of our own first: it would leave the
person's message alone above it and move the conversation into the thread
of a message they did not write.

Like a top-level mention, the start runs before Slack is acked, and the trip
id comes from the message (`slack-{team}-{D...}-{ts}`), so a retry of the
event, or a crash before the ack, reaches the same trip and never starts a
second one. What is not a start: anything an app posted (our own questions
and notices come back as `message.im` events), edits, deletions, joins and
other subtypes, thread replies (answers, or nothing). A top-level message
that is only `cancel`, `finish` or `status` starts nothing either: it is
answered, in its thread, with where those words work.

Controls: the person's own message cannot carry our buttons, so in a DM
trip's thread a bare `cancel`, `finish` or `status` is the command (no
mention needed: everything in the DM is said to the bot; see `events`), and
the budget question's buttons work as in a channel.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.controls import command_word
from bot.listeners.events import REPLY_SUBTYPES, reply_text
from bot.services import BotServices
from workflows import failpoints

COMMAND_HELP = (
    "To cancel, finish or check on a trip, write `cancel`, `finish` or `status` in that trip's thread "
    "(`close` once its plan is final). "
    "To plan a new trip, tell me where and when, e.g. _Rome for a long weekend in May_."
)


def is_top_level_dm(event: dict[str, Any]) -> bool:
    """A person's top-level message in the app's DM (cheap checks only)."""
    thread_ts = event.get("thread_ts")
    return (
        event.get("type") == "message"
        and event.get("channel_type") == "im"
        and event.get("subtype") in REPLY_SUBTYPES
        and not event.get("bot_id")
        and not event.get("bot_profile")
        and (not thread_ts or thread_ts == event.get("ts"))
    )


def register(app: AsyncApp, services: BotServices) -> None:
    """Register before `events`: Bolt runs the first listener that matches."""

    async def top_level_dm(event: dict[str, Any]) -> bool:
        return is_top_level_dm(event)

    async def dm_before_ack(body: dict[str, Any], event: dict[str, Any], next: Any) -> None:  # noqa: A002
        await handle_direct_message(services, body, event)
        await next()

    async def handled() -> None:
        return None

    app.event("message", matchers=[top_level_dm], middleware=[dm_before_ack])(handled)


async def handle_direct_message(services: BotServices, body: dict[str, Any], event: dict[str, Any]) -> str | None:
    """Start the trip of a top-level DM; returns its root ts (None: not a start)."""
    team = str(body.get("team_id") or event.get("team") or "")
    channel = str(event.get("channel") or "")
    ts = str(event.get("ts") or "")
    user = str(event.get("user") or "")
    if not (team and channel and ts and user) or not is_top_level_dm(event):
        return None
    if await services.from_an_app(event, team):
        return None
    request = await reply_text(services, event, mention=True, team=team)
    if command_word(request) is not None:
        # "cancel" / "finish" / "status" on its own is meant for a trip, not a trip to plan.
        if await services.first_time(f"msg:{team}:{channel}:{ts}"):
            services.in_background(_explain_commands(services, team, channel, ts), name="dm-command-help")
        return None
    # Idempotent: the trip id is the message's, so a retried event starts nothing new.
    await services.start_trip(team=team, channel=channel, root_ts=ts, starter=user, request=request)
    failpoints.reached("after:dm_start")  # started, Slack not acked yet: it will retry
    return ts


async def _explain_commands(services: BotServices, team: str, channel: str, ts: str) -> None:
    try:
        await (await services.client(team)).chat_postMessage(channel=channel, thread_ts=ts, text=COMMAND_HELP)
    except Exception as exc:
        services.logger.warning("could not answer a bare command in the DM %s: %r", channel, exc)


__all__ = ["COMMAND_HELP", "handle_direct_message", "is_top_level_dm", "register"]
