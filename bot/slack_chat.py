"""`ChatPort` on the Slack Web API: every post lands in the trip's thread, once.

Exactly once across crashes. The workflow passes each post a `key`, the id of
the durable step that posts (stable across replays, starting with the trip
id). A message may be split into parts; part `i` has the ledger key
``f"{key}#{i}"`` in the registry's posting ledger and carries Slack message
metadata ``{"event_type": "travel_planner_post", "event_payload":
{"trip_key": trip id, "step": key, "part": i, ...}}`` ("trip_key" is the
wire name of the trip id, kept for the posts already in Slack). For each part:

1. ledger says "done" -> skip;
2. ledger says "intent" (an earlier process may have posted, then died before
   recording it) -> look the part up in the thread (`conversations.replies`
   with `include_all_metadata`, paginated) by step and part; found -> record
   "done" and skip; not found -> post;
3. nothing recorded -> record "intent", post, record "done" with the ts.

Exactly once when Slack's answer is lost. Slack can post a message and then
answer 500 or drop the connection; the HTTP client never retries a post by
itself (`bot.slack_client`). Here, such a post is looked up in the thread by
its metadata before it is sent again. The plan file is uploaded in the three
steps of Slack's external upload, with the file id in the ledger before the
file is shared (``f"{key}#file/upload"``), so a share whose answer was lost
is found again by that id.

Refusals. Only a thread that can never be posted to again (the channel is
gone or archived, the bot was removed from a private channel, the token is
revoked) raises a permanent `SlackPostError`, which ends the trip. Content
Slack refuses falls back: a refused markdown block is posted as mrkdwn, then
as plain text; a part that is too long is split. A refused `chat.update` (the
message was deleted, cannot or may no longer be edited) never ends or stalls
a trip: a research line is posted afresh, the root message is left as it is,
and both are logged.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import aiohttp
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
from bot.slack_client import LOST_ANSWER_ATTEMPTS, answer_lost
from bot.workspaces import SingleWorkspace, WorkspaceUnknown, Workspaces
from workflows import failpoints
from workflows.ports import PostFailed, PostLedger, ThreadRef, TripRecord

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "travel_planner_post"
NOTICE_PREFIX = "⚠️ "

#: Errors after which this thread can never be posted to again: the trip ends.
THREAD_GONE_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",  # only once joining failed (a private channel we were removed from)
        "is_archived",
        "thread_not_found",
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
        "not_installed",  # the app left the workspace: no token to post with
    }
)
#: Slack refused the token itself (a cached one may be stale after a reinstall).
_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
#: Our own error when the app is not installed in the thread's workspace.
NOT_INSTALLED = "not_installed"
#: "Slack did not like the blocks": post them as mrkdwn, then as plain text.
_BLOCK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"})
#: "The text is too long": split the part, or shorten an update.
_TOO_LONG_ERRORS = frozenset({"msg_too_long"})
#: chat.update refusals after which the message stays as it is.
UPDATE_REFUSALS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
#: files.* errors after which the plan file is given up (the plan is posted).
_FILE_REFUSALS = frozenset(
    {"file_uploads_disabled", "file_upload_size_restricted", "not_allowed_token_type", "invalid_channel"}
)
#: Lookup errors after which we cannot search the thread and post anyway.
_LOOKUP_GIVE_UP_ERRORS = frozenset({"missing_scope", "not_allowed_token_type"})
#: Plain-text fallback of a message whose blocks Slack refused.
_PLAIN_TEXT_CHARS = 3_000


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


class _Refused(Exception):
    """Slack answered `ok: false` with `error` (it did nothing)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _slack_error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error") if exc.response is not None else "unknown_error"


def trip_id_of(step_key: str) -> str:
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
        workspaces: Workspaces | AsyncWebClient,
        ledger: PostLedger,
        *,
        style: Style = "markdown",
        part_chars: int = DEFAULT_PART_CHARS,
        status_refresh_seconds: float = 90.0,
        status_max_seconds: float = 15 * 60.0,
        replies_page_size: int = 200,
        lost_answer_pause_seconds: float = 0.5,
        logger: logging.Logger | None = None,
    ) -> None:
        # A bare client serves one workspace: the team its token belongs to.
        self._workspaces: Workspaces = (
            SingleWorkspace(workspaces) if isinstance(workspaces, AsyncWebClient) else workspaces
        )
        self._ledger = ledger
        self._style: Style = style
        self._part_chars = part_chars
        self._status_refresh = status_refresh_seconds
        self._status_max = status_max_seconds
        self._page_size = replies_page_size
        self._lost_answer_pause = lost_answer_pause_seconds
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

    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None:
        """Rewrite the round's line in place (chat.update).

        If the line never made it, or Slack refuses to edit it (someone deleted
        it), the done line is posted as a fresh message instead, exactly once."""
        record = await self._ledger.post_record(f"{key}#0")
        if record is None or record.state != "done":
            await self.post(thread, text, key=key, kind="progress")  # the line never made it
            return
        channel, _ = _thread_parts(thread)
        message = render(text, style=self._style, part_chars=self._part_chars)[0]
        refusal = await self._in_workspace(thread, lambda client: self._update(client, channel, record.ref, message))
        if refusal is not None:
            self._log.warning(
                "could not rewrite the research line %s in %s (%s); posting it afresh", record.ref, channel, refusal
            )
            await self.post(thread, text, key=f"{key}/again", kind="progress")

    async def final_plan(self, thread: ThreadRef, plan: str, *, key: str, footer: str = "") -> None:
        """The plan as a structured message (header, day sections, usage
        footer; split into parts when long), then the whole plan as a Markdown
        file in the thread. Both exactly once per `key`."""
        messages = plan_messages(plan, footer, style=self._style, part_chars=self._part_chars)
        await self.post(thread, plan, key=key, kind="plan", messages=messages)
        await self.share_plan_file(thread, plan, key=key, footer=footer)

    async def share_plan_file(self, thread: ThreadRef, plan: str, *, key: str, footer: str = "") -> str:
        return await self._in_workspace(thread, lambda client: self._share_plan_file(client, thread, plan, key, footer))

    async def _share_plan_file(
        self, client: AsyncWebClient, thread: ThreadRef, plan: str, key: str, footer: str
    ) -> str:
        """Upload the plan as a Markdown file to the thread, exactly once per
        `key` (ledger key ``f"{key}#file"``). Returns the file id ("" when Slack
        refused it for good: the plan itself is already in the thread).

        The upload runs Slack's three steps itself (files.getUploadURLExternal,
        the upload, files.completeUploadExternal) so that the file id is in the
        ledger before the file is shared: after a crash, or a share whose answer
        was lost, the thread is searched for that very file before uploading
        again."""
        channel, thread_ts = _thread_parts(thread)
        ledger_key = f"{key}#file"
        title = split_plan_title(plan)[0] or "Trip plan"
        filename = plan_file_name(title)
        content = plan.strip() + ("\n\n---\n\n_" + footer.strip() + "_\n" if footer.strip() else "\n")
        async with self._lock_for(ledger_key):
            record = await self._ledger.post_record(ledger_key)
            if record is not None and record.state == "done":
                return record.ref
            if record is not None and record.state == "intent":
                found = await self._find_shared_upload(client, channel, thread_ts, ledger_key, filename)
                if found is not None:
                    self._log.info("plan file %s was already in the thread (%s)", ledger_key, found)
                    await self._ledger.record_post_done(ledger_key, found)
                    return found
            else:
                await self._ledger.record_post_intent(ledger_key)
            for attempt in range(1, LOST_ANSWER_ATTEMPTS + 1):
                try:
                    file_id = await self._upload(client, channel, thread_ts, ledger_key, content, filename, title)
                except _Refused as refused:
                    if refused.error in THREAD_GONE_ERRORS or refused.error in _FILE_REFUSALS:
                        self._log.warning(
                            "could not share the plan file in %s/%s: %s", channel, thread_ts, refused.error
                        )
                        await self._ledger.record_post_done(ledger_key, "")
                        return ""
                    raise SlackPostError(refused.error, channel, False) from refused
                except Exception as exc:
                    if not answer_lost(exc):
                        raise
                    self._log.warning(
                        "sharing the plan file %s: Slack's answer was lost (%s); looking for it in the thread",
                        ledger_key,
                        _describe(exc),
                    )
                    found = await self._find_shared_upload(client, channel, thread_ts, ledger_key, filename)
                    if found is not None:
                        file_id = found
                    elif attempt == LOST_ANSWER_ATTEMPTS:
                        raise SlackPostError(f"answer lost: {_describe(exc)}", channel, False) from exc
                    else:
                        await asyncio.sleep(self._lost_answer_pause * attempt)
                        continue
                await self._ledger.record_post_done(ledger_key, file_id)
                return file_id
            raise AssertionError("unreachable")

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        """Rewrite the trip's root message: its state, and a link to the plan.

        If Slack refuses the edit (the root was deleted, or may no longer be
        edited), the root is left as it is: the thread says it all."""
        await self._in_workspace(thread, lambda client: self._show_state(client, thread, state, trip, plan_key))

    async def _show_state(
        self, client: AsyncWebClient, thread: ThreadRef, state: str, trip: TripRecord, plan_key: str
    ) -> None:
        channel, root_ts = _thread_parts(thread)
        link = ""
        if plan_key:
            record = await self._ledger.post_record(f"{plan_key}#0")
            if record is not None and record.state == "done":
                link = await self._permalink(client, channel, record.ref)
        refusal = await self._update(client, channel, root_ts, root_message(trip.starter, trip.request, state, link))
        if refusal is not None:
            self._log.warning(
                "could not show state %s on the root message of %s (%s); leaving it as it is",
                state,
                trip.trip_id,
                refusal,
            )

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
            self._keep_status_in(thread, where, status), name=f"slack-status-{channel}-{thread_ts}"
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
        return await self._in_workspace(
            thread, lambda client: self._post(client, thread, markdown, key, kind, extra_blocks, messages)
        )

    async def _post(
        self,
        client: AsyncWebClient,
        thread: ThreadRef,
        markdown: str,
        key: str,
        kind: str,
        extra_blocks: list[dict[str, Any]] | None,
        messages: list[SlackMessage] | None,
    ) -> list[str]:
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
            # "trip_key": the wire name, kept: posts already in Slack carry it.
            payload = {"trip_key": trip_id_of(key), "step": key, "part": part, "parts": len(messages), "kind": kind}
            refs.extend(await self._post_part(client, channel, thread_ts, message, key, str(part), payload))
        where = (channel, thread_ts)
        if where in self._status:
            # Slack clears the status when the app posts in the thread.
            await self._send_status(client, channel, thread_ts, self._status[where])
        return refs

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

    # -- workspaces --------------------------------------------------------

    async def _client_for(self, thread: ThreadRef) -> AsyncWebClient:
        """The client with the token of the thread's own workspace."""
        channel, _ = _thread_parts(thread)
        team = str(thread.get("team") or "")
        try:
            workspace = await self._workspaces.find(team)
        except WorkspaceUnknown as exc:
            raise SlackPostError(f"workspace_unknown: {exc}", channel, False) from exc
        if workspace is None:
            raise SlackPostError(NOT_INSTALLED, channel, True)
        return workspace.client

    async def _in_workspace[T](self, thread: ThreadRef, work: Callable[[AsyncWebClient], Awaitable[T]]) -> T:
        """`work` with the thread's workspace client. When Slack refuses that
        token (the app was reinstalled and this process still had the old
        one), the workspace is looked up afresh, once."""
        client = await self._client_for(thread)
        try:
            return await work(client)
        except SlackPostError as exc:
            if exc.error not in _TOKEN_ERRORS:
                raise
            refused = exc
        self._workspaces.invalidate(str(thread.get("team") or ""))
        fresh = await self._client_for(thread)
        if fresh.token == client.token:
            raise refused
        self._log.info("Slack refused a cached token for workspace %s; using the one installed now", thread.get("team"))
        return await work(fresh)

    # -- posting -----------------------------------------------------------

    def _lock_for(self, ledger_key: str) -> asyncio.Lock:
        lock = self._locks.get(ledger_key)
        if lock is None:
            lock = self._locks[ledger_key] = asyncio.Lock()
        return lock

    async def _post_part(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        message: SlackMessage,
        step: str,
        part: str,
        payload: dict[str, Any],
    ) -> list[str]:
        """One part, exactly once; a part Slack finds too long is posted as
        smaller parts ``{part}.{j}`` (each exactly once in turn)."""
        ledger_key = f"{step}#{part}"
        async with self._lock_for(ledger_key):
            record = await self._ledger.post_record(ledger_key)
            if record is None:
                await self._ledger.record_post_intent(ledger_key)
            elif record.state == "done" and record.ref != _SPLIT:
                return [record.ref]
            elif record.state == "intent":
                found = await self._find_post(client, channel, thread_ts, step, part)
                if found is not None:
                    self._log.info("post %s was already in the thread (ts %s)", ledger_key, found)
                    await self._ledger.record_post_done(ledger_key, found)
                    return [found]
            if record is None or record.state == "intent":
                try:
                    ts = await self._send_once(client, channel, thread_ts, message, step, part, payload)
                except _Refused as refused:
                    if refused.error not in _TOO_LONG_ERRORS:
                        raise SlackPostError(refused.error, channel, refused.error in THREAD_GONE_ERRORS) from refused
                    self._log.warning("Slack found post %s too long; posting it in smaller parts", ledger_key)
                    await self._ledger.record_post_done(ledger_key, _SPLIT)
                else:
                    failpoints.reached("after:slack_post")  # posted, not yet recorded: the hard case
                    await self._ledger.record_post_done(ledger_key, ts)
                    return [ts]
        return await self._post_split(client, channel, thread_ts, message, step, part, payload)

    async def _post_split(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        message: SlackMessage,
        step: str,
        part: str,
        payload: dict[str, Any],
    ) -> list[str]:
        pieces = _halves(message)
        if len(pieces) < 2:
            raise SlackPostError("msg_too_long", channel, False)
        refs: list[str] = []
        for j, piece in enumerate(pieces):
            sub = f"{part}.{j}"
            refs.extend(await self._post_part(client, channel, thread_ts, piece, step, sub, {**payload, "part": sub}))
        return refs

    async def _send_once(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        message: SlackMessage,
        step: str,
        part: str,
        payload: dict[str, Any],
    ) -> str:
        """Post, and if Slack's answer is lost, look the post up before posting again."""
        for attempt in range(1, LOST_ANSWER_ATTEMPTS + 1):
            try:
                return await self._send(client, channel, thread_ts, message, payload)
            except _Refused:
                raise
            except Exception as exc:
                if not answer_lost(exc):
                    raise
                self._log.warning(
                    "post %s#%s: Slack's answer was lost (%s); looking for it in the thread before posting again",
                    step,
                    part,
                    _describe(exc),
                )
                found = await self._find_post(client, channel, thread_ts, step, part)
                if found is not None:
                    return found
                if attempt == LOST_ANSWER_ATTEMPTS:
                    raise SlackPostError(f"answer lost: {_describe(exc)}", channel, False) from exc
                await asyncio.sleep(self._lost_answer_pause * attempt)
        raise AssertionError("unreachable")

    async def _send(
        self, client: AsyncWebClient, channel: str, thread_ts: str, message: SlackMessage, payload: dict[str, Any]
    ) -> str:
        """chat.postMessage with the content fallbacks; `_Refused` when Slack
        says no for a reason no fallback fixes."""
        joined = False
        candidates = _fallbacks(message)
        while True:
            try:
                response = await client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=message.text,
                    blocks=message.blocks or None,
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata={"event_type": METADATA_EVENT_TYPE, "event_payload": payload},
                )
                return str(response["ts"])
            except SlackApiError as exc:
                if answer_lost(exc):
                    raise
                error = _slack_error(exc)
                if error in _BLOCK_ERRORS:
                    fallback = next(candidates, None)
                    if fallback is not None:
                        self._log.warning("Slack refused the blocks of a post (%s); posting it more plainly", error)
                        message = fallback
                        continue
                if error == "not_in_channel" and not joined:
                    joined = True
                    if await self._try_join(client, channel):
                        continue
                raise _Refused(error) from exc

    async def _update(self, client: AsyncWebClient, channel: str, ts: str, message: SlackMessage) -> str | None:
        """chat.update with the content fallbacks (mrkdwn, plain text, shorter).

        Returns None once updated, or the error when Slack refuses to edit the
        message at all (deleted, not ours, too old) or refuses every plainer
        version of it: an update is cosmetic, the caller carries on. A thread
        that is gone raises a permanent `SlackPostError`; anything else (rate
        limited for long, Slack down) a transient one."""
        candidates = _fallbacks(message)
        shortened = False
        while True:
            try:
                await client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
                return None
            except SlackApiError as exc:
                if answer_lost(exc):  # chat.update is safe to repeat: the step retries it
                    raise SlackPostError(f"answer lost: {_describe(exc)}", channel, False) from exc
                error = _slack_error(exc)
                if error in UPDATE_REFUSALS:
                    return error
                if error in _BLOCK_ERRORS:
                    fallback = next(candidates, None)
                    if fallback is None:
                        return error
                    self._log.warning("Slack refused the blocks of an update (%s); updating more plainly", error)
                    message = fallback
                    continue
                if error in _TOO_LONG_ERRORS:
                    if shortened:
                        return error
                    self._log.warning("Slack found an update of %s too long; shortening it", ts)
                    message, shortened = _plain(message), True
                    continue
                raise SlackPostError(error, channel, error in THREAD_GONE_ERRORS) from exc

    async def _upload(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        ledger_key: str,
        content: str,
        filename: str,
        title: str,
    ) -> str:
        """Slack's external upload, with the file id recorded before it is shared."""
        data = content.encode("utf-8")
        try:
            slot = await client.files_getUploadURLExternal(filename=filename, length=len(data), snippet_type="markdown")
        except SlackApiError as exc:
            if answer_lost(exc):
                raise
            raise _Refused(_slack_error(exc)) from exc
        file_id, upload_url = str(slot["file_id"]), str(slot["upload_url"])
        await self._ledger.record_post_done(f"{ledger_key}/upload", file_id)
        await self._send_bytes(client, upload_url, data)
        try:
            await client.files_completeUploadExternal(
                files=[{"id": file_id, "title": title}], channel_id=channel, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            if answer_lost(exc):
                raise
            raise _Refused(_slack_error(exc)) from exc
        return file_id

    async def _send_bytes(self, client: AsyncWebClient, upload_url: str, data: bytes) -> None:
        """The upload step: POST the bytes to the URL Slack handed out (safe to repeat)."""
        timeout = aiohttp.ClientTimeout(total=client.timeout)
        for attempt in range(1, LOST_ANSWER_ATTEMPTS + 1):
            try:
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    async with session.post(upload_url, data=data, proxy=client.proxy, ssl=client.ssl) as r:
                        if r.status == 200:
                            return
                        if r.status < 500:
                            raise _Refused(f"upload_failed_http_{r.status}")
                        failure: BaseException = aiohttp.ClientResponseError(r.request_info, r.history, status=r.status)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                failure = exc
            if attempt == LOST_ANSWER_ATTEMPTS:
                raise failure
            await asyncio.sleep(self._lost_answer_pause * attempt)

    async def _find_shared_upload(
        self, client: AsyncWebClient, channel: str, thread_ts: str, ledger_key: str, filename: str
    ) -> str | None:
        """The file id of this upload if it is shared in the thread already."""
        pending = await self._ledger.post_record(f"{ledger_key}/upload")
        if pending is not None and pending.ref:
            return await self._find_file(client, channel, thread_ts, file_id=pending.ref)
        # The intent of an older version, without a file id yet: by name.
        return await self._find_file(client, channel, thread_ts, filename=filename)

    async def _permalink(self, client: AsyncWebClient, channel: str, ts: str) -> str:
        try:
            response = await client.chat_getPermalink(channel=channel, message_ts=ts)
            return str(response.get("permalink") or "")
        except SlackApiError as exc:
            self._log.warning("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
            return ""

    async def _try_join(self, client: AsyncWebClient, channel: str) -> bool:
        try:
            await client.conversations_join(channel=channel)
            return True
        except SlackApiError as exc:
            self._log.warning("cannot join %s to post: %s", channel, exc.response.get("error"))
            return False

    async def _thread_messages(
        self, client: AsyncWebClient, channel: str, thread_ts: str
    ) -> AsyncIterator[dict[str, Any]]:
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
                if error in _LOOKUP_GIVE_UP_ERRORS:
                    self._log.warning("cannot search thread %s/%s (%s)", channel, thread_ts, error)
                    return
                raise
            for message in response.get("messages") or []:
                yield message
            cursor = ((response.get("response_metadata") or {}).get("next_cursor") or "").strip() or None
            if cursor is None:
                return

    async def _find_post(
        self, client: AsyncWebClient, channel: str, thread_ts: str, step: str, part: str
    ) -> str | None:
        """The ts of our post for (step, part) in the thread, if it is there."""
        async for message in self._thread_messages(client, channel, thread_ts):
            if _matches(message, step, part):
                return str(message["ts"])
        return None

    async def _find_file(
        self, client: AsyncWebClient, channel: str, thread_ts: str, *, file_id: str = "", filename: str = ""
    ) -> str | None:
        """The id of a file we shared in the thread: that `file_id`, or one named `filename`."""
        async for message in self._thread_messages(client, channel, thread_ts):
            if message.get("bot_id") or message.get("app_id") or message.get("upload"):
                for f in message.get("files") or []:
                    f = f or {}
                    if (file_id and str(f.get("id") or "") == file_id) or (
                        not file_id and filename and str(f.get("name") or "") == filename
                    ):
                        return str(f.get("id") or "found")
        return None

    # -- status ------------------------------------------------------------

    async def _send_status(self, client: AsyncWebClient, channel: str, thread_ts: str, status: str) -> None:
        try:
            await client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort by contract
            detail = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            self._log.warning("assistant.threads.setStatus failed for %s/%s: %s", channel, thread_ts, detail)

    async def _keep_status_in(self, thread: ThreadRef, where: tuple[str, str], status: str) -> None:
        try:
            client = await self._client_for(thread)
        except SlackPostError as exc:  # best effort by contract
            self._log.warning("no status for %s/%s: %s", where[0], where[1], exc)
            if self._status_tasks.get(where) is asyncio.current_task():
                del self._status_tasks[where]
            return
        await self._keep_status(client, where, status)

    async def _keep_status(self, client: AsyncWebClient, where: tuple[str, str], status: str) -> None:
        """Send `status` now, then refresh it until it changes or runs too long."""
        started = time.monotonic()
        try:
            await self._send_status(client, where[0], where[1], status)
            while status and self._status_refresh > 0:
                await asyncio.sleep(self._status_refresh)
                if self._status.get(where) != status:
                    return
                if time.monotonic() - started > self._status_max:
                    self._log.info("status for %s/%s kept for too long; letting it expire", *where)
                    self._status.pop(where, None)
                    return
                await self._send_status(client, where[0], where[1], status)
        finally:
            if self._status_tasks.get(where) is asyncio.current_task():
                del self._status_tasks[where]

    def _stop_refresher(self, where: tuple[str, str]) -> None:
        task = self._status_tasks.pop(where, None)
        if task is not None:
            task.cancel()


#: Ledger ref of a part that Slack found too long and that went out as sub-parts.
_SPLIT = "split"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _fallbacks(message: SlackMessage) -> Iterator[SlackMessage]:
    """Plainer versions of `message`, for blocks Slack refuses: mrkdwn, then text."""
    converted = _as_mrkdwn(message)
    if converted is not None:
        yield converted
    if message.blocks:
        yield _plain(message)


def _plain(message: SlackMessage) -> SlackMessage:
    """Text only, short enough for any message."""
    text = message.text if len(message.text) <= _PLAIN_TEXT_CHARS else message.text[: _PLAIN_TEXT_CHARS - 1] + "…"
    return SlackMessage(text=text, blocks=[])


def _halves(message: SlackMessage) -> list[SlackMessage]:
    """`message` as two messages, split between blocks (or in the text)."""
    if len(message.blocks) >= 2:
        middle = len(message.blocks) // 2
        first, second = message.blocks[:middle], message.blocks[middle:]
        text = message.text
        cut = len(text) // 2
        return [SlackMessage(text=text[:cut] or "…", blocks=first), SlackMessage(text=text[cut:] or "…", blocks=second)]
    text = (
        message.text
        if not message.blocks
        else "\n".join(
            str(b.get("text") if isinstance(b.get("text"), str) else (b.get("text") or {}).get("text", ""))
            for b in message.blocks
        )
        or message.text
    )
    if len(text) < 2:
        return [message]
    cut = text.rfind("\n", 0, len(text) // 2 + 1)
    cut = cut if cut > 0 else len(text) // 2
    return [SlackMessage(text=text[:cut]), SlackMessage(text=text[cut:].lstrip("\n") or "…")]


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


def _matches(message: Mapping[str, Any], step: str, part: str) -> bool:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT_TYPE:
        return False
    payload = metadata.get("event_payload") or {}
    return payload.get("step") == step and str(payload.get("part")) == str(part)


__all__ = [
    "METADATA_EVENT_TYPE",
    "THREAD_GONE_ERRORS",
    "UPDATE_REFUSALS",
    "SlackChatPort",
    "SlackPostError",
    "trip_id_of",
]
