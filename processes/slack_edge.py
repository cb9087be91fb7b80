"""The Slack edge of `run` and `web`: the process's one `BotServices`, the
Bolt app around it, the trip starts a dead process left half done, and
Slack's requests over Socket Mode or over HTTP on `$PORT`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from bot.app import create_bolt_app
from bot.http_server import build_web_app
from bot.installations import INSTALL_PATH, oauth_settings
from bot.services import BotServices
from bot.settings import SlackSettings
from bot.slack_client import make_web_client
from bot.trip_starts import resume_interrupted_starts
from bot.workspaces import Workspaces
from processes.feedback_events import feedback_observer
from workflows.runtime import Runtime

log = logging.getLogger("bot")  # as the processes always logged

LISTEN_HOST = "0.0.0.0"


@contextlib.asynccontextmanager
async def serving_slack(
    command: str,
    slack: SlackSettings,
    workspaces: Workspaces,
    installations: AsyncInstallationStore | None,
    runtime: Runtime,
) -> AsyncIterator[None]:
    """Serve Slack's requests until the block ends."""
    services = BotServices(
        workspaces=workspaces,
        directory=runtime.registry,
        inbox=runtime.registry,
        marks=runtime.registry,
        engine=runtime.engine,
        price_per_mtok=runtime.settings.price_per_mtok,
        feedback_observer=feedback_observer(),  # votes as evaluation events when traces are exported
    )
    app = create_bolt_app(
        services,
        signing_secret=slack.signing_secret,
        client=make_web_client(None, slack.api_url),  # base URL and retry handlers for Bolt's clients
        oauth_settings=(
            oauth_settings(slack.oauth, installations, api_url=slack.api_url)
            if slack.oauth is not None and installations is not None
            else None
        ),
        socket_mode=slack.socket_mode,
    )
    # Starts a dead process left between the root post and the trip.
    await resume_interrupted_starts(services)
    if slack.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(app, slack.app_token)
        try:
            await socket_handler.connect_async()
            log.info("travel-planner %s: connected over Socket Mode", command)
            yield
        finally:
            with contextlib.suppress(Exception):
                await socket_handler.close_async()
        return
    runner = web.AppRunner(build_web_app(app), access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, LISTEN_HOST, slack.port).start()
        log.info("travel-planner %s: listening on port %d at /slack/events%s", command, slack.port,
                 f" (installs at {INSTALL_PATH})" if slack.oauth else "")
        yield
    finally:
        await runner.cleanup()


__all__ = ["LISTEN_HOST", "serving_slack"]
