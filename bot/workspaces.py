"""Which bot token serves which Slack workspace.

Every Web API call is made for one workspace (the `team_id` of the event, or
the `team` of a trip's thread) with that workspace's own bot token. A token
is never used for another team:

- `SingleWorkspace`: one `SLACK_BOT_TOKEN`. It serves only the team
  `auth.test` names; events from any other team get no workspace (the Slack
  edge acks and ignores them).
- `InstalledWorkspaces`: the app is installed through Bolt's OAuth flow and
  each workspace's bot token and bot user come from a slack-sdk
  installation store (`bot.installations`). Uninstalling deletes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import BotIdentity, BotIdentityCache

log = logging.getLogger(__name__)

#: How long the single token's workspace may take to be known (auth.test)
#: before a request is turned away with "try again later".
IDENTITY_WAIT_SECONDS = 2.0
#: How long a looked-up installation is trusted before the store is asked again.
INSTALLATION_TTL_SECONDS = 60.0
_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Workspace:
    """One workspace the app serves: its client (with its token) and its bot."""

    team_id: str
    client: AsyncWebClient
    identity: BotIdentity

    @property
    def token(self) -> str:
        return str(self.client.token or "")


class WorkspaceUnknown(Exception):
    """Which workspace the single token serves is not known yet (auth.test
    has not answered): the caller should ask again later."""


class Workspaces(Protocol):
    """The workspaces the app serves.

    `find` returns the workspace for `team_id` or None when the app does not
    serve it (never installed there, uninstalled, another token's team).
    `forget` drops a workspace whose tokens Slack revoked; `invalidate` only
    drops what is cached about it (a token Slack refused may have changed)."""

    async def find(self, team_id: str, enterprise_id: str | None = None) -> Workspace | None: ...

    async def forget(self, team_id: str, enterprise_id: str | None = None) -> None: ...

    def invalidate(self, team_id: str) -> None: ...


class WorkspaceGone(LookupError):
    """The app does not serve this workspace (any more): no token to use."""

    def __init__(self, team: str) -> None:
        super().__init__(team)
        self.team = team

    def __str__(self) -> str:
        return f"the app is not installed in workspace {self.team!r}"


async def served_workspace(workspaces: Workspaces, team: str) -> Workspace:
    """The workspace `team`, with its own client; `WorkspaceGone` if not served."""
    found = await workspaces.find(team)
    if found is None:
        raise WorkspaceGone(team)
    return found


class SingleWorkspace:
    """`Workspaces` for one bot token: it serves the team `auth.test` names."""

    def __init__(self, client: AsyncWebClient, identity: BotIdentityCache | BotIdentity | None = None) -> None:
        self.client = client
        self.identity = identity if isinstance(identity, BotIdentityCache) else BotIdentityCache(client, identity)
        self._revoked = False

    async def find(self, team_id: str, enterprise_id: str | None = None) -> Workspace | None:
        if self._revoked:
            return None
        known = self.identity.peek()
        if known is None:
            try:
                known = await asyncio.wait_for(self.identity.get(), IDENTITY_WAIT_SECONDS)
            except TimeoutError:
                known = None
            if known is None:
                raise WorkspaceUnknown("auth.test has not told which workspace SLACK_BOT_TOKEN belongs to")
        if not team_id or team_id != known.team_id:
            return None
        return Workspace(known.team_id, self.client, known)

    async def forget(self, team_id: str, enterprise_id: str | None = None) -> None:
        known = self.identity.peek()
        if known is not None and known.team_id == team_id:
            self._revoked = True  # the one token is gone: nothing may use it any more

    def invalidate(self, team_id: str) -> None:
        return None  # nothing cached but the token itself


class InstalledWorkspaces:
    """`Workspaces` from a slack-sdk installation store (one bot per workspace)."""

    def __init__(
        self,
        store: AsyncInstallationStore,
        make_client: Callable[[str], AsyncWebClient],
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl_seconds: float = INSTALLATION_TTL_SECONDS,
    ) -> None:
        self.store = store
        self._make_client = make_client
        self._clock = clock
        self._ttl = ttl_seconds
        self._cache: OrderedDict[tuple[str, str], tuple[float, Workspace]] = OrderedDict()

    async def find(self, team_id: str, enterprise_id: str | None = None) -> Workspace | None:
        if not team_id and not enterprise_id:
            return None
        key = (enterprise_id or "", team_id or "")
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            self._cache.move_to_end(key)
            return cached[1]
        # Only installations are cached: a workspace that installs the app a
        # moment after it was looked up must be found at once.
        bot = await self.store.async_find_bot(enterprise_id=enterprise_id or None, team_id=team_id or None)
        workspace: Workspace | None = None
        if bot is not None and bot.bot_token:
            previous = cached[1] if cached is not None else None
            client = (
                previous.client
                if previous is not None and previous.token == bot.bot_token
                else self._make_client(bot.bot_token)
            )
            identity = BotIdentity(
                user_id=bot.bot_user_id or "", bot_id=bot.bot_id or "", team_id=bot.team_id or team_id
            )
            workspace = Workspace(bot.team_id or team_id, client, identity)
        if workspace is None:
            self._cache.pop(key, None)
            return None
        self._cache[key] = (self._clock(), workspace)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return workspace

    async def forget(self, team_id: str, enterprise_id: str | None = None) -> None:
        await self.store.async_delete_all(enterprise_id=enterprise_id or None, team_id=team_id or None)
        self.invalidate(team_id)
        log.info("deleted the installation of workspace %s", team_id)

    def invalidate(self, team_id: str) -> None:
        for key in [k for k in self._cache if k[1] == team_id]:
            del self._cache[key]


class DeferredWorkspaces:
    """`Workspaces` opened on first use (a command that may never post)."""

    def __init__(self, open_workspaces: Callable[[], Awaitable[Workspaces]]) -> None:
        self._open = open_workspaces
        self._opened: Workspaces | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> Workspaces:
        async with self._lock:
            if self._opened is None:
                self._opened = await self._open()
            return self._opened

    async def find(self, team_id: str, enterprise_id: str | None = None) -> Workspace | None:
        return await (await self._get()).find(team_id, enterprise_id)

    async def forget(self, team_id: str, enterprise_id: str | None = None) -> None:
        await (await self._get()).forget(team_id, enterprise_id)

    def invalidate(self, team_id: str) -> None:
        if self._opened is not None:
            self._opened.invalidate(team_id)


class WorkspaceAuthorize(AsyncAuthorize):
    """Bolt's `authorize` from `Workspaces`: the event's team's own token and
    bot, without an `auth.test` on the ack path."""

    def __init__(self, workspaces: Workspaces) -> None:
        self.workspaces = workspaces

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **_actor: Any,
    ) -> AuthorizeResult | None:
        try:
            workspace = await self.workspaces.find(team_id or "", enterprise_id)
        except WorkspaceUnknown:
            return None
        if workspace is None:
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=workspace.team_id,
            bot_token=workspace.token,
            bot_id=workspace.identity.bot_id or None,
            bot_user_id=workspace.identity.user_id or None,
            user_id=user_id,
        )


__all__ = [
    "DeferredWorkspaces",
    "IDENTITY_WAIT_SECONDS",
    "InstalledWorkspaces",
    "SingleWorkspace",
    "Workspace",
    "WorkspaceAuthorize",
    "WorkspaceGone",
    "WorkspaceUnknown",
    "Workspaces",
    "served_workspace",
]
