"""The Redis registry's shared ground: the client, the key prefix, the
scripts, and how an outage reaches callers.

Build the client with `open_redis_client(url)`: `Redis.from_url` alone gives
connections *no* retries, so the first command on each pooled connection
after a Redis restart fails with "Connection closed by server"; with retries
it reconnects transparently. A retried command may run twice if Redis
executed it but the reply was lost: every operation is safe to repeat (see
the package docstring).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workflows.ports import RegistryUnavailable
from workflows.registry._common import DEFAULT_EVENT_TTL_SECONDS
from workflows.registry.redis_registry import scripts

logger = logging.getLogger(__name__)


def open_redis_client(url: str, **overrides: Any) -> aioredis.Redis:
    """A client for the registry: bounded timeouts, retries that reconnect,
    and a pool that waits for a free connection instead of failing.

    - `Redis.from_url` alone gives connections no retries: after a Redis
      restart the first command on each pooled connection fails with
      "Connection closed by server". Here: 3 retries, ~0.05-1 s backoff.
    - The default pool raises MaxConnectionsError past 100 commands in flight
      (a burst of Slack events). Here: a BlockingConnectionPool of 50 that
      waits up to 5 s for a connection.

    Keyword arguments override any of these (and take any pool/connection
    option `BlockingConnectionPool.from_url` accepts, e.g. decode_responses).
    The client owns its pool: `await client.aclose()` closes both.
    """
    options: dict[str, Any] = {
        "max_connections": 50,
        "timeout": 5,
        "socket_connect_timeout": 5,
        "socket_timeout": 5,
        "health_check_interval": 30,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), 3),
    }
    options.update(overrides)
    pool = aioredis.BlockingConnectionPool.from_url(url, **options)
    return aioredis.Redis.from_pool(pool)


def text_of(value: Any) -> str:
    """Works with clients made with or without decode_responses=True."""
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def outages_as_unavailable(operation: str) -> Iterator[None]:
    """Turn "Redis is not answering" into the port's RegistryUnavailable,
    logged once here with where and why, so every caller can retry it."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, BusyLoadingError) as exc:
        logger.error("Redis is unavailable during %s (%s: %s)", operation, type(exc).__name__, exc)
        raise RegistryUnavailable(f"Redis unavailable during {operation}: {type(exc).__name__}") from exc


class RedisStore:
    """A `redis.asyncio.Redis` client, the namespace, and the registered scripts.

    `clock` stamps created_at/updated_at only; dedupe marks expire by the
    Redis server's own TTL clock.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str = "tp",
        clock: Callable[[], float] = time.time,
        event_ttl_seconds: int = DEFAULT_EVENT_TTL_SECONDS,
    ) -> None:
        if not namespace:
            raise ValueError("namespace must not be empty")
        self._r = client
        self._p = namespace + ":"
        self._clock = clock
        self._event_ttl_seconds = event_ttl_seconds
        reg = client.register_script
        self._register = reg(scripts.REGISTER)
        self._update = reg(scripts.UPDATE)
        self._list = reg(scripts.LIST)
        self._forget = reg(scripts.FORGET)
        self._deliver = reg(scripts.DELIVER)
        self._revise = reg(scripts.REVISE)
        self._withdraw = reg(scripts.WITHDRAW)
        self._publish = reg(scripts.PUBLISH)
        self._claim = reg(scripts.CLAIM)
        self._stranded = reg(scripts.STRANDED)
        self._feedback = reg(scripts.FEEDBACK)

    @property
    def namespace(self) -> str:
        return self._p[:-1]

    async def ping(self) -> None:
        """Raise the redis-py ConnectionError/TimeoutError if Redis is unreachable.

        Unlike every registry operation, this one lets redis-py's own error
        through: start-up calls it to tell a wrong REDIS_URL (exit 2) from an
        outage later on.
        """
        await self._r.ping()

