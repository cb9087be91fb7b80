"""Everything we do not handle still gets a 2xx.

Bolt answers 404 ("unhandled request") to a request no listener matched, and
Slack treats a non-2xx as a failed delivery: it retries, and can disable the
event subscription. The app is built with `raise_error_for_unhandled_request=True`,
so such a request reaches the global error handler as a
`BoltUnhandledRequestError`, and `on_error` turns it into an empty 200 (the
documented Bolt way). Other errors are logged; responses for them are left as
Bolt made them.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse


def describe(body: Any) -> str:
    if not isinstance(body, dict):
        return type(body).__name__
    if "command" in body:
        return f"command {body.get('command')}"
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    parts = [str(body.get("type") or "?")]
    if event:
        parts.append(str(event.get("type")))
        if event.get("subtype"):
            parts.append(str(event.get("subtype")))
    return "/".join(parts)


def register(app: AsyncApp, logger: logging.Logger) -> None:
    async def on_error(error: Exception, body: Any, response: BoltResponse | None) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            logger.debug("acknowledging an unhandled Slack request (%s)", describe(body))
            if response is None:
                return None
            return BoltResponse(status=200, body="")
        logger.error("error handling Slack request (%s): %r", describe(body), error, exc_info=error)
        return None

    app.error(on_error)


__all__ = ["describe", "register"]
