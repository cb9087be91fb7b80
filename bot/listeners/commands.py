"""The `/plan-trip [request]` slash command.

Ack at once (empty body: nothing shown), then, off the ack path:

1. post the root message in the channel ("Trip planning started by @ana: ...";
   `bot.trip_starts` posts it, so that a crash in between cannot lose the start);
2. when the bot is not in the channel, join it if it is public and post
   again, or tell the user (ephemeral, via the response_url) how to invite it
   to a private one;
3. hand the trip (id derived from team, channel and the root ts) to the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError

from bot.root_message import root_message
from bot.services import BotServices
from bot.slack_client import answer_lost
from bot.trip_starts import start_from_command

_NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def root_message_text(user_id: str, request: str) -> str:
    """The fallback text of the channel message a trip's thread hangs off."""
    return root_message(user_id, request).text


#: What to do once the bot is invited, for a start from /plan-trip.
RUN_AGAIN = "run `/plan-trip` again"


def invite_instructions(bot_user_id: str | None, bot_name: str | None, *, channel: str = "", again: str = RUN_AGAIN) -> str:
    who = f"<@{bot_user_id}>" if bot_user_id else f"@{bot_name or 'Travel Planner'}"
    where = f"<#{channel}>" if channel else "this channel"
    return (
        f"I can't post in {where} yet: it is private and I'm not a member. "
        f"Invite me with `/invite {who}`, then {again}."
    )


def register(app: AsyncApp, services: BotServices, *, command: str = "/plan-trip") -> None:
    async def plan_trip_command(ack: Any, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()  # first, always: Slack waits for this and nothing else
        await handle_plan_trip(services, command, respond)

    app.command(command)(plan_trip_command)


async def handle_plan_trip(services: BotServices, command: dict[str, Any], respond: AsyncRespond) -> None:
    team = str(command.get("team_id") or "")
    channel = str(command.get("channel_id") or "")
    user = str(command.get("user_id") or "")
    request = (await services.people.readable(str(command.get("text") or ""), team=team)).strip()
    log = services.logger

    async def tell(text: str) -> None:
        await _ephemeral(respond, text, log)

    try:
        await start_in_channel(services, team=team, channel=channel, user=user, request=request, tell=tell)
    except Exception:
        log.exception("could not start a trip in %s", channel)
        await _ephemeral(respond, "Sorry, the trip planner is unavailable right now. Try again in a minute.", log)


async def start_in_channel(
    services: BotServices,
    *,
    team: str,
    channel: str,
    user: str,
    request: str,
    tell: Callable[[str], Awaitable[None]],
    again: str = RUN_AGAIN,
) -> None:
    """Start the trip; join a public channel first if Slack says we are not in
    it. What stops it is said to the user with `tell` (`again`: what to do
    once the bot is invited to a private channel)."""
    log = services.logger
    try:
        await _start(services, team, channel, user, request)
        return
    except SlackApiError as exc:
        if answer_lost(exc):
            raise
        error = exc.response.get("error")
    if error not in _NOT_A_MEMBER:
        log.error("cannot post the trip root in %s: %s", channel, error)
        await tell(f"Sorry, I couldn't start a trip in <#{channel}> (Slack said `{error}`).")
        return
    if not await services.join_if_public(channel, team=team):
        identity = await services.bot_identity(team)
        await tell(invite_instructions(
            identity.user_id if identity else None, identity.user_name if identity else None,
            channel=channel, again=again,
        ))
        return
    try:
        await _start(services, team, channel, user, request)
    except SlackApiError as again:
        if answer_lost(again):
            raise
        log.error("cannot post the trip root in %s after joining: %s", channel, again.response.get("error"))
        await tell(f"Sorry, I joined <#{channel}> but still can't post in it.")


async def _start(services: BotServices, team: str, channel: str, user: str, request: str) -> str:
    return await start_from_command(services, team=team, channel=channel, starter=user, request=request)


async def _ephemeral(respond: AsyncRespond, text: str, log: Any) -> None:
    try:
        await respond(text=text, response_type="ephemeral")
    except Exception as exc:
        log.warning("could not answer through the response_url: %r", exc)


__all__ = ["RUN_AGAIN", "handle_plan_trip", "invite_instructions", "register", "root_message_text", "start_in_channel"]
