"""The HTTP face of the bot: `POST /slack/events` and `GET /healthz` on
aiohttp, plus `GET /slack/install` and `GET /slack/oauth_redirect` when the
app installs through OAuth (`bot.installations`).

Slash commands, Events API and interactivity all arrive at `/slack/events`.
Requests go through slack_bolt's aiohttp adapter (`to_bolt_request` /
`to_aiohttp_response`) with one addition: a body Bolt cannot parse (bad JSON,
a form `payload=` that is not JSON) would raise inside the adapter and answer
500. Here it is handed to Bolt as an empty request that keeps the raw body,
so Bolt still checks the signature (401 for a forged one) and
`bot.validation` answers 400 with the parse error.

Run it on the caller's loop (the durable engine's)::

    runner = aiohttp.web.AppRunner(build_web_app(bolt_app))
    await runner.setup()
    await aiohttp.web.TCPSite(runner, host, port).start()
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.validation import PARSE_ERROR_KEY

log = logging.getLogger("bot.http")

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
#: Slack payloads are small; a large body is not from Slack.
MAX_BODY_BYTES = 1024 * 1024


def _json_error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"ok": False, "error": error, "detail": detail}, status=status)


def build_web_app(bolt_app: AsyncApp, *, path: str = SLACK_EVENTS_PATH) -> web.Application:
    """An aiohttp application serving `bolt_app` at `path` plus `/healthz`."""

    async def slack_events(request: web.Request) -> web.Response:
        if not _timestamp_is_integer(request.headers.get(TIMESTAMP_HEADER)):
            # slack_sdk's verifier calls int() on it and would answer 500.
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except web.HTTPRequestEntityTooLarge:
            return _json_error(413, "request_too_large", f"Slack requests are under {MAX_BODY_BYTES} bytes")
        except UnicodeDecodeError:
            return _json_error(400, "malformed_request", "request body is not UTF-8 text")
        except Exception as exc:
            raw = await request.text()
            bolt_request = AsyncBoltRequest(
                body="",
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
                context={PARSE_ERROR_KEY: f"cannot parse the request body ({_explain(exc)})"},
            )
            bolt_request.raw_body = raw  # what the signature covers
        bolt_response = await bolt_app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    web_app.router.add_post(path, slack_events)
    web_app.router.add_get(HEALTH_PATH, healthz)
    oauth_flow = bolt_app.oauth_flow
    if oauth_flow is not None:
        # Installing the app in a workspace: Bolt's OAuth flow, as its own
        # aiohttp server would serve it.
        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await oauth_flow.handle_installation(await to_bolt_request(request)))

        async def oauth_redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await oauth_flow.handle_callback(await to_bolt_request(request)))

        web_app.router.add_get(oauth_flow.install_path, install)
        web_app.router.add_get(oauth_flow.redirect_uri_path, oauth_redirect)
    return web_app


TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


def _timestamp_is_integer(value: str | None) -> bool:
    """Absent (Bolt then answers 401 itself) or the decimal integer Slack sends."""
    return value is None or (value.isascii() and value.isdigit())


def _explain(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    return f"{type(exc).__name__}: {exc}"


__all__ = ["HEALTH_PATH", "MAX_BODY_BYTES", "SLACK_EVENTS_PATH", "build_web_app"]
