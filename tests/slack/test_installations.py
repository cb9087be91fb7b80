"""Where installations are kept and how a workspace's token is found:
slack-sdk's installation stores (SQLite beside the state, Postgres at
DATABASE_URL), the OAuth settings, and a cached token that Slack refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from slack_sdk.oauth.installation_store import Installation

from bot.installations import (
    BOT_SCOPES,
    OAuthCredentials,
    authorization_url,
    close_installation_store,
    installed_workspaces,
    sqlalchemy_url,
)
from bot.settings import SlackSettings
from bot.slack_chat import SlackChatPort
from testing.loop import LoopThread
from testing.memory_registry import memory_registry
from testing.fakes.slack_api import FakeSlackWebAPI
from workflows.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = OAuthCredentials("1111.2222", "secret", "state-secret-0123456789")


def _installation(team: str, token: str, bot_user: str = "UB1", bot_id: str = "B1") -> Installation:
    return Installation(
        app_id="A0001", team_id=team, bot_token=token, bot_id=bot_id, bot_user_id=bot_user,
        bot_scopes=",".join(BOT_SCOPES), user_id="U0INSTALLER", installed_at=1_700_000_000.0,
    )


async def _round_trip(env: dict[str, str]) -> tuple:
    workspaces, store = await installed_workspaces(env, CREDENTIALS)
    try:
        assert await workspaces.find("T0002") is None
        await store.async_save(_installation("T0002", "xoxb-two", "UTWO", "BTWO"))
        found = await workspaces.find("T0002")
        await workspaces.forget("T0002")
        gone = await workspaces.find("T0002")
        return found.token, found.identity.user_id, found.identity.bot_id, gone
    finally:
        await close_installation_store(store)


def test_installations_in_sqlite_beside_the_state(tmp_path: Path) -> None:
    token, user, bot, gone = asyncio.run(_round_trip({"TRAVEL_PLANNER_STATE_DIR": str(tmp_path)}))
    assert (token, user, bot, gone) == ("xoxb-two", "UTWO", "BTWO", None)
    assert (tmp_path / "slack-installations.sqlite3").exists()


def test_installations_in_postgres_at_database_url(postgres_db: str) -> None:
    token, user, bot, gone = asyncio.run(_round_trip({"DATABASE_URL": postgres_db}))
    assert (token, user, bot, gone) == ("xoxb-two", "UTWO", "BTWO", None)


def test_an_unreachable_database_is_a_config_error_naming_database_url() -> None:
    with pytest.raises(ConfigError) as caught:
        asyncio.run(installed_workspaces({"DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:1/none"}, CREDENTIALS))
    assert caught.value.variable == "DATABASE_URL" and "pw" not in str(caught.value)


def test_database_urls_the_paas_way() -> None:
    assert sqlalchemy_url("postgres://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert sqlalchemy_url("postgresql://h/d?sslmode=require") == "postgresql+psycopg://h/d?sslmode=require"
    with pytest.raises(ConfigError):
        sqlalchemy_url("mysql://h/d")


def test_the_install_page_is_slacks_beside_the_api_url() -> None:
    assert authorization_url("https://slack.com/api/") == "https://slack.com/oauth/v2/authorize"
    assert authorization_url("https://slack-gov.com/api/") == "https://slack-gov.com/oauth/v2/authorize"


def test_a_cached_token_slack_refuses_is_looked_up_again(tmp_path: Path, loop: LoopThread) -> None:
    """A worker still holding a workspace's old token (the app was
    reinstalled): Slack refuses it, the installation is read again, the post lands once."""
    with FakeSlackWebAPI() as api:
        api.add_channel("C0TWO", team="T0002", is_member=True)
        old = api.add_workspace("T0002")
        root = api.add_message("C0TWO", "root", bot=True)

        async def scenario() -> None:
            workspaces, store = await installed_workspaces(
                {"TRAVEL_PLANNER_STATE_DIR": str(tmp_path), "SLACK_API_URL": api.api_url}, CREDENTIALS
            )
            await store.async_save(_installation("T0002", old.token, old.bot_user_id, old.bot_id))
            assert (await workspaces.find("T0002")).token == old.token  # now cached
            api.uninstall("T0002")
            new = api.add_workspace("T0002")  # reinstalled
            await store.async_save(_installation("T0002", new.token, new.bot_user_id, new.bot_id))
            port = SlackChatPort(workspaces, memory_registry(), status_refresh_seconds=0)
            thread = {"surface": "slack", "team": "T0002", "channel": "C0TWO", "thread_ts": root}
            await port.ask(thread, "Which dates?", key="slack-T0002-C0TWO-1:1/ask1")
            await port.aclose()
            await close_installation_store(store)

        loop.run(scenario(), timeout=20)
        [post] = api.posts("C0TWO", thread_ts=root)
        assert post["bot_id"] == api.workspace("T0002").bot_id
        statuses = [c.response.get("error") for c in api.calls_to("chat.postMessage")]
        assert statuses == ["token_revoked", None]


# -- settings ---------------------------------------------------------------------

BASE = {"SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef"}


def test_oauth_settings_need_all_three_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        SlackSettings.from_env({**BASE, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s"}, allow_socket_mode=False)
    assert caught.value.variable == "SLACK_STATE_SECRET"
    oauth = {**BASE, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_STATE_SECRET": "x" * 20}
    settings = SlackSettings.from_env(oauth, allow_socket_mode=False)
    assert settings.bot_token is None and settings.oauth is not None
    assert "x" * 20 not in repr(settings) and "client_secret" not in repr(settings)  # no secret in repr
    with pytest.raises(ConfigError) as caught:
        SlackSettings.from_env({**oauth, "SLACK_APP_TOKEN": "xapp-1"}, allow_socket_mode=True)
    assert caught.value.variable == "SLACK_APP_TOKEN"


def test_without_oauth_the_bot_token_is_required_and_the_message_names_both_ways() -> None:
    with pytest.raises(ConfigError) as caught:
        SlackSettings.from_env(BASE, allow_socket_mode=False)
    assert caught.value.variable == "SLACK_BOT_TOKEN" and "SLACK_CLIENT_ID" in str(caught.value)


def test_the_manifests_ask_for_the_scopes_an_install_asks_for() -> None:
    for name in ("manifest.yml", "manifest.socket-mode.yml"):
        manifest = yaml.safe_load((ROOT / name).read_text())
        assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES), name
        events = manifest["settings"]["event_subscriptions"]["bot_events"]
        assert {"app_uninstalled", "tokens_revoked"} <= set(events), name
    http = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert http["oauth_config"]["redirect_urls"] == ["https://YOUR-HOST/slack/oauth_redirect"]
