"""Only workspaces the app serves reach the listeners.

A request signed for our app can still come from a team whose token we do
not hold: another workspace while the app runs on one `SLACK_BOT_TOKEN`, or
one that uninstalled the app. It is acknowledged (so Slack does not retry it),
logged and ignored: no trip starts there, and no token is used for it.

If the single token's workspace is not known yet (`auth.test` has not
answered since start-up), the request is answered 503: Slack retries events,
and nothing is decided on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.workspaces import WorkspaceUnknown, Workspaces

#: Events about the token itself: handled without one (it may be gone).
TOKENLESS_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})


def _tokenless(req: AsyncBoltRequest) -> bool:
    body = req.body if isinstance(req.body, dict) else {}
    if body.get("type") in ("url_verification", "ssl_check"):
        return True
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    return body.get("type") == "event_callback" and event.get("type") in TOKENLESS_EVENTS


async def admit_served_workspaces(
    workspaces: Workspaces,
    req: AsyncBoltRequest,
    next: Callable[[], Awaitable[BoltResponse]],  # noqa: A002
    logger: logging.Logger,
) -> BoltResponse:
    if _tokenless(req):
        return await next()
    team = str(req.context.team_id or "")
    enterprise = req.context.enterprise_id
    try:
        workspace = await workspaces.find(team, enterprise)
    except WorkspaceUnknown as exc:
        logger.warning("a request from workspace %s waits: %s", team or "?", exc)
        return BoltResponse(status=503, body="")
    if workspace is None:
        logger.warning(
            "ignored a request from workspace %s: the app is not installed there (or its token serves another one)",
            team or "(none)",
        )
        return BoltResponse(status=200, body="")
    return await next()


__all__ = ["TOKENLESS_EVENTS", "admit_served_workspaces"]
