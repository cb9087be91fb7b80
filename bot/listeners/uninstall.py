"""`app_uninstalled` and `tokens_revoked`: the workspace took the app away.

Its installation is deleted (no process uses its token again) and each of
its running trips gets a "stop" through its durable inbox (deduplicated, so
both events and Slack's retries stop a trip once). A stopped trip ends
without posting anything: the token is gone, there is nobody to tell.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services import BotServices
from bot.trip_starts import is_pending_start
from workflows.ports import RUNNING_STATES, Reply


def register(app: AsyncApp, services: BotServices) -> None:
    async def on_app_uninstalled(body: dict[str, Any]) -> None:
        await handle_workspace_gone(services, body, "the app was uninstalled")

    async def on_tokens_revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        if not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens: the bot still works
        await handle_workspace_gone(services, body, "the bot token was revoked")

    app.event("app_uninstalled")(on_app_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)


async def handle_workspace_gone(services: BotServices, body: dict[str, Any], reason: str) -> int:
    """Forget the workspace's installation and stop its trips; returns how many."""
    team = str(body.get("team_id") or "")
    enterprise = body.get("enterprise_id") or None
    if not team:
        return 0
    await services.workspaces.forget(team, enterprise)
    stopped = 0
    for record in await services.directory.list_trips():
        if record.thread.get("team") != team or is_pending_start(record):
            continue
        if record.state not in RUNNING_STATES:
            continue
        stop = Reply(key=f"workspace-gone:{team}", author="Slack", text=reason, kind="stop")
        if await services.engine.deliver_reply(record.trip_id, stop):
            stopped += 1
    # Starts a crash left half done in that workspace can never finish.
    for record in await services.directory.list_trips():
        if is_pending_start(record) and record.thread.get("team") == team:
            await services.directory.forget_trip(record.trip_id)
    services.logger.info("workspace %s is gone (%s): installation deleted, %d trip(s) stopped", team, reason, stopped)
    return stopped


__all__ = ["handle_workspace_gone", "register"]
