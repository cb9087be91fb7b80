"""What people say in a trip's thread, handed to the trip's durable inbox
(through the engine): replies, controls (cancel, finish, continue), and the
edits and deletions of replies.

The inbox is the durable dedupe; on top of it, this process remembers the
Slack messages it handed over (or is handing over), so the app_mention /
message twins of one message cost one name lookup and one delivery.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from bot.people import CONTROL_NAME_LOOKUP_SECONDS, NAME_LOOKUP_SECONDS, People
from workflows import failpoints
from workflows.ports import AmendOutcome, Reply, TripControl
from workflows.votes import VoteClick

log = logging.getLogger("bot")

#: Reply keys this process handed over (or is handing over), for a cheap dedupe.
_RECENT_REPLIES = 4096


class Deliveries:
    """Hands what people say to trips, each Slack message once."""

    def __init__(self, engine: TripControl, people: People, logger: logging.Logger = log) -> None:
        self.engine = engine
        self.people = people
        self.logger = logger
        self._recent_replies: OrderedDict[str, None] = OrderedDict()

    async def deliver_reply(
        self, *, trip_id: str, team: str, channel: str, ts: str, user: str, text: str, author: str | None = None
    ) -> bool:
        """Hand one reply to the trip, once per (channel, ts); `author` is
        looked up when not given.

        The trip's inbox is the durable dedupe (by the reply key
        "channel:ts"); nothing is marked before the reply is stored there, so
        a crash in between cannot turn Slack's retry, or the app_mention /
        message twin of the same message, into a "duplicate" that is dropped.
        Within this process a message already handed over, or being handed
        over, is skipped (its twin's name lookup is shared or cached).
        """
        seen = f"msg:{team}:{channel}:{ts}"
        if seen in self._recent_replies:
            return False
        self._recent_replies[seen] = None
        try:
            author = author if author is not None else await self.people.author_name(user, team=team)
            reply = Reply(key=f"{channel}:{ts}", author=author, text=text, ts=ts)
            failpoints.reached("before:deliver_reply")  # received, not yet stored
            accepted = await self.engine.deliver_reply(trip_id, reply)
        except BaseException:
            self._recent_replies.pop(seen, None)  # let a retry try again
            raise
        while len(self._recent_replies) > _RECENT_REPLIES:
            self._recent_replies.popitem(last=False)
        self.logger.debug("reply %s to %s %s", reply.key, trip_id, "accepted" if accepted else "duplicate")
        return accepted

    async def deliver_control(
        self, *, team: str, trip_id: str, key: str, user: str, kind: str, ts: str = "", seen: str = ""
    ) -> bool:
        """Hand a control (cancel, finish, continue) to the trip's inbox.

        `key` is stable across Slack's retries (a button's action_ts, a
        command message's "channel:ts"), so the inbox delivers it once.
        `seen`, when given, is the in-process marker of the Slack message it
        came from (shared with `deliver_reply`, so the app_mention / message
        twins of one `@bot cancel` never also arrive as an answer)."""
        if seen:
            if seen in self._recent_replies:
                return False
            self._recent_replies[seen] = None
        try:
            # A button is acknowledged before this runs; a command message is not.
            wait = NAME_LOOKUP_SECONDS if seen else CONTROL_NAME_LOOKUP_SECONDS
            author = await self.people.author_name(user, wait, team=team)
            reply = Reply(key=key, author=author, text=kind, ts=ts, kind=kind)
            accepted = await self.engine.deliver_reply(trip_id, reply)
        except BaseException:
            if seen:
                self._recent_replies.pop(seen, None)
            raise
        self.logger.info("control %s for %s by %s %s", kind, trip_id, user, "accepted" if accepted else "duplicate")
        return accepted

    async def deliver_vote(
        self, *, team: str, trip_id: str, user: str, vote_id: str, option: int, key: str, ts: str
    ) -> bool:
        """Hand a team vote's click to the trip's inbox (before Slack is acked:
        bot/listeners/vote_actions.py). `key` is the click's, stable across
        Slack's retries, so the inbox delivers it once."""
        author = await self.people.author_name(user, NAME_LOOKUP_SECONDS, team=team)
        click = VoteClick(vote_id, option, user, author, key=key, ts=ts)
        accepted = await self.engine.deliver_reply(trip_id, click.to_reply())
        self.logger.info("vote click %s for %s by %s %s", key, trip_id, user, "accepted" if accepted else "duplicate")
        return accepted

    async def revise_reply(
        self, *, trip_id: str, channel: str, ts: str, edit_ts: str, author: str, text: str
    ) -> AmendOutcome:
        """Hand a person's edit of their message (`channel`, `ts`) to the trip.

        Unread, the answer is replaced; read, the planner gets a correction,
        keyed by the message and the edit event's ts (`edit_ts`, which also
        orders edits), so Slack's retries of the edit, and the same edit seen
        twice, deliver it once."""
        key = f"{channel}:{ts}"
        revision = Reply(key=key, author=author, text=text, ts=ts)
        correction = Reply(
            key=f"{key}:edited:{edit_ts}", author=author, text=f"{author} edited their answer: {text}", ts=edit_ts
        )
        outcome = await self.engine.revise_reply(trip_id, revision, correction)
        self.logger.info("edit of %s for %s: %s", key, trip_id, outcome.value)
        return outcome

    async def withdraw_reply(self, *, trip_id: str, channel: str, ts: str) -> AmendOutcome:
        """A person deleted their message (`channel`, `ts`) from a trip's thread."""
        key = f"{channel}:{ts}"
        outcome = await self.engine.withdraw_reply(trip_id, key)
        if outcome is AmendOutcome.READ:
            self.logger.info("reply %s to %s was deleted after the planner read it; it keeps what it read", key, trip_id)
        else:
            self.logger.info("deletion of %s for %s: %s", key, trip_id, outcome.value)
        return outcome


__all__ = ["Deliveries"]
