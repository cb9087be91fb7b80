"""A busy worker keeps its leases: the heartbeat has a connection of its own.

Through the shared pool, a heartbeat queued behind every trip's requests; a
worker with all its pooled connections busy missed its lease without any
crash, another worker took the task, and the step in flight ran twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta

import psycopg

from workflows.postgres.engine import HEARTBEATS_PER_LEASE, postgres_resonate
from workflows.postgres.sessions import DEFAULT_MAX_POOL_SIZE

LEASE = timedelta(seconds=2)


def _task(dsn: str, task_id: str) -> tuple[str, int, int] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT state, version, timeout_at FROM resonate.tasks WHERE id = %s", (task_id,)).fetchone()
    return (str(row[0]), int(row[1]), int(row[2] or 0)) if row else None


def test_a_worker_whose_pool_is_all_busy_still_renews_its_lease(resonate_db):
    root = f"held-{uuid.uuid4().hex[:8]}"

    async def scenario() -> list[tuple[float, tuple[str, int, int] | None]]:
        engine = postgres_resonate(resonate_db, role="worker", group=f"w-{uuid.uuid4().hex[:8]}",
                                   pid=uuid.uuid4().hex, lease=LEASE, max_concurrent_tasks=4)
        in_step, release = asyncio.Event(), asyncio.Event()

        async def held_step(ctx) -> str:  # type: ignore[no-untyped-def]
            in_step.set()
            await release.wait()
            return "done"

        async def held(ctx) -> str:  # type: ignore[no-untyped-def]
            return await ctx.run(held_step)

        engine.resonate.register(held, name="held", version=1)
        engine.resonate.start()
        handle = engine.resonate.options(timeout=timedelta(minutes=5)).run(root, "held")
        samples: list[tuple[float, tuple[str, int, int] | None]] = []
        try:
            await asyncio.wait_for(in_step.wait(), 30)
            # Every pooled connection busy: taken here and held, as 256 trips' steps hold them.
            sessions = engine.connection._sessions  # the pool postgres_resonate built
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(DEFAULT_MAX_POOL_SIZE):
                    await stack.enter_async_context(sessions.session())
                end = time.monotonic() + 3 * LEASE.total_seconds()
                while time.monotonic() < end:  # sampled over three leases: each must have been renewed
                    samples.append((time.time() * 1000, await asyncio.to_thread(_task, resonate_db, root)))
                    await asyncio.sleep(LEASE.total_seconds() / HEARTBEATS_PER_LEASE)
            release.set()
            assert await asyncio.wait_for(handle.result(), 30) == "done"
        finally:
            release.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(engine.resonate.stop(), 10)
            await engine.heartbeat_connection.stop()
        return samples

    samples = asyncio.run(scenario())
    assert len(samples) >= 6, samples
    first_version = samples[0][1][1] if samples[0][1] else None
    for now_ms, task in samples:
        assert task is not None, samples
        state, version, timeout_at = task
        assert state == "acquired" and version == first_version, samples  # never released nor taken again
        assert timeout_at > now_ms, (now_ms, samples)  # the lease was renewed while the pool was full
