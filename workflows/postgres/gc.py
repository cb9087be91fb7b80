"""Bounded storage on Postgres: `resonate.gc` for trips finished long ago.

resonate-pg keeps every settled promise until `resonate.gc(settled_before_ms,
limit)` deletes it; it never deletes the rows of a workflow whose root is
still pending. Nothing schedules it (no pg_cron here), so workers run it on a
timer and `travel-planner db gc` runs it on demand. Only one process
collects at a time (an advisory lock), in batches, so a large backlog never
holds one long transaction.
"""

from __future__ import annotations

import logging

import psycopg

logger = logging.getLogger(__name__)

GC_BATCH = 10_000
#: `pg_try_advisory_lock` key: one collector at a time across all processes.
GC_LOCK_KEY = 0x74726970  # "trip"


async def collect_garbage(conninfo: str, settled_before_ms: int, *, batch: int = GC_BATCH) -> int | None:
    """Delete the rows settled before `settled_before_ms`; how many (None when
    another process is collecting right now)."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        locked = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (GC_LOCK_KEY,))).fetchone()
        if not locked or not locked[0]:
            return None
        try:
            total = 0
            while True:
                row = await (await conn.execute("SELECT resonate.gc(%s, %s)", (settled_before_ms, batch))).fetchone()
                deleted = int(row[0] or 0) if row else 0
                total += deleted
                if deleted < batch:
                    return total
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (GC_LOCK_KEY,))


__all__ = ["GC_BATCH", "collect_garbage"]
