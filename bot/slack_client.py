"""Slack Web API clients, always built with the retry handlers we rely on.

Which failures the HTTP client may retry by itself:

- 429 with `Retry-After`, for every method: Slack did nothing, so repeating
  the call is always safe (slack-sdk's `AsyncRateLimitErrorRetryHandler`).
- 5xx answers and dropped connections, only for methods that are safe to
  repeat. Slack can post a message and still answer 500, or lose the
  connection after posting: a blind retry of `chat.postMessage` or of a file
  upload's completion then posts it twice. Those calls are retried by the
  chat port instead, which first looks the message or file up in the thread
  (`bot.slack_chat`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Optional
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SLACK_API_URL_ENV = "SLACK_API_URL"

#: Web API methods that do something each time they are called: never retried
#: blindly after an answer that may have been lost.
NOT_SAFE_TO_REPEAT = frozenset(
    {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.scheduleMessage",
        "chat.meMessage",
        "files.completeUploadExternal",
        "files.upload",
    }
)


#: Attempts at a call whose answer was lost (each after looking for what it
#: did), before the caller gives up for now (a durable step retries it later).
LOST_ANSWER_ATTEMPTS = 3


def slack_api_url(env: Mapping[str, str] | None = None) -> str:
    """`SLACK_API_URL` (default https://slack.com/api/), with a trailing slash."""
    env = os.environ if env is None else env
    url = (env.get(SLACK_API_URL_ENV) or "").strip() or DEFAULT_SLACK_API_URL
    return url if url.endswith("/") else url + "/"


def api_method(url: str) -> str:
    """The Web API method a request URL calls (`.../api/chat.postMessage` -> `chat.postMessage`)."""
    return urlsplit(url).path.rstrip("/").rpartition("/")[2]


def safe_to_repeat(request: HttpRequest) -> bool:
    return api_method(request.url) not in NOT_SAFE_TO_REPEAT


class SafeServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """Retries 500/503, except for calls that may already have done their work."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: Optional[HttpResponse] = None,  # noqa: UP045 (the SDK's signature)
        error: Optional[Exception] = None,  # noqa: UP045
    ) -> bool:
        if not safe_to_repeat(request):
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


class SafeConnectionErrorRetryHandler(AsyncConnectionErrorRetryHandler):
    """Retries dropped connections, except for calls that may already have done their work."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: Optional[HttpResponse] = None,  # noqa: UP045
        error: Optional[Exception] = None,  # noqa: UP045
    ) -> bool:
        if not safe_to_repeat(request):
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


def retry_handlers(
    *, rate_limit_retries: int = 10, server_error_retries: int = 2, connection_error_retries: int = 1
) -> list[AsyncRetryHandler]:
    return [
        SafeConnectionErrorRetryHandler(max_retry_count=connection_error_retries),
        AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        SafeServerErrorRetryHandler(max_retry_count=server_error_retries),
    ]


def answer_lost(exc: BaseException) -> bool:
    """Slack may have done the call although we got no good answer: an HTTP
    5xx, a connection that broke mid-request, or no answer in time. (A 429
    or an `ok: false` answer means Slack did nothing.)"""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200) if exc.response is not None else 200
        return status >= 500
    return isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError))


def make_web_client(
    token: str | None,
    base_url: str | None = None,
    *,
    timeout: int = 30,
    rate_limit_retries: int = 10,
    server_error_retries: int = 2,
    connection_error_retries: int = 1,
) -> AsyncWebClient:
    """An `AsyncWebClient` for `base_url` (default: `SLACK_API_URL` or Slack).

    Retries 429 (honouring `Retry-After`, which for a busy channel's posts is
    about a second each) for every call, and 500/503 and
    dropped connections for calls that are safe to repeat (module docstring).
    The client is bound to no event loop until its first call, so it can be
    built anywhere and used on the loop that runs the bot and the engine.
    """
    return AsyncWebClient(
        token=token,
        base_url=slack_api_url() if base_url is None else (base_url if base_url.endswith("/") else base_url + "/"),
        timeout=timeout,
        retry_handlers=retry_handlers(
            rate_limit_retries=rate_limit_retries,
            server_error_retries=server_error_retries,
            connection_error_retries=connection_error_retries,
        ),
    )


def has_retry_handlers(client: AsyncWebClient) -> bool:
    """True when `client` retries rate limits, and server errors only where safe."""
    kinds = {type(h) for h in client.retry_handlers or []}
    return AsyncRateLimitErrorRetryHandler in kinds and SafeServerErrorRetryHandler in kinds and not (
        kinds & {AsyncServerErrorRetryHandler, AsyncConnectionErrorRetryHandler}
    )


__all__ = [
    "DEFAULT_SLACK_API_URL",
    "LOST_ANSWER_ATTEMPTS",
    "NOT_SAFE_TO_REPEAT",
    "SLACK_API_URL_ENV",
    "answer_lost",
    "api_method",
    "has_retry_handlers",
    "make_web_client",
    "retry_handlers",
    "slack_api_url",
]
