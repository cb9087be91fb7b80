"""Which Slack workspaces a process serves: the one `SLACK_BOT_TOKEN`
(checked with auth.test at start-up), or every workspace that installed the
app through OAuth (the installation store)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import BotIdentity, fetch_bot_identity
from bot.installations import installed_workspaces
from bot.settings import SlackSettings
from bot.slack_client import make_web_client
from bot.workspaces import SingleWorkspace, Workspaces
from workflows.errors import ConfigError

# The processes log as "bot", as they always have (operators grep for it).
log = logging.getLogger("bot")

_REJECTED_TOKEN = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
#: How long start-up waits for auth.test before it serves without it.
_AUTH_TEST_SECONDS = 15


async def served_workspaces(
    env: Mapping[str, str], slack: SlackSettings
) -> tuple[Workspaces, AsyncInstallationStore | None]:
    """The workspaces this process serves, and the installation store (OAuth) or None."""
    if slack.oauth is None:
        client = make_web_client(slack.bot_token, slack.api_url)
        return SingleWorkspace(client, await _check_token(client)), None
    if env.get("SLACK_BOT_TOKEN", "").strip():
        log.warning("SLACK_BOT_TOKEN is ignored: with SLACK_CLIENT_ID set, each workspace's token comes from its install")
    return await installed_workspaces(env, slack.oauth)


async def _check_token(client: AsyncWebClient) -> BotIdentity | None:
    try:
        return await asyncio.wait_for(fetch_bot_identity(client), _AUTH_TEST_SECONDS)
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        if error in _REJECTED_TOKEN:
            raise ConfigError("SLACK_BOT_TOKEN", f"Slack rejected the token ({error})") from None
        log.warning("auth.test failed (%s); continuing, the bot will retry it", error)
    except (TimeoutError, OSError) as exc:
        log.warning("Slack API unreachable at start-up (%s); continuing", type(exc).__name__)
    return None


__all__ = ["served_workspaces"]
