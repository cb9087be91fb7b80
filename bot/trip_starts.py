"""Starting a trip from `/plan-trip` survives a crash at any moment.

The trip id comes from the root message's ts, so it cannot exist before the
root is posted, and Slack never retries a slash command. So the start is
recorded first, as a provisional trip in the registry ("starting-..."); the
root message carries the same start id in its metadata. If the process dies
between the root post and the trip start, start-up finds the provisional
record, looks the root up in the channel by its metadata (or posts it, if the
crash came before the post), starts the trip, and drops the record.

The root is posted here (`post_root`), by `/plan-trip` and by start-up alike.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.root_message import root_message
from bot.services import BotServices
from bot.slack_client import LOST_ANSWER_ATTEMPTS, answer_lost
from bot.workspaces import WorkspaceGone
from workflows import failpoints
from workflows.ports import TripRecord

PENDING_PREFIX = "starting-"
ROOT_METADATA_EVENT_TYPE = "travel_planner_trip"
#: How far back (messages) start-up looks for a root that was posted.
_HISTORY_PAGES, _HISTORY_PAGE = 5, 200


def is_pending_start(record: TripRecord) -> bool:
    """A provisional record, not a trip people should see in lists."""
    return record.trip_id.startswith(PENDING_PREFIX)


def _safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)


def pending_start(team: str, channel: str, starter: str, request: str) -> TripRecord:
    start_id = uuid.uuid4().hex
    return TripRecord(
        trip_id=f"{PENDING_PREFIX}{_safe(team)}-{_safe(channel)}-{start_id}",
        thread_key=f"starting:{team}:{channel}:{start_id}",
        thread={"surface": "slack-start", "team": team, "channel": channel, "start": start_id},
        starter=starter,
        request=request,
    )


def root_metadata(starter: str, start_id: str) -> dict[str, Any]:
    return {"event_type": ROOT_METADATA_EVENT_TYPE, "event_payload": {"starter": starter, "start": start_id}}


async def post_root(services: BotServices, team: str, channel: str, user: str, request: str, start_id: str) -> str:
    """Post the channel message the trip's thread hangs off; returns its ts."""
    message = root_message(user, request)
    response = await (await services.client(team)).chat_postMessage(
        channel=channel,
        text=message.text,
        blocks=message.blocks,
        unfurl_links=False,
        unfurl_media=False,
        metadata=root_metadata(user, start_id),
    )
    return str(response["ts"])


async def start_from_command(services: BotServices, *, team: str, channel: str, starter: str, request: str) -> str:
    """Record the start, post the root, start the trip; returns the root ts.

    Raises what posting raises (not in channel...); the record is then dropped,
    since nothing was posted that a restart should finish."""
    pending = pending_start(team, channel, starter, request)
    await services.directory.register_trip(pending)
    failpoints.reached("after:start_recorded")  # recorded, nothing posted yet
    try:
        root_ts = await _post_root_once(services, team, channel, starter, request, pending.thread["start"])
    except Exception:
        await services.directory.forget_trip(pending.trip_id)
        raise
    failpoints.reached("after:root_post")  # posted, the trip not started yet
    await services.start_trip(team=team, channel=channel, root_ts=root_ts, starter=starter, request=request)
    await services.directory.forget_trip(pending.trip_id)
    return root_ts


async def _post_root_once(
    services: BotServices, team: str, channel: str, starter: str, request: str, start_id: str
) -> str:
    """Post the root; when Slack's answer is lost (it may have posted), look
    the root up by its start id before posting again."""
    for attempt in range(1, LOST_ANSWER_ATTEMPTS + 1):
        try:
            return await post_root(services, team, channel, starter, request, start_id)
        except Exception as exc:
            if not answer_lost(exc):
                raise
            services.logger.warning(
                "posting the root of a trip in %s: Slack's answer was lost (%r); looking it up", channel, exc
            )
            found = await _find_root(services, team, channel, start_id)
            if found is not None:
                return found
            if attempt == LOST_ANSWER_ATTEMPTS:
                raise
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


async def _find_root(services: BotServices, team: str, channel: str, start_id: str) -> str | None:
    cursor = None
    client = await services.client(team)
    for _ in range(_HISTORY_PAGES):
        response = await client.conversations_history(
            channel=channel, include_all_metadata=True, limit=_HISTORY_PAGE, cursor=cursor
        )
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == ROOT_METADATA_EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("start") == start_id
            ):
                return str(message["ts"])
        cursor = ((response.get("response_metadata") or {}).get("next_cursor") or "").strip() or None
        if cursor is None:
            return None
    return None


async def _find_or_post_root(services: BotServices, record: TripRecord) -> str:
    team, channel, start_id = (record.thread.get(k, "") for k in ("team", "channel", "start"))
    root_ts = await _find_root(services, team, channel, start_id)
    if root_ts is None:  # the crash came before the root was posted
        root_ts = await _post_root_once(services, team, channel, record.starter, record.request, start_id)
    return root_ts


async def resume_interrupted_starts(services: BotServices) -> int:
    """Finish every start a dead process left half done. Returns how many."""
    finished = 0
    for record in await services.directory.list_trips():
        if not is_pending_start(record):
            continue
        team, channel = record.thread.get("team", ""), record.thread.get("channel", "")
        try:
            try:
                root_ts = await _find_or_post_root(services, record)
            except SlackApiError as exc:
                # The crash may have come before the bot joined the channel.
                if exc.response.get("error") != "not_in_channel" or not await services.join_if_public(
                    channel, team=team
                ):
                    raise
                root_ts = await _find_or_post_root(services, record)
            await services.start_trip(
                team=team, channel=channel, root_ts=root_ts, starter=record.starter, request=record.request
            )
        except SlackApiError as exc:
            services.logger.error(
                "could not finish the interrupted start of a trip in %s: %s", channel, exc.response.get("error")
            )
            continue
        except WorkspaceGone:
            services.logger.info("dropping an interrupted trip start in %s: the app left workspace %s", channel, team)
            await services.directory.forget_trip(record.trip_id)
            continue
        await services.directory.forget_trip(record.trip_id)
        services.logger.info("finished an interrupted trip start in %s (root %s)", channel, root_ts)
        finished += 1
    return finished
