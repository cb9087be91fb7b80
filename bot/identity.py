"""Who the bot is in Slack (auth.test), fetched once and never on the ack path."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """The bot's own ids, from `auth.test`."""

    user_id: str  # the bot user (U...), as in <@U...> mentions
    bot_id: str = ""  # B..., as in a message's bot_id
    team_id: str = ""
    user_name: str = ""  # the bot user's handle, for "/invite @name"
    url: str = ""  # the workspace's URL ("https://acme.slack.com/"), for links to threads


async def fetch_bot_identity(client: AsyncWebClient) -> BotIdentity:
    """Call `auth.test` once; raises `SlackApiError` on a bad token."""
    response = await client.auth_test()
    return BotIdentity(
        user_id=str(response.get("user_id") or ""),
        bot_id=str(response.get("bot_id") or ""),
        team_id=str(response.get("team_id") or ""),
        user_name=str(response.get("user") or ""),
        url=str(response.get("url") or ""),
    )


class BotIdentityCache:
    """Holds the identity; fetches it lazily (once at a time) when not given.

    `peek()` never waits (used on the ack path by the Bolt authorize function);
    `get()` waits for the fetch (used by listeners, after the ack).
    """

    def __init__(self, client: AsyncWebClient, identity: BotIdentity | None = None) -> None:
        self._client = client
        self._identity = identity
        self._task: asyncio.Task[BotIdentity | None] | None = None

    def peek(self) -> BotIdentity | None:
        return self._identity

    def set(self, identity: BotIdentity) -> None:
        self._identity = identity

    def prefetch(self) -> None:
        """Start fetching in the background if nothing is known or under way."""
        if self._identity is None and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._fetch(), name="slack-auth-test")

    async def get(self) -> BotIdentity | None:
        if self._identity is not None:
            return self._identity
        self.prefetch()
        assert self._task is not None
        return await asyncio.shield(self._task)

    async def _fetch(self) -> BotIdentity | None:
        try:
            self._identity = await fetch_bot_identity(self._client)
        except Exception as exc:  # retried on the next get()
            log.warning("auth.test failed; bot identity unknown for now: %r", exc)
        return self._identity


__all__ = ["BotIdentity", "BotIdentityCache", "fetch_bot_identity"]
