"""The assistant status of a thread ("is searching the web..."), kept alive.

`assistant.threads.setStatus`, refreshed from a background task (Slack drops
the status after 2 minutes and whenever the app posts in the thread) until
it is cleared with "". Best effort: it logs and never raises."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_chat.errors import SlackPostError
from bot.slack_chat.thread_search import thread_parts
from workflows.ports import ThreadRef

type Where = tuple[str, str]  # (channel, thread_ts)


class ThreadStatus:
    """The statuses of every thread a chat port posts in.

    `client_for` finds the thread's workspace client; a status is sent again
    every `refresh_seconds` (0: never), for at most `max_seconds`."""

    def __init__(
        self,
        client_for: Callable[[ThreadRef], Awaitable[AsyncWebClient]],
        refresh_seconds: float,
        max_seconds: float,
        log: logging.Logger,
    ) -> None:
        self._client_for = client_for
        self._refresh = refresh_seconds
        self._max = max_seconds
        self._log = log
        self._status: dict[Where, str] = {}
        self._tasks: dict[Where, asyncio.Task[None]] = {}

    def set(self, thread: ThreadRef, status: str) -> None:
        try:
            channel, thread_ts = thread_parts(thread)
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
        self._tasks[where] = asyncio.create_task(
            self._keep_in(thread, where, status), name=f"slack-status-{channel}-{thread_ts}"
        )

    async def after_post(self, client: AsyncWebClient, channel: str, thread_ts: str) -> None:
        """Slack clears the status when the app posts in the thread: send it again."""
        where = (channel, thread_ts)
        if where in self._status:
            await self._send(client, channel, thread_ts, self._status[where])

    def active(self) -> dict[Where, str]:
        """(channel, thread_ts) -> status currently kept alive."""
        return dict(self._status)

    async def aclose(self) -> None:
        """Stop every refresher."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._status.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _send(self, client: AsyncWebClient, channel: str, thread_ts: str, status: str) -> None:
        try:
            await client.assistant_threads_setStatus(channel_id=channel, thread_ts=thread_ts, status=status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort by contract
            detail = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            self._log.warning("assistant.threads.setStatus failed for %s/%s: %s", channel, thread_ts, detail)

    async def _keep_in(self, thread: ThreadRef, where: Where, status: str) -> None:
        try:
            client = await self._client_for(thread)
        except SlackPostError as exc:  # best effort by contract
            self._log.warning("no status for %s/%s: %s", where[0], where[1], exc)
            if self._tasks.get(where) is asyncio.current_task():
                del self._tasks[where]
            return
        await self._keep(client, where, status)

    async def _keep(self, client: AsyncWebClient, where: Where, status: str) -> None:
        """Send `status` now, then refresh it until it changes or runs too long."""
        started = time.monotonic()
        try:
            await self._send(client, where[0], where[1], status)
            while status and self._refresh > 0:
                await asyncio.sleep(self._refresh)
                if self._status.get(where) != status:
                    return
                if time.monotonic() - started > self._max:
                    self._log.info("status for %s/%s kept for too long; letting it expire", *where)
                    self._status.pop(where, None)
                    return
                await self._send(client, where[0], where[1], status)
        finally:
            if self._tasks.get(where) is asyncio.current_task():
                del self._tasks[where]

    def _stop_refresher(self, where: Where) -> None:
        task = self._tasks.pop(where, None)
        if task is not None:
            task.cancel()
