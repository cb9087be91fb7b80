"""resonate-pg's database sessions, with pooled connections checked before use.

After Postgres restarts, every connection a pool holds is broken, and
resonate-pg's pool hands each of them out once more: the next calls fail
("server closed the connection unexpectedly") until the pool has discarded
them all, which on `web` means Slack requests answered 500. Here the pool
checks a connection before lending it (one round trip) and replaces a broken
one, so the first call after a restart already works.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import psycopg
from psycopg_pool import AsyncConnectionPool
from resonate_pg.client import PgConn

DEFAULT_MAX_POOL_SIZE = 16


class CheckedSessions:
    """`resonate_pg.client.PgSessions` over psycopg 3, checking pooled connections."""

    def __init__(self, conninfo: str, *, max_size: int = DEFAULT_MAX_POOL_SIZE) -> None:
        self._conninfo = conninfo
        self._max_size = max_size
        self._pool: AsyncConnectionPool | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[PgConn]:
        pool = await self._ensure_pool()
        async with pool.connection() as conn:
            yield cast(PgConn, conn)

    async def dedicated(self) -> PgConn:
        """An autocommit connection of the caller's own (LISTEN needs one)."""
        return cast(PgConn, await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _ensure_pool(self) -> AsyncConnectionPool:
        async with self._lock:
            if self._pool is None:
                kwargs: dict[str, Any] = {"min_size": 1, "max_size": self._max_size, "open": False}
                pool = AsyncConnectionPool(self._conninfo, check=AsyncConnectionPool.check_connection, **kwargs)
                await pool.open()
                self._pool = pool
            return self._pool


__all__ = ["CheckedSessions"]
