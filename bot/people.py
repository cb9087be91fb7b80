"""Who is who in each workspace: people's and channels' names (users.info,
conversations.info) and whether a person is an admin, cached per workspace.

Replies are stored before Slack hears "ok", so every lookup here waits a
bounded time; a cold name lookup keeps running in the background and fills
the cache for the next message (`bot.names`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from bot.mentions import plain_text, references
from bot.names import NameCache
from bot.workspaces import Workspaces, served_workspace

log = logging.getLogger("bot")

_CACHE_SIZE = 2048
#: A reply is stored before Slack is answered, so a name lookup may not hold
#: the answer up for long; past this the author is named `<@U...>` (and a
#: person it mentions `@U...`).
NAME_LOOKUP_SECONDS = 0.25
#: Names looked up for one message at most (a message that mentions hundreds
#: of people must not send hundreds of users.info calls); the rest read `@U...`.
MENTION_LOOKUPS_PER_MESSAGE = 20
#: Button clicks are acknowledged first, so their author may be looked up longer.
CONTROL_NAME_LOOKUP_SECONDS = 3.0
#: How long a user's admin/owner flags are trusted before users.info is asked again.
USER_FLAGS_TTL_SECONDS = 300.0


def _in_team(team: str, slack_id: str) -> str:
    """A cache key: ids are unique within a workspace, names differ across them."""
    return f"{team}/{slack_id}"


class People:
    """Names and admin flags, looked up with each workspace's own token."""

    def __init__(self, workspaces: Workspaces, logger: logging.Logger = log) -> None:
        self.workspaces = workspaces
        self.logger = logger
        self._people = NameCache(self._look_up_person, _CACHE_SIZE)
        self._channels = NameCache(self._look_up_channel, _CACHE_SIZE)
        self._admins: OrderedDict[tuple[str, str], tuple[float, bool]] = OrderedDict()

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

    async def is_workspace_admin(self, user_id: str, *, team: str, wait: float = NAME_LOOKUP_SECONDS) -> bool:
        """users.info says the user is an admin or owner of workspace `team`
        (cached a few minutes; False when Slack cannot say within `wait`)."""
        key = (team, user_id)
        cached = self._admins.get(key)
        if cached is not None and time.monotonic() - cached[0] < USER_FLAGS_TTL_SECONDS:
            return cached[1]
        try:
            client = (await served_workspace(self.workspaces, team)).client
            response = await asyncio.wait_for(client.users_info(user=user_id), wait)
        except Exception as exc:
            self.logger.info("users.info failed for %s: %r", user_id, exc)
            return False
        user = response.get("user") or {}
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._admins[key] = (time.monotonic(), admin)
        while len(self._admins) > _CACHE_SIZE:
            self._admins.popitem(last=False)
        return admin

    async def _look_up_person(self, key: str) -> str | None:
        team, _, user_id = key.partition("/")
        try:
            client = (await served_workspace(self.workspaces, team)).client
            response = await client.users_info(user=user_id)
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
            client = (await served_workspace(self.workspaces, team)).client
            response = await client.conversations_info(channel=channel_id)
        except Exception as exc:
            self.logger.info("conversations.info failed for %s: %r", channel_id, exc)
            return None
        name = (response.get("channel") or {}).get("name")
        return str(name) if name else None


__all__ = [
    "CONTROL_NAME_LOOKUP_SECONDS",
    "MENTION_LOOKUPS_PER_MESSAGE",
    "NAME_LOOKUP_SECONDS",
    "People",
]
