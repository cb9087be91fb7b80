"""Resonate's timers on Postgres, driven by the workers themselves.

resonate-pg fires durable sleeps, promise timeouts, task retries and lease
expiries only when something calls `resonate.process_timeouts()`. pg_cron can
do it once a minute at best, and the connector's own driver switches itself
off for good after one failed call (a Postgres restart under a worker leaves
its timers stuck; shared/resonate-pg/README.md). So each worker calls it on
its own connection every `interval`, and reconnects, with a bounded backoff,
for as long as it runs. Calls from several workers are harmless: each timeout
is settled once, under the database's own locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

logger = logging.getLogger(__name__)

PROCESS_TIMEOUTS_SQL = "SELECT resonate.process_timeouts()"
DEFAULT_INTERVAL_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0


class TimerDriver:
    """A background loop: `process_timeouts()` every `interval`, reconnecting."""

    def __init__(
        self, conninfo: str, *, interval: float = DEFAULT_INTERVAL_SECONDS, max_backoff: float = MAX_BACKOFF_SECONDS
    ) -> None:
        self._conninfo = conninfo
        self._interval = interval
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self.fired = 0  # timeouts settled so far (for tests and logs)
        self.outages = 0  # times the database went away under the loop

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="resonate-pg-timers")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        backoff = self._interval
        failing = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=10
                ) as conn:
                    if failing:
                        logger.info("timers resume: Postgres answers again")
                        failing, backoff = False, self._interval
                    while True:
                        row = await (await conn.execute(PROCESS_TIMEOUTS_SQL)).fetchone()
                        self.fired += int(row[0] or 0) if row else 0
                        await asyncio.sleep(self._interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: keep trying, say so once
                if not failing:
                    self.outages += 1
                    logger.warning("timers paused: Postgres is unreachable (%s); reconnecting", type(exc).__name__)
                    failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)


__all__ = ["DEFAULT_INTERVAL_SECONDS", "TimerDriver"]
