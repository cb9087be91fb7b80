"""The App Home tab: how to start a trip, and the trips this person started."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.formatting import escape_mrkdwn, neutralise_mentions, truncate
from bot.services import BotServices
from workflows.ports import TripRecord

MAX_TRIPS_SHOWN = 10


def home_view(trips: list[TripRecord]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Travel Planner"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "Type `/plan-trip Lisbon in May, 4 people` in a channel (or mention me with your request). "
                "I'll ask questions in the thread, research options and post an itinerary there.",
            },
        },
    ]
    if trips:
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Your trips*"}})
        for trip in trips[:MAX_TRIPS_SHOWN]:
            request = escape_mrkdwn(neutralise_mentions(truncate(trip.request or "(no request yet)", 200)))
            channel = trip.thread.get("channel", "")
            where = f" in <#{channel}>" if channel else ""
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"• {request}{where}: _{trip.state}_"}}
            )
    return {"type": "home", "blocks": blocks}


def register(app: AsyncApp, services: BotServices) -> None:
    async def on_app_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user") or "")
        if not user:
            return
        try:
            trips = await services.registry.list_trips(starter=user)
            await services.client.views_publish(user_id=user, view=home_view(trips))
        except Exception as exc:  # the home tab is decoration
            services.logger.warning("could not publish the home tab for %s: %r", user, exc)

    app.event("app_home_opened")(on_app_home_opened)


__all__ = ["home_view", "register"]
