"""What the listeners share: the workspaces (each with its own client and
bot), the parts of the registry they use (trip directory, inbox, delivery
marks), the trip engine, who is who (`people`), the deliveries to trips'
inboxes (`deliveries`), and small helpers: dedupe marks, ephemeral messages,
background work, trip starts and channel joins. Every Slack call is made with
the token of the workspace it is for (`bot.workspaces`).

One instance per process: it holds the process's caches (names, admin
flags, the replies it handed over)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.deliveries import Deliveries
from bot.identity import BotIdentity
from bot.people import People
from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread
from bot.workspaces import Workspace, Workspaces, served_workspace
from workflows.feedback import FeedbackBook, FeedbackObserver
from workflows.ports import DeliveryMarks, Inbox, TripControl, TripDirectory, TripRecord
from workflows.usage import NO_PRICES, Prices

log = logging.getLogger("bot")

#: How long delivered Slack events are remembered. Slack retries a failed
#: delivery after ~3 s, ~1 min and ~5 min, so two hours is plenty.
DEFAULT_EVENT_TTL_SECONDS = 2 * 60 * 60


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
    price_per_mtok: Prices = NO_PRICES
    #: Votes on plan versions; by default the registry's, when `directory` is a whole registry.
    feedback: FeedbackBook | None = None
    #: Told of each vote that changed something (telemetry), if set.
    feedback_observer: FeedbackObserver | None = None
    people: People = field(init=False)
    deliveries: Deliveries = field(init=False)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.feedback is None and hasattr(self.directory, "record_feedback"):
            self.feedback = self.directory  # type: ignore[assignment]  # the registry keeps the votes too
        self.people = People(self.workspaces, self.logger)
        self.deliveries = Deliveries(self.engine, self.people, self.logger)

    # -- workspaces and the bot in each ------------------------------------

    async def workspace(self, team: str) -> Workspace:
        """The workspace `team`, with its own client; `WorkspaceGone` if not served."""
        return await served_workspace(self.workspaces, team)

    async def client(self, team: str) -> AsyncWebClient:
        return (await self.workspace(team)).client

    async def bot_identity(self, team: str) -> BotIdentity | None:
        found = await self.workspaces.find(team)
        return found.identity if found is not None else None

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

    # -- ephemeral messages, background work -------------------------------

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


__all__ = ["DEFAULT_EVENT_TTL_SECONDS", "BotServices"]
