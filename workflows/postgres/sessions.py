"""resonate-pg's database sessions: one round trip per request, and pooled
connections the server has closed replaced before use.

Every request the SDK makes is one statement (`SELECT
resonate.resonate_rpc($1)`), so the pool's connections are in autocommit:
psycopg's default would wrap it in BEGIN ... COMMIT, two more round trips
(and two more statements for Postgres) per durable step. The connector's
drain runs its dequeues in one session; in autocommit each commits on its own,
which resonate-pg already allows for: a message claimed and then lost (the
process died, or a later dequeue of the same drain failed) is sent again when
its task's retry timeout fires (connection.py, `_drain`).

After Postgres restarts, every connection a pool holds is broken, and
resonate-pg's pool hands each of them out once more: the next calls fail
("server closed the connection unexpectedly") until the pool has discarded
them all, which on `web` means Slack requests answered 500. psycopg_pool's
own check (`check_connection`) costs a round trip per request, and the pool
backs off after each failed check. Here the check costs none and waits for
nothing: an idle connection has nothing to read, so a socket that is
readable means the server hung up (or sent its goodbye) and the connection is
replaced. A server that vanished without closing its sockets (a host lost
with its network) is still found by the request's own error, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import AsyncIterator
from typing import Any, cast

import psycopg
from psycopg_pool import AsyncConnectionPool
from resonate_pg.client import PgConn

DEFAULT_MAX_POOL_SIZE = 16


def server_hung_up(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the idle `conn` is dead, found without a round trip."""
    if conn.closed or conn.broken:
        return True
    poller = select.poll()  # not select(): a busy worker's descriptors pass 1024
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))  # an idle connection is quiet: this is EOF, an error or the server's goodbye


class CheckedSessions:
    """`resonate_pg.client.PgSessions` over psycopg 3: autocommit, checked pooled connections."""

    def __init__(self, conninfo: str, *, max_size: int = DEFAULT_MAX_POOL_SIZE) -> None:
        self._conninfo = conninfo
        self._max_size = max_size
        self._pool: AsyncConnectionPool | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[PgConn]:
        pool = await self._ensure_pool()
        # Checked here, not by the pool's `check`: the pool backs off (1 s, 2 s,
        # ...) after each failed check, so a pool full of dead connections
        # would keep a request waiting past its timeout.
        for _ in range(self._max_size):
            async with pool.connection() as conn:
                if not server_hung_up(conn):
                    yield cast(PgConn, conn)
                    return
                await conn.close()  # returned closed: the pool discards it and opens another
        async with pool.connection() as conn:  # every pooled one was dead: this one is new
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
                pool = AsyncConnectionPool(
                    self._conninfo, min_size=1, max_size=self._max_size, open=False,
                    kwargs={"autocommit": True},
                )
                await pool.open()
                self._pool = pool
            return self._pool


__all__ = ["CheckedSessions", "server_hung_up"]
