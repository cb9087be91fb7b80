"""A team vote's buttons (`block_actions` on `vote_option_<i>` / `vote_close`).

Unlike the other buttons, a click is stored before the ack: it goes to the
trip's durable inbox as a `VoteClick` reply, keyed
``f"vote:{user}:{action_ts}:{action_id}"``, so a crash before Slack is
answered loses nothing (the request is sent again and lands once), and a
retried request counts once. The trip (workflows/team_votes.py) reads the
click when it next waits, rewrites the tally in place and closes the vote
at its quorum. The work before the ack is local plus one bounded name lookup.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.controls import finished_text
from bot.listeners.actions import read_click, stored_before_ack
from bot.services import BotServices
from bot.slack_chat.vote_blocks import VOTE_ACTIONS, read_button
from workflows.ports import RUNNING_STATES


def register(app: AsyncApp, services: BotServices) -> None:
    app.action(VOTE_ACTIONS)(stored_before_ack(services, handle_vote_click, "after:vote_click"))


async def handle_vote_click(services: BotServices, body: dict[str, Any], action: dict[str, Any]) -> str:
    """Deliver one click; "delivered", "duplicate", "not_running" or "ignored"."""
    where, button = read_click(body), read_button(action)
    if where is None or button is None:
        services.logger.warning("a vote click without team/channel/message/user/vote or a trip thread; ignored")
        return "ignored"
    team, channel, root_ts, user, trip_id = where.team, where.channel, where.root_ts, where.user, where.trip_id
    record = await services.directory.get_trip(trip_id)
    if record is None:
        return "ignored"
    if record.state not in RUNNING_STATES:
        services.in_background(
            services.post_ephemeral(team=team, channel=channel, user=user, thread_ts=root_ts, text=finished_text(record)),
            name="ephemeral-vote-closed",
        )
        return "not_running"
    vote_id, option = button
    action_ts = str(action.get("action_ts") or "")
    accepted = await services.deliveries.deliver_vote(
        team=team, trip_id=trip_id, user=user, vote_id=vote_id, option=option,
        key=f"vote:{user}:{action_ts}:{action.get('action_id')}", ts=action_ts,
    )
    return "delivered" if accepted else "duplicate"


__all__ = ["handle_vote_click", "register"]
