"""One message to Slack: chat.postMessage or chat.update, with the content
fallbacks (mrkdwn, plain text, shorter), a channel joined when needed, and a
post whose answer was lost looked up before it is sent again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.formatting import SlackMessage
from bot.slack_chat.errors import (
    BLOCK_ERRORS,
    THREAD_GONE_ERRORS,
    TOO_LONG_ERRORS,
    UPDATE_REFUSALS,
    Refused,
    SlackPostError,
    describe,
    slack_error,
)
from bot.slack_chat.fallbacks import fallbacks, plain
from bot.slack_chat.thread_search import ThreadSearch, post_metadata
from bot.slack_client import LOST_ANSWER_ATTEMPTS, answer_lost


async def until_answered(
    send: Callable[[], Awaitable[str]],
    find: Callable[[], Awaitable[str | None]],
    *,
    what: str,
    channel: str,
    pause: float,
    log: logging.Logger,
) -> str:
    """`send()`; when Slack's answer is lost (it may have done the call), `find()`
    the result in the thread before sending again, `pause` x attempt later.
    A refusal (`Refused`) or any other error goes to the caller."""
    for attempt in range(1, LOST_ANSWER_ATTEMPTS + 1):
        try:
            return await send()
        except Refused:
            raise
        except Exception as exc:
            if not answer_lost(exc):
                raise
            log.warning("%s: Slack's answer was lost (%s); looking for it in the thread before sending again",
                        what, describe(exc))
            found = await find()
            if found is not None:
                return found
            if attempt == LOST_ANSWER_ATTEMPTS:
                raise SlackPostError(f"answer lost: {describe(exc)}", channel, False) from exc
            await asyncio.sleep(pause * attempt)
    raise AssertionError("unreachable")


class MessageSender:
    """Sends single messages; `search` finds a post whose answer was lost,
    `lost_answer_pause` (seconds, times the attempt) is the wait before
    sending it again."""

    def __init__(self, search: ThreadSearch, lost_answer_pause: float, log: logging.Logger) -> None:
        self._search = search
        self._lost_answer_pause = lost_answer_pause
        self._log = log

    async def post_once(
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
        return await until_answered(
            lambda: self._send(client, channel, thread_ts, message, payload),
            lambda: self._search.find_post(client, channel, thread_ts, step, part),
            what=f"post {step}#{part}", channel=channel, pause=self._lost_answer_pause, log=self._log,
        )

    async def _send(
        self, client: AsyncWebClient, channel: str, thread_ts: str, message: SlackMessage, payload: dict[str, Any]
    ) -> str:
        """chat.postMessage with the content fallbacks; `Refused` when Slack
        says no for a reason no fallback fixes."""
        joined = False
        candidates = fallbacks(message)
        while True:
            try:
                response = await client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=message.text,
                    blocks=message.blocks or None,
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata=post_metadata(payload),
                )
                return str(response["ts"])
            except SlackApiError as exc:
                if answer_lost(exc):
                    raise
                error = slack_error(exc)
                if error in BLOCK_ERRORS:
                    fallback = next(candidates, None)
                    if fallback is not None:
                        self._log.warning("Slack refused the blocks of a post (%s); posting it more plainly", error)
                        message = fallback
                        continue
                if error == "not_in_channel" and not joined:
                    joined = True
                    if await self._try_join(client, channel):
                        continue
                raise Refused(error) from exc

    async def update(self, client: AsyncWebClient, channel: str, ts: str, message: SlackMessage) -> str | None:
        """chat.update with the content fallbacks (mrkdwn, plain text, shorter).

        Returns None once updated, or the error when Slack refuses to edit the
        message at all (deleted, not ours, too old) or refuses every plainer
        version of it: an update is cosmetic, the caller carries on. A thread
        that is gone raises a permanent `SlackPostError`; anything else (rate
        limited for long, Slack down) a transient one."""
        candidates = fallbacks(message)
        shortened = False
        while True:
            try:
                await client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
                return None
            except SlackApiError as exc:
                if answer_lost(exc):  # chat.update is safe to repeat: the step retries it
                    raise SlackPostError(f"answer lost: {describe(exc)}", channel, False) from exc
                error = slack_error(exc)
                if error in UPDATE_REFUSALS:
                    return error
                if error in BLOCK_ERRORS:
                    fallback = next(candidates, None)
                    if fallback is None:
                        return error
                    self._log.warning("Slack refused the blocks of an update (%s); updating more plainly", error)
                    message = fallback
                    continue
                if error in TOO_LONG_ERRORS:
                    if shortened:
                        return error
                    self._log.warning("Slack found an update of %s too long; shortening it", ts)
                    message, shortened = plain(message), True
                    continue
                raise SlackPostError(error, channel, error in THREAD_GONE_ERRORS) from exc

    async def _try_join(self, client: AsyncWebClient, channel: str) -> bool:
        try:
            await client.conversations_join(channel=channel)
            return True
        except SlackApiError as exc:
            self._log.warning("cannot join %s to post: %s", channel, exc.response.get("error"))
            return False
