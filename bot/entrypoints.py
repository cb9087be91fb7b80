"""The processes: `run` (all in one), `web` (Bolt over HTTP) and `worker`.

- `run`: Bolt, the worker and the embedded durable store in one process.
  Socket Mode when `SLACK_APP_TOKEN` is set, else HTTP on `$PORT`.
- `web`: Bolt over HTTP against a Resonate server; starts trips, delivers replies.
  With OAuth (SLACK_CLIENT_ID...), installations are kept in Postgres at
  DATABASE_URL for every process; `run` keeps them beside its state.
- `worker`: runs trips against the Resonate server and posts back to Slack.

Everything shares one asyncio loop per process: the Resonate SDK is not
thread-safe, and Bolt's `AsyncApp` acks on the same loop in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import create_bolt_app
from bot.http_server import build_web_app
from bot.identity import BotIdentity, fetch_bot_identity
from bot.installations import INSTALL_PATH, close_installation_store, installed_workspaces, oauth_settings
from bot.listeners.commands import post_root
from bot.services import BotServices
from bot.settings import SlackSettings
from bot.slack_chat import SlackChatPort
from bot.slack_client import make_web_client
from bot.trip_starts import resume_interrupted_starts
from bot.workspaces import SingleWorkspace, Workspaces
from workflows.errors import ConfigError
from workflows.ports import PostLedger
from workflows.runtime import Runtime, open_embedded, open_server_mode, research_collaborators, server_engine

log = logging.getLogger("bot")

_REJECTED_TOKEN = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
LISTEN_HOST = "0.0.0.0"


def serve(command: str, env: Mapping[str, str]) -> int:
    slack = SlackSettings.from_env(env, allow_socket_mode=command == "run")
    if command in ("web", "worker"):
        server_engine(env)  # DATABASE_URL or RESONATE_URL, else a ConfigError naming them
        if not env.get("REDIS_URL", "").strip():
            raise ConfigError("REDIS_URL", f"`travel-planner {command}` needs it (multi-process mode)")
        if slack.oauth is not None and not env.get("DATABASE_URL", "").strip():
            raise ConfigError(
                "DATABASE_URL", f"`travel-planner {command}` with OAuth installs keeps them in Postgres for every process"
            )
    return asyncio.run(_serve(command, env, slack))


async def _workspaces(command: str, env: Mapping[str, str], slack: SlackSettings) -> tuple[Workspaces, Any]:
    """The workspaces this process serves, and the installation store (OAuth) or None."""
    if slack.oauth is None:
        client = make_web_client(slack.bot_token, slack.api_url)
        return SingleWorkspace(client, await _check_token(client)), None
    if env.get("SLACK_BOT_TOKEN", "").strip():
        log.warning("SLACK_BOT_TOKEN is ignored: with SLACK_CLIENT_ID set, each workspace's token comes from its install")
    return await installed_workspaces(env, slack.oauth)


async def _check_token(client: AsyncWebClient) -> BotIdentity | None:
    try:
        return await asyncio.wait_for(fetch_bot_identity(client), 15)
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        if error in _REJECTED_TOKEN:
            raise ConfigError("SLACK_BOT_TOKEN", f"Slack rejected the token ({error})") from None
        log.warning("auth.test failed (%s); continuing, the bot will retry it", error)
    except (TimeoutError, OSError) as exc:
        log.warning("Slack API unreachable at start-up (%s); continuing", type(exc).__name__)
    return None


async def _serve(command: str, env: Mapping[str, str], slack: SlackSettings) -> int:
    workspaces, installations = await _workspaces(command, env, slack)
    ports: list[SlackChatPort] = []

    def chat(ledger: PostLedger) -> SlackChatPort:
        ports.append(SlackChatPort(workspaces, ledger))
        return ports[-1]

    runtime: Runtime
    if command == "run":
        runtime = await open_embedded(env, research_collaborators(env, chat))
    elif command == "worker":
        runtime = await open_server_mode(env, role="worker", parts=research_collaborators(env, chat))
    else:
        runtime = await open_server_mode(env, role="web", parts=None)

    # Everything loaded so far (libraries, the replayed store) lives for the
    # whole process: move it out of the collector's way, so a full collection
    # during a busy minute does not stall acks for tens of milliseconds.
    gc.collect()
    gc.freeze()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    runner: web.AppRunner | None = None
    socket_handler = None
    try:
        if command in ("run", "web"):
            template = make_web_client(None, slack.api_url)  # base URL and retry handlers for Bolt's clients
            app = create_bolt_app(
                signing_secret=slack.signing_secret,
                workspaces=workspaces,
                client=template,
                oauth_settings=(
                    oauth_settings(slack.oauth, installations, api_url=slack.api_url) if slack.oauth else None
                ),
                directory=runtime.registry,
                inbox=runtime.registry,
                marks=runtime.registry,
                engine=runtime.engine,
                socket_mode=slack.socket_mode,
                price_per_mtok=runtime.settings.price_per_mtok,
            )
            # Starts a dead process left between the root post and the trip.
            await resume_interrupted_starts(
                BotServices(
                    workspaces=workspaces, directory=runtime.registry, inbox=runtime.registry,
                    marks=runtime.registry, engine=runtime.engine,
                ),
                post_root,
            )
            if slack.socket_mode:
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                socket_handler = AsyncSocketModeHandler(app, slack.app_token)
                await socket_handler.connect_async()
                log.info("travel-planner %s: connected over Socket Mode", command)
            else:
                runner = web.AppRunner(build_web_app(app), access_log=None)
                await runner.setup()
                await web.TCPSite(runner, LISTEN_HOST, slack.port).start()
                log.info("travel-planner %s: listening on port %d at /slack/events%s", command, slack.port,
                         f" (installs at {INSTALL_PATH})" if slack.oauth else "")
        else:
            log.info("travel-planner worker: running trips (%s engine)", server_engine(env))
        await stop.wait()
        log.info("travel-planner %s: shutting down", command)
    finally:
        if runner is not None:
            await runner.cleanup()
        if socket_handler is not None:
            with contextlib.suppress(Exception):
                await socket_handler.close_async()
        for port in ports:
            await port.aclose()
        await runtime.close()
        if installations is not None:
            await close_installation_store(installations)
    return 0
