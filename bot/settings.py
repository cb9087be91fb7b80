"""Slack settings from the environment, checked before anything starts.

A missing or malformed token or secret is a `ConfigError` naming the
variable (exit code 2). Token values never appear in messages or `repr`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.slack_client import slack_api_url
from workflows.errors import ConfigError

_TOKEN_PREFIXES = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}
_SECRET = re.compile(r"^[0-9a-fA-F]{16,128}$")


def _token(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    prefix = _TOKEN_PREFIXES[name]
    if not value:
        raise ConfigError(name, f"missing: set it to the app's token (it starts with {prefix})")
    if not value.startswith(prefix) or any(c.isspace() for c in value):
        raise ConfigError(name, f"malformed: a Slack token of this kind starts with {prefix!r}")
    return value


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    signing_secret: str | None = field(repr=False)
    app_token: str | None = field(repr=False)
    api_url: str
    port: int

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, allow_socket_mode: bool) -> SlackSettings:
        bot_token = _token(env, "SLACK_BOT_TOKEN")
        app_token = _token(env, "SLACK_APP_TOKEN") if allow_socket_mode and env.get("SLACK_APP_TOKEN") else None
        secret = env.get("SLACK_SIGNING_SECRET", "").strip() or None
        if app_token is None:
            if secret is None:
                raise ConfigError("SLACK_SIGNING_SECRET", "missing: HTTP mode verifies every request with it")
            if not _SECRET.match(secret):
                raise ConfigError("SLACK_SIGNING_SECRET", "malformed: expected the app's hexadecimal signing secret")
        raw_port = env.get("PORT", "").strip() or "3000"
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise ConfigError("PORT", f"expected a TCP port number, got {raw_port!r}")
        return cls(bot_token, secret, app_token, slack_api_url(env), int(raw_port))
