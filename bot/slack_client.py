"""Slack Web API clients, always built with the retry handlers we rely on."""

from __future__ import annotations

import os
from collections.abc import Mapping

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SLACK_API_URL_ENV = "SLACK_API_URL"


def slack_api_url(env: Mapping[str, str] | None = None) -> str:
    """`SLACK_API_URL` (default https://slack.com/api/), with a trailing slash."""
    env = os.environ if env is None else env
    url = (env.get(SLACK_API_URL_ENV) or "").strip() or DEFAULT_SLACK_API_URL
    return url if url.endswith("/") else url + "/"


def make_web_client(
    token: str | None,
    base_url: str | None = None,
    *,
    timeout: int = 30,
    rate_limit_retries: int = 3,
    server_error_retries: int = 2,
    connection_error_retries: int = 1,
) -> AsyncWebClient:
    """An `AsyncWebClient` for `base_url` (default: `SLACK_API_URL` or Slack).

    Retries 429 (honouring `Retry-After`), 500/503 and dropped connections with
    slack-sdk's async retry handlers. The client is bound to no event loop
    until its first call, so it can be built anywhere and used on the loop
    that runs the bot and the durable engine.
    """
    return AsyncWebClient(
        token=token,
        base_url=slack_api_url() if base_url is None else (base_url if base_url.endswith("/") else base_url + "/"),
        timeout=timeout,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=connection_error_retries),
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            AsyncServerErrorRetryHandler(max_retry_count=server_error_retries),
        ],
    )


def has_retry_handlers(client: AsyncWebClient) -> bool:
    """True when `client` retries both rate limits and server errors."""
    kinds = {type(h) for h in client.retry_handlers or []}
    return AsyncRateLimitErrorRetryHandler in kinds and AsyncServerErrorRetryHandler in kinds


__all__ = [
    "DEFAULT_SLACK_API_URL",
    "SLACK_API_URL_ENV",
    "has_retry_handlers",
    "make_web_client",
    "slack_api_url",
]
