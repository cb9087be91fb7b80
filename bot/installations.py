"""Installing the app in many workspaces: Bolt's OAuth flow and where the
installations are kept.

With `SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET` and `SLACK_STATE_SECRET` set,
people install the app at `/slack/install`; Slack sends them back to
`/slack/oauth_redirect`, where Bolt exchanges the code for the workspace's
bot token (`oauth.v2.access`) and saves it in a slack-sdk installation store:

- one process (`run`): SQLite, in a file beside the embedded durable state;
- `web` + `worker`: Postgres at `DATABASE_URL` (slack-sdk's SQLAlchemy
  store), shared by every process.

The OAuth `state` is a short-lived signed token (slack-sdk's
`StatelessOAuthStateStore`, keyed by `SLACK_STATE_SECRET`), so no process
has to remember it; Bolt also checks it against the installer's cookie.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.oauth.state_store.stateless import StatelessOAuthStateStore

from bot.slack_client import make_web_client, slack_api_url
from bot.workspaces import InstalledWorkspaces
from workflows.config import state_dir_from_env
from workflows.errors import ConfigError

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
INSTALLATIONS_FILE = "slack-installations.sqlite3"
#: The bot scopes an install asks for: the same as manifest.yml (a test checks it).
BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:join",
    "channels:read",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "groups:read",
    "im:history",
    "users:read",
)
#: How long an install link's `state` stays valid.
STATE_SECONDS = 600
OAUTH_VARIABLES = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_STATE_SECRET")


@dataclass(frozen=True)
class OAuthCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    state_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OAuthCredentials | None:
        """The OAuth credentials, or None when none of them is set (single token)."""
        values = {name: env.get(name, "").strip() for name in OAUTH_VARIABLES}
        if not any(values.values()):
            return None
        for name, value in values.items():
            if not value:
                given = ", ".join(n for n, v in values.items() if v)
                raise ConfigError(
                    name,
                    f"missing: installing through OAuth needs all of {', '.join(OAUTH_VARIABLES)} "
                    f"(only {given} is set)",
                )
        if len(values["SLACK_STATE_SECRET"]) < 16:
            raise ConfigError("SLACK_STATE_SECRET", "too short: use a random secret of at least 16 characters")
        return cls(values["SLACK_CLIENT_ID"], values["SLACK_CLIENT_SECRET"], values["SLACK_STATE_SECRET"])


def authorization_url(api_url: str) -> str:
    """Slack's install approval page for the Web API at `api_url`
    (`https://slack.com/api/` -> `https://slack.com/oauth/v2/authorize`)."""
    parts = urlsplit(api_url)
    path = parts.path.rstrip("/")
    base = path[: -len("/api")] if path.endswith("/api") else path
    return urlunsplit((parts.scheme, parts.netloc, base + "/oauth/v2/authorize", "", ""))


def oauth_settings(credentials: OAuthCredentials, store: AsyncInstallationStore, *, api_url: str) -> AsyncOAuthSettings:
    return AsyncOAuthSettings(
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        scopes=list(BOT_SCOPES),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorization_url(api_url),
        installation_store=store,
        installation_store_bot_only=True,
        state_store=StatelessOAuthStateStore(expiration_seconds=STATE_SECONDS, signing_secret=credentials.state_secret),
        state_expiration_seconds=STATE_SECONDS,
    )


def sqlite_installation_store(state_dir: Path, client_id: str) -> SQLite3InstallationStore:
    """Installations in a SQLite file beside the embedded state (one process)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    store = SQLite3InstallationStore(database=str(state_dir / INSTALLATIONS_FILE), client_id=client_id)
    store.init()
    return store


def sqlalchemy_url(database_url: str) -> str:
    """`DATABASE_URL` (postgres:// or postgresql://, the PaaS convention) for
    SQLAlchemy's asyncio engine on psycopg 3."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        raise ConfigError("DATABASE_URL", "expected a postgresql://user@host:port/database URL")
    return "postgresql+psycopg://" + rest


async def postgres_installation_store(database_url: str, client_id: str) -> AsyncInstallationStore:
    """Installations in Postgres (shared by `web` and every `worker`).

    Creates its two tables if missing; a database that cannot be reached is a
    `ConfigError` naming DATABASE_URL."""
    from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(sqlalchemy_url(database_url), pool_pre_ping=True)
    store = AsyncSQLAlchemyInstallationStore(client_id=client_id, engine=engine)
    try:
        await store.create_tables()
    except Exception as exc:
        await engine.dispose()
        raise ConfigError(
            "DATABASE_URL", f"cannot reach the database for Slack installations ({type(exc).__name__})"
        ) from None
    return store


async def open_installation_store(env: Mapping[str, str], client_id: str) -> AsyncInstallationStore:
    """Postgres at `DATABASE_URL` when it is set, else SQLite beside the state."""
    database_url = env.get("DATABASE_URL", "").strip()
    if database_url:
        return await postgres_installation_store(database_url, client_id)
    return sqlite_installation_store(state_dir_from_env(env), client_id)


async def installed_workspaces(
    env: Mapping[str, str], credentials: OAuthCredentials
) -> tuple[InstalledWorkspaces, AsyncInstallationStore]:
    """The workspaces that installed the app, each with a client of its own token."""
    store = await open_installation_store(env, credentials.client_id)
    api_url = slack_api_url(env)
    return InstalledWorkspaces(store, lambda token: make_web_client(token, api_url)), store


async def close_installation_store(store: AsyncInstallationStore) -> None:
    engine = getattr(store, "engine", None)
    if engine is not None and hasattr(engine, "dispose"):
        await engine.dispose()


__all__ = [
    "BOT_SCOPES",
    "INSTALL_PATH",
    "OAUTH_VARIABLES",
    "REDIRECT_PATH",
    "OAuthCredentials",
    "authorization_url",
    "close_installation_store",
    "installed_workspaces",
    "open_installation_store",
    "oauth_settings",
    "postgres_installation_store",
    "sqlalchemy_url",
    "sqlite_installation_store",
]
