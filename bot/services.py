"""What the listeners share: the workspaces (each with its own client and
bot), the parts of the registry they use (trip directory, inbox, delivery
marks), the trip engine, and small helpers. Every Slack call is made with the
token of the workspace it is for (`bot.workspaces`)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import BotIdentity
from bot.mentions import plain_text, references
from bot.names import NameCache
from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread
from workflows import failpoints
from bot.workspaces import Workspace, Workspaces
from workflows.ports import AmendOutcome, DeliveryMarks, Inbox, Reply, TripControl, TripDirectory, TripRecord

log = logging.getLogger("bot")

#: How long delivered Slack events are remembered. Slack retries a failed
#: delivery after ~3 s, ~1 min and ~5 min, so two hours is plenty.
DEFAULT_EVENT_TTL_SECONDS = 2 * 60 * 60

_NAME_CACHE_SIZE = 2048
#: A reply is stored before Slack is answered, so a name lookup may not hold
#: the answer up for long; past this the author is named `<@U...>` (and a
#: person it mentions `@U...`).
NAME_LOOKUP_SECONDS = 0.25
#: Names looked up for one message at most (a message that mentions hundreds
#: of people must not send hundreds of users.info calls); the rest read `@U...`.
MENTION_LOOKUPS_PER_MESSAGE = 20
#: Button clicks are acknowledged first, so their author may be looked up longer.
CONTROL_NAME_LOOKUP_SECONDS = 3.0
#: Reply keys this process handed over (or is handing over), for a cheap dedupe.
_RECENT_REPLIES = 4096


#: How long a user's admin/owner flags are trusted before users.info is asked again.
USER_FLAGS_TTL_SECONDS = 300.0


class WorkspaceGone(LookupError):
    """The app does not serve this workspace (any more): no token to use."""

    def __init__(self, team: str) -> None:
        super().__init__(team)
        self.team = team

    def __str__(self) -> str:
        return f"the app is not installed in workspace {self.team!r}"


def _in_team(team: str, slack_id: str) -> str:
    """A cache key: ids are unique within a workspace, names differ across them."""
    return f"{team}/{slack_id}"


@dataclass
class BotServices:
    workspaces: Workspaces
    directory: TripDirectory
    #: Read only here (`@bot status` counts unread replies); replies go in through `engine`.
    inbox: Inbox
    marks: DeliveryMarks
    engine: TripControl
    event_ttl_seconds: int = DEFAULT_EVENT_TTL_SECONDS
    logger: logging.Logger = log
    #: USD per million (input, output) tokens, for the cost in `@bot status`.
    price_per_mtok: tuple[float, float] = (0.0, 0.0)
    _people: NameCache = field(init=False)
    _channels: NameCache = field(init=False)
    _recent_replies: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _admins: OrderedDict[tuple[str, str], tuple[float, bool]] = field(default_factory=OrderedDict)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._people = NameCache(self._look_up_person, _NAME_CACHE_SIZE)
        self._channels = NameCache(self._look_up_channel, _NAME_CACHE_SIZE)

    # -- workspaces --------------------------------------------------------

    async def workspace(self, team: str) -> Workspace:
        """The workspace `team`, with its own client; `WorkspaceGone` if not served."""
        found = await self.workspaces.find(team)
        if found is None:
            raise WorkspaceGone(team)
        return found

    async def client(self, team: str) -> AsyncWebClient:
        return (await self.workspace(team)).client

    async def bot_identity(self, team: str) -> BotIdentity | None:
        found = await self.workspaces.find(team)
        return found.identity if found is not None else None

    # -- dedupe ------------------------------------------------------------

    async def first_time(self, key: str) -> bool:
        """True the first time `key` is seen (a registry delivery mark)."""
        return await self.marks.first_time(key, self.event_ttl_seconds)

    async def first_time_of_event(self, body: dict) -> bool:
        """Dedupe Slack's event deliveries (retries carry the same event_id)."""
        event_id = body.get("event_id")
        if not event_id:
            return True
        return await self.first_time(f"event:{event_id}")

    # -- people ------------------------------------------------------------

    async def author_name(self, user_id: str, wait: float = NAME_LOOKUP_SECONDS, *, team: str) -> str:
        """A person's display name for the planner, or the `<@U...>` form.

        Replies are stored before Slack hears "ok", so a cold lookup waits at
        most `wait`; it keeps running in the background and fills the cache
        for this person's next message."""
        if not user_id:
            return "someone"
        return await self._people.get(_in_team(team, user_id), wait) or f"<@{user_id}>"

    async def readable(self, markup: str, wait: float = NAME_LOOKUP_SECONDS, *, team: str) -> str:
        """A message's text as people read it in Slack (`bot.mentions`): the
        names it mentions looked up together, within one bounded wait."""
        user_ids, channel_ids = references(markup)
        if not user_ids and not channel_ids:
            return plain_text(markup)
        user_ids = user_ids[:MENTION_LOOKUPS_PER_MESSAGE]
        channel_ids = channel_ids[: max(0, MENTION_LOOKUPS_PER_MESSAGE - len(user_ids))]
        found = await asyncio.gather(
            *(self._people.get(_in_team(team, user), wait) for user in user_ids),
            *(self._channels.get(_in_team(team, channel), wait) for channel in channel_ids),
        )
        users = {user: name for user, name in zip(user_ids, found[: len(user_ids)], strict=True) if name}
        channels = {ch: name for ch, name in zip(channel_ids, found[len(user_ids):], strict=True) if name}
        return plain_text(markup, users=users, channels=channels)

    async def _look_up_person(self, key: str) -> str | None:
        team, _, user_id = key.partition("/")
        try:
            response = await (await self.client(team)).users_info(user=user_id)
        except Exception as exc:
            self.logger.info("users.info failed for %s: %r", user_id, exc)
            return None
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        found = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
        return str(found) if found else None

    async def _look_up_channel(self, key: str) -> str | None:
        team, _, channel_id = key.partition("/")
        try:
            response = await (await self.client(team)).conversations_info(channel=channel_id)
        except Exception as exc:
            self.logger.info("conversations.info failed for %s: %r", channel_id, exc)
            return None
        name = (response.get("channel") or {}).get("name")
        return str(name) if name else None

    async def is_workspace_admin(self, user_id: str, *, team: str, wait: float = NAME_LOOKUP_SECONDS) -> bool:
        """users.info says the user is an admin or owner of workspace `team`
        (cached a few minutes; False when Slack cannot say within `wait`)."""
        key = (team, user_id)
        cached = self._admins.get(key)
        if cached is not None and time.monotonic() - cached[0] < USER_FLAGS_TTL_SECONDS:
            return cached[1]
        try:
            client = await self.client(team)
            response = await asyncio.wait_for(client.users_info(user=user_id), wait)
        except Exception as exc:
            self.logger.info("users.info failed for %s: %r", user_id, exc)
            return False
        user = response.get("user") or {}
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._admins[key] = (time.monotonic(), admin)
        while len(self._admins) > _NAME_CACHE_SIZE:
            self._admins.popitem(last=False)
        return admin

    async def post_ephemeral(self, *, team: str, channel: str, user: str, text: str, thread_ts: str = "") -> None:
        """A message only `user` sees, in the thread; best effort."""
        kwargs: dict[str, str] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await (await self.client(team)).chat_postEphemeral(**kwargs)
        except Exception as exc:
            self.logger.warning("chat.postEphemeral to %s in %s failed: %r", user, channel, exc)

    def in_background(self, work: Awaitable[None], name: str = "bot-background") -> None:
        """Run `work` after the current request is acknowledged (keeps a reference)."""

        async def run() -> None:
            try:
                await work
            except Exception:
                self.logger.exception("background work %s failed", name)

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def bot_mention_pattern(self, team: str) -> re.Pattern[str] | None:
        identity = await self.bot_identity(team)
        if identity is None or not identity.user_id:
            return None
        return re.compile(rf"<@{re.escape(identity.user_id)}(?:\|[^>]*)?>")

    async def from_an_app(self, event: dict, team: str) -> bool:
        """The event was posted by an app (ours or another bot)."""
        if event.get("bot_id") or event.get("bot_profile"):
            return True
        identity = await self.bot_identity(team)
        return identity is not None and bool(identity.user_id) and event.get("user") == identity.user_id

    # -- trips -------------------------------------------------------------

    async def start_trip(self, *, team: str, channel: str, root_ts: str, starter: str, request: str) -> TripRecord:
        now = time.time()
        record = TripRecord(
            trip_id=trip_id_for_thread(team, channel, root_ts),
            thread_key=thread_key(team, channel, root_ts),
            thread=slack_thread_ref(team, channel, root_ts),
            starter=starter,
            request=request,
            created_at=now,
            updated_at=now,
        )
        started = await self.engine.start_trip(record)
        self.logger.info("trip %s %s by %s", record.trip_id, "started" if started else "already exists", starter)
        return record

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
            author = author if author is not None else await self.author_name(user, team=team)
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
            reply = Reply(key=key, author=await self.author_name(user, wait, team=team), text=kind, ts=ts, kind=kind)
            accepted = await self.engine.deliver_reply(trip_id, reply)
        except BaseException:
            if seen:
                self._recent_replies.pop(seen, None)
            raise
        self.logger.info("control %s for %s by %s %s", kind, trip_id, user, "accepted" if accepted else "duplicate")
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

    # -- channels ----------------------------------------------------------

    async def join_if_public(self, channel: str, *, team: str) -> bool:
        """Join `channel` when it is a public channel; False when we cannot."""
        client = await self.client(team)
        try:
            info = await client.conversations_info(channel=channel)
            conversation = info.get("channel") or {}
        except SlackApiError as exc:
            # channel_not_found: a private channel or DM we cannot see.
            self.logger.info("conversations.info %s: %s", channel, exc.response.get("error"))
            return False
        if conversation.get("is_private") or conversation.get("is_im") or conversation.get("is_mpim"):
            return False
        if conversation.get("is_member"):
            return True
        try:
            await client.conversations_join(channel=channel)
        except SlackApiError as exc:
            self.logger.warning("conversations.join %s: %s", channel, exc.response.get("error"))
            return False
        return True


__all__ = ["DEFAULT_EVENT_TTL_SECONDS", "BotServices", "WorkspaceGone"]
