"""Wires the Bolt app: settings, authorization, middleware, listeners. No logic here."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import BotIdentity, BotIdentityCache
from bot.listeners import register_listeners
from bot.services import DEFAULT_EVENT_TTL_SECONDS, BotServices
from bot.slack_client import make_web_client
from bot.validation import validate_payload
from workflows.ports import ThreadRegistry, TripControl

log = logging.getLogger("bot")


def create_bolt_app(
    *,
    signing_secret: str | None,
    bot_token: str | None,
    client: AsyncWebClient | None,
    registry: ThreadRegistry,
    trips: TripControl,
    socket_mode: bool = False,
    bot_identity: BotIdentity | None = None,
    command: str = "/plan-trip",
    event_ttl_seconds: int = DEFAULT_EVENT_TTL_SECONDS,
    logger: logging.Logger | None = None,
    price_per_mtok: tuple[float, float] = (0.0, 0.0),
) -> AsyncApp:
    """The Slack edge as a Bolt `AsyncApp` (run it on the engine's event loop).

    - `client`: the Web API client listeners post with (build it with
      `bot.slack_client.make_web_client`); built from `bot_token` when None.
    - `bot_identity`: the bot's ids from `auth.test` (`fetch_bot_identity`).
      Pass it when you have it: without it the first requests carry no bot
      user id until a background `auth.test` returns (nothing on the ack path
      ever waits for it).
    - `socket_mode`: requests arrive over Socket Mode (no signature to check;
      `signing_secret` may be None). In HTTP mode `signing_secret` is required.
    - `price_per_mtok`: USD per million (input, output) tokens, for the cost
      estimate `@bot status` shows (TripSettings.price_per_mtok).

    Listeners ack first and do slow work after (`process_before_response` is
    False: Bolt answers Slack as soon as `ack()` is called and keeps running
    the listener on the loop).
    """
    logger = logger or log
    token = bot_token or (client.token if client is not None else None)
    if not token:
        raise ValueError("a bot token is required (bot_token or a client with a token)")
    if client is None:
        client = make_web_client(token)
    if not socket_mode and not signing_secret:
        raise ValueError("signing_secret is required unless socket_mode=True")

    identity = BotIdentityCache(client, bot_identity)

    async def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        # Never waits: a missing identity is fetched in the background.
        known = identity.peek()
        if known is None:
            identity.prefetch()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or (known.team_id if known else None),
            bot_token=token,
            bot_id=known.bot_id if known else None,
            bot_user_id=known.user_id if known else None,
            user_id=user_id,
        )

    app = AsyncApp(
        # Bolt's own per-request client copies this one (base_url, retry
        # handlers); its token comes from `authorize`, so Bolt never calls
        # auth.test on the ack path.
        client=_tokenless_copy(client),
        authorize=authorize,
        signing_secret=signing_secret or None,
        request_verification_enabled=bool(signing_secret),
        before_authorize=validate_payload,
        process_before_response=False,
        raise_error_for_unhandled_request=True,
        logger=logger,
        name="travel-planner",
    )
    services = BotServices(
        client=client,
        registry=registry,
        trips=trips,
        identity=identity,
        event_ttl_seconds=event_ttl_seconds,
        logger=logger,
        price_per_mtok=price_per_mtok,
    )
    register_listeners(app, services, command=command)
    return app


def _tokenless_copy(client: AsyncWebClient) -> AsyncWebClient:
    kwargs: dict[str, Any] = {
        "token": None,
        "base_url": client.base_url,
        "timeout": client.timeout,
        "ssl": client.ssl,
        "proxy": client.proxy,
        "headers": client.headers,
        "retry_handlers": list(client.retry_handlers or []),
        "logger": client.logger,
    }
    return AsyncWebClient(**kwargs)


__all__ = ["create_bolt_app"]
