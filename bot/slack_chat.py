"""`ChatPort` on the Slack Web API: every post lands in the trip's thread, once.

Exactly once across crashes. The workflow passes each post a `key`, the id of
the durable step that posts (stable across replays, starting with the trip
id). A message may be split into parts; part `i` has the ledger key
``f"{key}#{i}"`` in the registry's posting ledger and carries Slack message
metadata ``{"event_type": "travel_planner_post", "event_payload":
{"trip_key", "step": key, "part": i, ...}}``. For each part:

1. ledger says "done" -> skip;
2. ledger says "intent" (an earlier process may have posted, then died before
   recording it) -> look the part up in the thread (`conversations.replies`
   with `include_all_metadata`, paginated) by step and part; found -> record
   "done" and skip; not found -> post;
3. nothing recorded -> record "intent", post, record "done" with the ts.

Within one process a lock per ledger key keeps two concurrent calls for the
same part from both posting.

`set_status` drives `assistant.threads.setStatus` ("is searching the web..."),
refreshing it from a background task (Slack drops the status after 2 minutes
and whenever the app posts in the thread) until it is cleared with "". It is
best effort: it logs and never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.formatting import (
    DEFAULT_PART_CHARS,
    MAX_BLOCKS,
    SlackMessage,
    Style,
    plan_file_name,
    plan_messages,
    render,
    render_part_as_mrkdwn,
    split_plan_title,
)
from bot.root_message import choice_buttons, root_message
from workflows import failpoints
from workflows.ports import PostFailed, ThreadRef, ThreadRegistry, TripRecord

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "travel_planner_post"
NOTICE_PREFIX = "⚠️ "

#: chat.postMessage errors that no retry will fix.
PERMANENT_POST_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "thread_not_found",
        "msg_too_long",
        "no_text",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "cannot_reply_to_message",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "ekm_access_denied",
        "team_access_not_granted",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_blocks_too_long",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)
#: Errors that mean "Slack did not like the markdown block": retry as mrkdwn.
_BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})
#: files.* errors after which the plan file is given up (the plan is posted).
_FILE_REFUSALS = frozenset({"file_uploads_disabled", "file_upload_size_restricted", "not_allowed_token_type", "invalid_channel"})
#: Lookup errors after which we cannot search the thread and post anyway.
_LOOKUP_GIVE_UP_ERRORS = frozenset({"missing_scope", "not_allowed_token_type"})


class SlackPostError(PostFailed):
    """chat.postMessage failed; `permanent` when retrying cannot help.

    Pickles round-trip (every constructor argument goes to `super().__init__`),
    so the durable engine can re-raise it after exhausting retries.
    """

    def __init__(self, error: str, channel: str, permanent: bool) -> None:
        super().__init__(error, channel, permanent)
        self.error = error
        self.channel = channel
        self.permanent = permanent

    def __str__(self) -> str:
        kind = "permanent" if self.permanent else "transient"
        return f"Slack refused a post to {self.channel}: {self.error} ({kind})"


def trip_key_of(step_key: str) -> str:
    """The trip id a durable step key starts with (`{trip_id}:{seq}` -> trip_id)."""
    return step_key.split(":", 1)[0].split("/", 1)[0]


def _thread_parts(thread: ThreadRef) -> tuple[str, str]:
    channel = str(thread.get("channel") or "")
    thread_ts = str(thread.get("thread_ts") or "")
    if not channel or not thread_ts:
        raise ValueError(f"not a Slack thread reference: {dict(thread)!r}")
    return channel, thread_ts


class SlackChatPort:
    """`workflows.ports.ChatPort` for Slack threads."""

    def __init__(
        self,
        client: AsyncWebClient,
        registry: ThreadRegistry,
        *,
        style: Style = "markdown",
        part_chars: int = DEFAULT_PART_CHARS,
        status_refresh_seconds: float = 90.0,
        status_max_seconds: float = 15 * 60.0,
        replies_page_size: int = 200,
        logger: logging.Logger | None = None,
    ) -> None:
        self._client = client
        self._registry = registry
        self._style: Style = style
        self._part_chars = part_chars
        self._status_refresh = status_refresh_seconds
        self._status_max = status_max_seconds
        self._page_size = replies_page_size
        self._log = logger or log
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._status: dict[tuple[str, str], str] = {}
        self._status_tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    # -- ChatPort ----------------------------------------------------------

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        extra = [choice_buttons(tuple(choices))] if choices else []
        await self.post(thread, question, key=key, kind="ask", extra_blocks=extra)

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self.post(thread, text, key=key, kind="progress")

    async def update_progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        """Rewrite the round's line in place (chat.update), never a new message."""
        record = await self._registry.post_record(f"{key}#0")
        if record is None or record.state != "done":
            await self.post(thread, text, key=key, kind="progress")  # the line never made it
            return
        channel, _ = _thread_parts(thread)
        message = render(text, style=self._style, part_chars=self._part_chars)[0]
        await self._update(channel, record.ref, message)

    async def final_plan(self, thread: ThreadRef, plan: str, *, key: str, footer: str = "") -> None:
        """The plan as a structured message (header, day sections, usage
        footer; split into parts when long), then the whole plan as a Markdown
        file in the thread. Both exactly once per `key`."""
        messages = plan_messages(plan, footer, style=self._style, part_chars=self._part_chars)
        await self.post(thread, plan, key=key, kind="plan", messages=messages)
        await self.share_plan_file(thread, plan, key=key, footer=footer)

    async def share_plan_file(self, thread: ThreadRef, plan: str, *, key: str, footer: str = "") -> str:
        """Upload the plan as a Markdown file to the thread (files.uploadV2),
        exactly once per `key`: ledger key ``f"{key}#file"``; after a crash
        with only the intent recorded, the thread is searched for our file
        before uploading again. Returns the file id ("" when Slack refused it
        for good: the plan itself is already in the thread)."""
        channel, thread_ts = _thread_parts(thread)
        ledger_key = f"{key}#file"
        title = split_plan_title(plan)[0] or "Trip plan"
        filename = plan_file_name(title)
        lock = self._locks.get(ledger_key)
        if lock is None:
            lock = self._locks[ledger_key] = asyncio.Lock()
        async with lock:
            record = await self._registry.post_record(ledger_key)
            if record is not None and record.state == "done":
                return record.ref
            if record is not None and record.state == "intent":
                found = await self._find_file(channel, thread_ts, filename)
                if found is not None:
                    self._log.info("plan file %s was already in the thread (%s)", ledger_key, found)
                    await self._registry.record_post_done(ledger_key, found)
                    return found
            else:
                await self._registry.record_post_intent(ledger_key)
            content = plan.strip() + ("\n\n---\n\n_" + footer.strip() + "_\n" if footer.strip() else "\n")
            try:
                response = await self._client.files_upload_v2(
                    channel=channel,
                    thread_ts=thread_ts,
                    content=content,
                    filename=filename,
                    title=title,
                    snippet_type="markdown",
                )
            except SlackApiError as exc:
                error = str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"
                if error in PERMANENT_POST_ERRORS or error in _FILE_REFUSALS:
                    self._log.warning("could not share the plan file in %s/%s: %s", channel, thread_ts, error)
                    await self._registry.record_post_done(ledger_key, "")
                    return ""
                raise SlackPostError(error, channel, False) from exc
            files = response.get("files") or [response.get("file") or {}]
            file_id = str((files[0] or {}).get("id") or "")
            await self._registry.record_post_done(ledger_key, file_id)
            return file_id

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        """Rewrite the trip's root message: its state, and a link to the plan."""
        channel, root_ts = _thread_parts(thread)
        link = ""
        if plan_key:
            record = await self._registry.post_record(f"{plan_key}#0")
            if record is not None and record.state == "done":
                link = await self._permalink(channel, record.ref)
        await self._update(channel, root_ts, root_message(trip.starter, trip.request, state, link))

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self.post(thread, NOTICE_PREFIX + text, key=key, kind="notice")

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        try:
            channel, thread_ts = _thread_parts(thread)
        except ValueError as exc:
            self._log.warning("set_status ignored: %s", exc)
            return
        where = (channel, thread_ts)
        self._stop_refresher(where)
        status = status or ""
        if status:
            self._status[where] = status
        else:
            self._status.pop(where, None)
        # Sent in the background: a step never waits on a cosmetic call. One
        # task per thread, replaced on every change, so the latest status wins.
        self._status_tasks[where] = asyncio.create_task(
            self._keep_status(where, status), name=f"slack-status-{channel}-{thread_ts}"
        )

    # -- more than the port ------------------------------------------------

    async def post(
        self,
        thread: ThreadRef,
        markdown: str,
        *,
        key: str,
        kind: str = "message",
        extra_blocks: list[dict[str, Any]] | None = None,
        messages: list[SlackMessage] | None = None,
    ) -> list[str]:
        """Post `markdown` in the thread exactly once per `key`; returns the parts' ts.

        `extra_blocks` (buttons, a footer) go at the end of the last part.
        `messages`: the parts already rendered (else rendered from `markdown`)."""
        channel, thread_ts = _thread_parts(thread)
        if messages is None:
            messages = render(markdown, style=self._style, part_chars=self._part_chars)
        messages = list(messages)
        if extra_blocks:
            last = messages[-1]
            room = MAX_BLOCKS - len(last.blocks)
            messages[-1] = SlackMessage(text=last.text, blocks=[*last.blocks, *extra_blocks[: max(room, 0)]])
        refs: list[str] = []
        for part, message in enumerate(messages):
            ledger_key = f"{key}#{part}"
            lock = self._locks.get(ledger_key)
            if lock is None:
                lock = self._locks[ledger_key] = asyncio.Lock()
            async with lock:
                payload = {
                    "trip_key": trip_key_of(key),
                    "step": key,
                    "part": part,
                    "parts": len(messages),
                    "kind": kind,
                }
                refs.append(await self._post_part(channel, thread_ts, message, ledger_key, key, part, payload))
        where = (channel, thread_ts)
        if where in self._status:
            # Slack clears the status when the app posts in the thread.
            await self._send_status(channel, thread_ts, self._status[where])
        return refs

    async def _update(self, channel: str, ts: str, message: SlackMessage) -> None:
        try:
            await self._client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks or None)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            raise SlackPostError(error, channel, error in PERMANENT_POST_ERRORS) from exc

    async def _permalink(self, channel: str, ts: str) -> str:
        try:
            response = await self._client.chat_getPermalink(channel=channel, message_ts=ts)
            return str(response.get("permalink") or "")
        except SlackApiError as exc:
            self._log.warning("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
            return ""

    def active_statuses(self) -> dict[tuple[str, str], str]:
        """(channel, thread_ts) -> status currently kept alive."""
        return dict(self._status)

    async def aclose(self) -> None:
        """Stop every status refresher (call on shutdown)."""
        tasks = list(self._status_tasks.values())
        self._status_tasks.clear()
        self._status.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- posting -----------------------------------------------------------

    async def _post_part(
        self,
        channel: str,
        thread_ts: str,
        message: SlackMessage,
        ledger_key: str,
        step: str,
        part: int,
        payload: dict[str, Any],
    ) -> str:
        record = await self._registry.post_record(ledger_key)
        if record is not None and record.state == "done":
            return record.ref
        if record is not None and record.state == "intent":
            found = await self._find_post(channel, thread_ts, step, part)
            if found is not None:
                self._log.info("post %s was already in the thread (ts %s)", ledger_key, found)
                await self._registry.record_post_done(ledger_key, found)
                return found
        else:
            await self._registry.record_post_intent(ledger_key)
        ts = await self._send(channel, thread_ts, message, payload)
        failpoints.reached("after:slack_post")  # posted, not yet recorded: the hard case
        await self._registry.record_post_done(ledger_key, ts)
        return ts

    async def _send(self, channel: str, thread_ts: str, message: SlackMessage, payload: dict[str, Any]) -> str:
        joined = False
        fell_back = False
        while True:
            try:
                response = await self._client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=message.text,
                    blocks=message.blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata={"event_type": METADATA_EVENT_TYPE, "event_payload": payload},
                )
                return str(response["ts"])
            except SlackApiError as exc:
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                converted = _as_mrkdwn(message) if error in _BLOCK_ERRORS and not fell_back else None
                if converted is not None:
                    self._log.warning("Slack rejected a markdown block (%s); posting as mrkdwn", error)
                    message = converted
                    fell_back = True
                    continue
                if error == "not_in_channel" and not joined:
                    joined = True
                    if await self._try_join(channel):
                        continue
                raise SlackPostError(error or "unknown_error", channel, error in PERMANENT_POST_ERRORS) from exc

    async def _try_join(self, channel: str) -> bool:
        try:
            await self._client.conversations_join(channel=channel)
            return True
        except SlackApiError as exc:
            self._log.warning("cannot join %s to post: %s", channel, exc.response.get("error"))
            return False

    async def _thread_messages(self, channel: str, thread_ts: str) -> AsyncIterator[dict[str, Any]]:
        """Every message of the thread, with metadata, page by page.

        Ends early (quietly) when the thread cannot be searched at all: the
        caller then posts, which is the lesser evil than never posting."""
        cursor: str | None = None
        for _ in range(1000):
            kwargs: dict[str, Any] = {
                "channel": channel, "ts": thread_ts, "include_all_metadata": True, "limit": self._page_size,
            }
            if cursor:
                kwargs["cursor"] = cursor
            try:
                response = await self._client.conversations_replies(**kwargs)
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in _LOOKUP_GIVE_UP_ERRORS:
                    self._log.warning("cannot search thread %s/%s (%s)", channel, thread_ts, error)
                    return
                raise
            for message in response.get("messages") or []:
                yield message
            cursor = ((response.get("response_metadata") or {}).get("next_cursor") or "").strip() or None
            if cursor is None:
                return

    async def _find_post(self, channel: str, thread_ts: str, step: str, part: int) -> str | None:
        """The ts of our post for (step, part) in the thread, if it is there."""
        async for message in self._thread_messages(channel, thread_ts):
            if _matches(message, step, part):
                return str(message["ts"])
        return None

    async def _find_file(self, channel: str, thread_ts: str, filename: str) -> str | None:
        """The id of a file named `filename` we shared in the thread, if any."""
        async for message in self._thread_messages(channel, thread_ts):
            if message.get("bot_id") or message.get("app_id") or message.get("upload"):
                for f in message.get("files") or []:
                    if str((f or {}).get("name") or "") == filename:
                        return str(f.get("id") or "found")
        return None

    # -- status ------------------------------------------------------------

    async def _send_status(self, channel: str, thread_ts: str, status: str) -> None:
        try:
            await self._client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort by contract
            detail = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            self._log.warning("assistant.threads.setStatus failed for %s/%s: %s", channel, thread_ts, detail)

    async def _keep_status(self, where: tuple[str, str], status: str) -> None:
        """Send `status` now, then refresh it until it changes or runs too long."""
        started = time.monotonic()
        try:
            await self._send_status(where[0], where[1], status)
            while status and self._status_refresh > 0:
                await asyncio.sleep(self._status_refresh)
                if self._status.get(where) != status:
                    return
                if time.monotonic() - started > self._status_max:
                    self._log.info("status for %s/%s kept for too long; letting it expire", *where)
                    self._status.pop(where, None)
                    return
                await self._send_status(where[0], where[1], status)
        finally:
            if self._status_tasks.get(where) is asyncio.current_task():
                del self._status_tasks[where]

    def _stop_refresher(self, where: tuple[str, str]) -> None:
        task = self._status_tasks.pop(where, None)
        if task is not None:
            task.cancel()


def _as_mrkdwn(message: SlackMessage) -> SlackMessage | None:
    """The same message with its markdown blocks converted to mrkdwn sections
    (blocks before and after them, such as a header or buttons, kept)."""
    kinds = [b.get("type") for b in message.blocks]
    if "markdown" not in kinds:
        return None
    first = kinds.index("markdown")
    last = len(kinds) - 1 - kinds[::-1].index("markdown")
    lead, tail = message.blocks[:first], message.blocks[last + 1 :]
    markdown = "\n\n".join(b["text"] for b in message.blocks[first : last + 1] if b.get("type") == "markdown")
    converted = render_part_as_mrkdwn(markdown, max_blocks=MAX_BLOCKS - len(lead) - len(tail))
    text = converted.text if not lead else message.text
    return SlackMessage(text=text, blocks=[*lead, *converted.blocks, *tail])


def _matches(message: Mapping[str, Any], step: str, part: int) -> bool:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT_TYPE:
        return False
    payload = metadata.get("event_payload") or {}
    return payload.get("step") == step and str(payload.get("part")) == str(part)


__all__ = [
    "METADATA_EVENT_TYPE",
    "PERMANENT_POST_ERRORS",
    "SlackChatPort",
    "SlackPostError",
    "trip_key_of",
]
