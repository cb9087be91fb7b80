"""Slack settings from the environment, checked before anything starts.

A missing or malformed token or secret is a `ConfigError` naming the
variable (exit code 2). Token values never appear in messages or `repr`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.installations import OAuthCredentials
from bot.slack_client import slack_api_url
from workflows.errors import ConfigError

_TOKEN_PREFIXES = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}
_SECRET = re.compile(r"^[0-9a-fA-F]{16,128}$")


def _token(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    prefix = _TOKEN_PREFIXES[name]
    if not value:
        hint = " or, to install in many workspaces, set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET"
        raise ConfigError(
            name, f"missing: set it to the app's token (it starts with {prefix})" + (hint if name == "SLACK_BOT_TOKEN" else "")
        )
    if not value.startswith(prefix) or any(c.isspace() for c in value):
        raise ConfigError(name, f"malformed: a Slack token of this kind starts with {prefix!r}")
    return value


@dataclass(frozen=True)
class SlackSettings:
    """One bot token (`SLACK_BOT_TOKEN`), or installs through OAuth (`oauth`):
    then each workspace's token comes from the installation store."""

    bot_token: str | None = field(repr=False)
    signing_secret: str | None = field(repr=False)
    app_token: str | None = field(repr=False)
    api_url: str
    port: int
    oauth: OAuthCredentials | None = None

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, allow_socket_mode: bool) -> SlackSettings:
        oauth = OAuthCredentials.from_env(env)
        # With OAuth every workspace has its own token; SLACK_BOT_TOKEN is not used.
        bot_token = _token(env, "SLACK_BOT_TOKEN") if oauth is None else None
        app_token = _token(env, "SLACK_APP_TOKEN") if allow_socket_mode and env.get("SLACK_APP_TOKEN") else None
        if oauth is not None and app_token is not None:
            raise ConfigError(
                "SLACK_APP_TOKEN",
                "Socket Mode cannot serve the OAuth install pages: unset it (HTTP mode) or unset SLACK_CLIENT_ID",
            )
        secret = env.get("SLACK_SIGNING_SECRET", "").strip() or None
        if app_token is None:
            if secret is None:
                raise ConfigError("SLACK_SIGNING_SECRET", "missing: HTTP mode verifies every request with it")
            if not _SECRET.match(secret):
                raise ConfigError("SLACK_SIGNING_SECRET", "malformed: expected the app's hexadecimal signing secret")
        raw_port = env.get("PORT", "").strip() or "3000"
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise ConfigError("PORT", f"expected a TCP port number, got {raw_port!r}")
        return cls(bot_token, secret, app_token, slack_api_url(env), int(raw_port), oauth)
