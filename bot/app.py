"""Wires the Bolt app: settings, authorization, middleware, listeners. No logic here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners import register_listeners
from bot.services import BotServices
from bot.slack_client import make_web_client
from bot.validation import validate_payload
from bot.workspace_gate import admit_served_workspaces
from bot.workspaces import WorkspaceAuthorize


def create_bolt_app(
    services: BotServices,
    *,
    signing_secret: str | None,
    client: AsyncWebClient | None = None,
    oauth_settings: AsyncOAuthSettings | None = None,
    socket_mode: bool = False,
    command: str = "/plan-trip",
) -> AsyncApp:
    """The Slack edge as a Bolt `AsyncApp` (run it on the engine's event loop).

    - `services`: what the listeners share, the process's one `BotServices`
      (its workspaces say which token serves which team, `bot.workspaces`).
    - `client`: a template for Bolt's per-request clients (base URL, retry
      handlers; `bot.slack_client.make_web_client`); by default the single
      workspace's client.
    - `oauth_settings`: installs through Bolt's OAuth flow
      (`bot.installations.oauth_settings`); the workspaces then read the same
      installation store.
    - `socket_mode`: requests arrive over Socket Mode (no signature to check;
      `signing_secret` may be None). In HTTP mode `signing_secret` is required.

    Requests from a workspace the app does not serve are acknowledged, logged
    and ignored (`bot.workspace_gate`). Listeners ack first and do slow work
    after (`process_before_response` is False: Bolt answers Slack as soon as
    `ack()` is called and keeps running the listener on the loop).
    """
    workspaces, logger = services.workspaces, services.logger
    if not socket_mode and not signing_secret:
        raise ValueError("signing_secret is required unless socket_mode=True")
    template = client or getattr(workspaces, "client", None) or make_web_client(None)

    async def before_authorize(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]  # noqa: A002
    ) -> BoltResponse:
        async def gate() -> BoltResponse:
            return await admit_served_workspaces(workspaces, req, next, logger)

        return await validate_payload(req, resp, gate)

    app = AsyncApp(
        # Bolt's own per-request client copies this one (base_url, retry
        # handlers); its token comes from `authorize`, so Bolt never calls
        # auth.test on the ack path.
        client=_tokenless_copy(template),
        authorize=WorkspaceAuthorize(workspaces),
        oauth_settings=oauth_settings,
        signing_secret=signing_secret or None,
        request_verification_enabled=bool(signing_secret),
        before_authorize=before_authorize,
        process_before_response=False,
        raise_error_for_unhandled_request=True,
        logger=logger,
        name="travel-planner",
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
