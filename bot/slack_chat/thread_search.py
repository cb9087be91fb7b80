"""Finding our own posts in a thread: how each post is marked (message
metadata naming its step and part), and the searches, run when a process died
between posting and recording, or when Slack's answer to a post was lost."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_chat.errors import LOOKUP_GIVE_UP_ERRORS
from workflows.ports import ThreadRef

METADATA_EVENT_TYPE = "travel_planner_post"


def trip_id_of(step_key: str) -> str:
    """The trip id a durable step key starts with (`{trip_id}:{seq}` -> trip_id)."""
    return step_key.split(":", 1)[0].split("/", 1)[0]


def thread_parts(thread: ThreadRef) -> tuple[str, str]:
    """(channel, thread_ts) of a Slack thread reference."""
    channel = str(thread.get("channel") or "")
    thread_ts = str(thread.get("thread_ts") or "")
    if not channel or not thread_ts:
        raise ValueError(f"not a Slack thread reference: {dict(thread)!r}")
    return channel, thread_ts


def post_metadata(payload: dict[str, Any]) -> dict[str, Any]:
    """The metadata a post carries: `payload` names its step and part."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": payload}


def _matches(message: Mapping[str, Any], step: str, part: str) -> bool:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT_TYPE:
        return False
    payload = metadata.get("event_payload") or {}
    return payload.get("step") == step and str(payload.get("part")) == str(part)


class ThreadSearch:
    """Looks through a thread (`conversations.replies` with all metadata,
    `page_size` messages a page) for what we posted there."""

    def __init__(self, page_size: int, log: logging.Logger) -> None:
        self._page_size = page_size
        self._log = log

    async def _messages(self, client: AsyncWebClient, channel: str, thread_ts: str) -> AsyncIterator[dict[str, Any]]:
        """Every message of the thread, with metadata, page by page.

        Ends early (quietly) when the thread cannot be searched at all: the
        caller then posts, which is the lesser evil than never posting."""
        cursor: str | None = None
        for _ in range(1000):
            kwargs: dict[str, Any] = {
                "channel": channel,
                "ts": thread_ts,
                "include_all_metadata": True,
                "limit": self._page_size,
            }
            if cursor:
                kwargs["cursor"] = cursor
            try:
                response = await client.conversations_replies(**kwargs)
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in LOOKUP_GIVE_UP_ERRORS:
                    self._log.warning("cannot search thread %s/%s (%s)", channel, thread_ts, error)
                    return
                raise
            for message in response.get("messages") or []:
                yield message
            cursor = ((response.get("response_metadata") or {}).get("next_cursor") or "").strip() or None
            if cursor is None:
                return

    async def find_post(self, client: AsyncWebClient, channel: str, thread_ts: str, step: str, part: str) -> str | None:
        """The ts of our post for (step, part) in the thread, if it is there."""
        async for message in self._messages(client, channel, thread_ts):
            if _matches(message, step, part):
                return str(message["ts"])
        return None

    async def find_file(
        self, client: AsyncWebClient, channel: str, thread_ts: str, *, file_id: str = "", filename: str = ""
    ) -> str | None:
        """The id of a file we shared in the thread: that `file_id`, or one named `filename`."""
        async for message in self._messages(client, channel, thread_ts):
            if message.get("bot_id") or message.get("app_id") or message.get("upload"):
                for f in message.get("files") or []:
                    f = f or {}
                    if (file_id and str(f.get("id") or "") == file_id) or (
                        not file_id and filename and str(f.get("name") or "") == filename
                    ):
                        return str(f.get("id") or "found")
        return None
