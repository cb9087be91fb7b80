"""Reject malformed Slack payloads with a clear 400 instead of a crash.

Runs as Bolt's `before_authorize` middleware: after the signature check (so a
forged request still gets 401 from Bolt's `RequestVerification`), before
authorization and the listeners, which would otherwise raise on odd shapes
and answer 500 (which Slack retries).

A body that cannot be parsed at all (bad JSON, a form `payload=` that is not
JSON) never becomes a Bolt request; `bot.http_server` then hands Bolt an empty
body carrying the original raw body (for the signature check) and the parse
error under `PARSE_ERROR_KEY` in the context, and this middleware reports it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

PARSE_ERROR_KEY = "travel_planner_parse_error"


def payload_problem(body: Any) -> str | None:
    """What is wrong with a parsed Slack payload, or None when it looks sane."""
    if not isinstance(body, dict) or not body:
        return "empty payload: expected a slash command (form) or an Events/interactivity payload (JSON)"
    if "command" in body:
        command = body.get("command")
        if not isinstance(command, str) or not command.startswith("/"):
            return "slash command payload with an invalid `command`"
        missing = [k for k in ("team_id", "channel_id", "user_id") if not body.get(k)]
        if missing:
            return "slash command payload without " + ", ".join(missing)
        return None
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        return "unrecognised payload: no `type` (Events API / interactivity) and no `command` (slash command)"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback payload without an `event` object with a `type`"
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"):
        user = body.get("user")
        if user is not None and not isinstance(user, dict):
            return f"{kind} payload with a malformed `user`"
    return None


def bad_request(detail: str) -> BoltResponse:
    return BoltResponse(
        status=400,
        body=json.dumps({"ok": False, "error": "malformed_request", "detail": detail}),
        headers={"content-type": "application/json"},
    )


async def validate_payload(
    req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
) -> BoltResponse:
    parse_error = req.context.get(PARSE_ERROR_KEY)
    if parse_error:
        return bad_request(str(parse_error))
    if req.mode == "http":
        problem = payload_problem(req.body)
        if problem:
            return bad_request(problem)
    return await next()


__all__ = ["PARSE_ERROR_KEY", "bad_request", "payload_problem", "validate_payload"]
