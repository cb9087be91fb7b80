"""Buttons (`block_actions`): Finish / Cancel on the trip's root message, and
Continue / Finish on the planner's budget question.

Ack first (Slack shows an error after 3 s), then find the trip: a button on
the root message has the root's ts as `message_ts` (and as `thread_ts` once
the thread has replies); a button on a question inside the thread carries the
thread's `thread_ts`. The control is delivered with the key
``f"action:{user}:{action_ts}"``: unique per click, the same in a retried
request, so the trip's inbox applies it once.

After a Continue / Finish on a question, that question's buttons are replaced
by a line saying who chose what, so an answered question cannot be answered
again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.controls import ControlRequest, request_control
from bot.root_message import CHOICE_ACTIONS, CHOICE_LABELS
from bot.services import BotServices
from bot.threads import trip_id_for_thread
from workflows import failpoints


def register(app: AsyncApp, services: BotServices) -> None:
    for kind, action_id in CHOICE_ACTIONS.items():
        app.action(action_id)(_listener(services, kind))


def _listener(services: BotServices, kind: str) -> Any:
    async def on_click(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()  # first: nothing below may hold Slack up
        await handle_click(services, body, action, kind)

    on_click.__name__ = f"on_{kind}_click"
    return on_click


type ClickHandler = Callable[[BotServices, dict[str, Any], dict[str, Any]], Awaitable[str]]


def stored_before_ack(services: BotServices, handle: ClickHandler, failpoint: str) -> Any:
    """A listener for clicks that must not be lost (votes, feedback): `handle`
    stores the click, then Slack is acked. A crash in between loses nothing
    (Slack sends the request again, and the stored click dedupes it); if
    storing fails there is no ack, and Slack tells the person it failed.
    `failpoint` names the point between the two for the crash tests."""

    async def on_click(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await handle(services, body, action)
        failpoints.reached(failpoint)  # stored, Slack not answered yet
        await ack()

    on_click.__name__ = f"on_{failpoint.removeprefix('after:')}"
    return on_click


def clicked_at(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(team, channel, message_ts, thread root ts) of the clicked message."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
    channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
    message_ts = str(container.get("message_ts") or message.get("ts") or "")
    root_ts = str(message.get("thread_ts") or container.get("thread_ts") or message_ts)
    return team, channel, message_ts, root_ts


@dataclass(frozen=True, slots=True)
class Click:
    """Who clicked a button, on which message, in which trip's thread."""

    team: str
    channel: str
    message_ts: str
    root_ts: str
    user: str
    trip_id: str


def read_click(body: dict[str, Any]) -> Click | None:
    """The click in a `block_actions` body; None when it names no user or no
    thread a trip could be in (a malformed payload: ignored, never guessed)."""
    team, channel, message_ts, root_ts = clicked_at(body)
    user = str((body.get("user") or {}).get("id") or "")
    if not (team and channel and root_ts and user):
        return None
    try:
        trip_id = trip_id_for_thread(team, channel, root_ts)
    except ValueError:
        return None
    return Click(team, channel, message_ts, root_ts, user, trip_id)


async def handle_click(services: BotServices, body: dict[str, Any], action: dict[str, Any], kind: str) -> str:
    click = read_click(body)
    if click is None:
        services.logger.warning("a %s click without team/channel/message/user or a trip thread; ignored", kind)
        return "ignored"
    team, channel, message_ts, root_ts, user, trip_id = (
        click.team, click.channel, click.message_ts, click.root_ts, click.user, click.trip_id
    )
    action_ts = str(action.get("action_ts") or body.get("trigger_id") or "")
    request = ControlRequest(
        team=team,
        channel=channel,
        thread_ts=root_ts,
        trip_id=trip_id,
        user=user,
        kind=kind,
        key=f"action:{user}:{action_ts}",
        ts=action_ts,
    )
    outcome = await request_control(services, request)
    if outcome == "unknown":
        services.in_background(
            services.post_ephemeral(
                team=team, channel=channel, user=user, thread_ts=root_ts,
                text="I don't know this trip any more (it may have been removed after it ended).",
            ),
            name="ephemeral-unknown-trip",
        )
    elif outcome == "delivered" and message_ts != root_ts:
        await _close_question(services, body, team, channel, message_ts, user, kind)
    return outcome


async def _close_question(
    services: BotServices, body: dict[str, Any], team: str, channel: str, message_ts: str, user: str, kind: str
) -> None:
    """Replace the answered question's buttons with who chose what."""
    message = body.get("message") or {}
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return
    chosen = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"➡️ <@{user}> chose *{CHOICE_LABELS[kind]}*"}]}
    kept = [b for b in blocks if isinstance(b, dict) and b.get("type") != "actions"]
    try:
        await (await services.client(team)).chat_update(
            channel=channel, ts=message_ts, text=str(message.get("text") or CHOICE_LABELS[kind]), blocks=[*kept, chosen][:50]
        )
    except Exception as exc:  # cosmetic
        services.logger.info("could not close the question %s/%s: %r", channel, message_ts, exc)


__all__ = ["Click", "clicked_at", "handle_click", "read_click", "register", "stored_before_ack"]
