"""The plan as files in its thread (Markdown, and a calendar), each exactly once.

The upload runs Slack's three steps itself (files.getUploadURLExternal, the
upload, files.completeUploadExternal) so that the file id is in the ledger
(``f"{key}#file/upload"``) before the file is shared: after a crash, or a
share whose answer was lost, the thread is searched for that very file
before uploading again."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.formatting import plan_file_name, split_plan_title
from bot.slack_chat.errors import (
    FILE_REFUSALS,
    THREAD_GONE_ERRORS,
    Refused,
    SlackPostError,
    slack_error,
)
from bot.slack_chat.sending import until_answered
from bot.slack_chat.thread_search import ThreadSearch, thread_parts
from bot.slack_client import LOST_ANSWER_ATTEMPTS, answer_lost
from workflows.exactly_once import ExactlyOnce
from workflows.ports import PostLedger, ThreadRef


class PlanFiles:
    """Shares plan files; `ledger` keeps each upload's file id, `once` the shares."""

    def __init__(
        self, once: ExactlyOnce, ledger: PostLedger, search: ThreadSearch, lost_answer_pause: float, log: logging.Logger
    ) -> None:
        self._once = once
        self._ledger = ledger
        self._search = search
        self._lost_answer_pause = lost_answer_pause
        self._log = log

    async def share(
        self, client: AsyncWebClient, thread: ThreadRef, plan: str, key: str, footer: str, *, version: int = 1
    ) -> str:
        """Upload the plan as a Markdown file to the thread, exactly once per
        `key` (ledger key ``f"{key}#file"``). Returns the file id ("" when Slack
        refused it for good: the plan itself is already in the thread)."""
        title = split_plan_title(plan)[0] or "Trip plan"
        content = plan.strip() + ("\n\n---\n\n_" + footer.strip() + "_\n" if footer.strip() else "\n")
        return await self._share(
            client, thread, content.encode("utf-8"), f"{key}#file", plan_file_name(title, version), title, "markdown"
        )

    async def share_calendar(
        self, client: AsyncWebClient, thread: ThreadRef, calendar: bytes, key: str, filename: str, title: str
    ) -> str:
        """Upload the plan's calendar (.ics) to the thread, exactly once per
        `key` (ledger key ``f"{key}#ics"``); its file id, or "" when refused for good."""
        return await self._share(client, thread, calendar, f"{key}#ics", filename, title, "")

    async def _share(
        self,
        client: AsyncWebClient,
        thread: ThreadRef,
        data: bytes,
        ledger_key: str,
        filename: str,
        title: str,
        snippet_type: str,
    ) -> str:
        channel, thread_ts = thread_parts(thread)

        async def shared_already() -> str | None:
            found = await self._find_shared_upload(client, channel, thread_ts, ledger_key, filename)
            if found is not None:
                self._log.info("file %s was already in the thread (%s)", ledger_key, found)
            return found

        async def upload_once() -> str:
            try:
                return await self._upload(client, channel, thread_ts, ledger_key, data, filename, title, snippet_type)
            except Refused as refused:
                if refused.error in THREAD_GONE_ERRORS or refused.error in FILE_REFUSALS:
                    self._log.warning("could not share the file %s in %s/%s: %s", filename, channel, thread_ts,
                                      refused.error)
                    return ""
                raise SlackPostError(refused.error, channel, False) from refused

        async def upload() -> str:
            return await until_answered(
                upload_once,
                lambda: self._find_shared_upload(client, channel, thread_ts, ledger_key, filename),
                what=f"sharing the file {ledger_key}", channel=channel, pause=self._lost_answer_pause,
                log=self._log,
            )

        return await self._once.post(ledger_key, upload, find=shared_already)

    async def _upload(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        ledger_key: str,
        data: bytes,
        filename: str,
        title: str,
        snippet_type: str,
    ) -> str:
        """Slack's external upload, with the file id recorded before it is shared."""
        kind = {"snippet_type": snippet_type} if snippet_type else {}
        try:
            slot = await client.files_getUploadURLExternal(filename=filename, length=len(data), **kind)
        except SlackApiError as exc:
            if answer_lost(exc):
                raise
            raise Refused(slack_error(exc)) from exc
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
            raise Refused(slack_error(exc)) from exc
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
                            raise Refused(f"upload_failed_http_{r.status}")
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
        file_id = await self._once.posted(f"{ledger_key}/upload")
        if file_id:
            return await self._search.find_file(client, channel, thread_ts, file_id=file_id)
        # The intent of an older version, without a file id yet: by name.
        return await self._search.find_file(client, channel, thread_ts, filename=filename)
