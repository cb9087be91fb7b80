"""The App Home tab (`app_home_opened`): the trips this person started.

Bolt acknowledges the event before this listener runs, so building the view
(a registry read, and chat.getPermalink only when the workspace URL is
unknown) and views.publish never hold Slack up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.home import MAX_VIEW_BLOCKS, home_view, thread_url
from bot.services import BotServices
from bot.trip_starts import is_pending_start
from workflows.ports import TripRecord

#: Bound on the permalink lookups of one view (used only without a workspace URL).
_PERMALINK_SECONDS = 3.0


async def trip_links(services: BotServices, trips: list[TripRecord], team: str) -> dict[str, str]:
    """trip_id -> link to its thread: the archive URL from auth.test's
    workspace URL, else chat.getPermalink of the root message."""
    identity = await services.bot_identity(team)
    base = identity.url if identity is not None else ""
    client = await services.client(team)
    links = {t.trip_id: thread_url(t, base) for t in trips}
    missing = [t for t in trips if not links[t.trip_id] and t.thread.get("channel") and t.thread.get("thread_ts")]
    missing = missing[:MAX_VIEW_BLOCKS]  # no view shows more
    if missing:

        async def permalink(record: TripRecord) -> None:
            try:
                response = await client.chat_getPermalink(
                    channel=record.thread["channel"], message_ts=record.thread["thread_ts"]
                )
                links[record.trip_id] = str(response.get("permalink") or "")
            except Exception as exc:
                services.logger.info("no permalink for %s: %r", record.trip_id, exc)

        try:
            await asyncio.wait_for(asyncio.gather(*(permalink(t) for t in missing)), _PERMALINK_SECONDS)
        except TimeoutError:
            services.logger.info("permalinks for the home tab took too long; some trips are shown without links")
    return {k: v for k, v in links.items() if v}


async def publish_home(services: BotServices, *, team: str, user: str) -> None:
    """(Re)publish `user`'s Home tab: the Plan a trip button and their trips."""
    try:
        trips = [
            t for t in await services.directory.list_trips(starter=user)
            if not is_pending_start(t) and t.thread.get("team", team) == team  # this workspace's trips only
        ]
        votes = {t.trip_id: await services.feedback.trip_feedback(t.trip_id)
                 for t in trips if t.plan_versions and services.feedback is not None}
        view = home_view(trips, await trip_links(services, trips, team), votes)
        await (await services.client(team)).views_publish(user_id=user, view=view)
    except Exception as exc:  # the home tab is decoration
        services.logger.warning("could not publish the home tab for %s: %r", user, exc)


def register(app: AsyncApp, services: BotServices) -> None:
    async def on_app_home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user") or "")
        team = str(body.get("team_id") or "")
        if not user:
            return
        await publish_home(services, team=team, user=user)

    app.event("app_home_opened")(on_app_home_opened)


__all__ = ["publish_home", "register", "trip_links"]
