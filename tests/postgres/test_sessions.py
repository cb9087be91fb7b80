"""The Postgres sessions under the SDK: one round trip per durable request,
and a pool that survives a Postgres restart without failing a request."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import psycopg
from resonate.types import Value

from tests.postgres.counting_proxy import CountingProxy
from workflows.postgres.engine import PostgresEngine, postgres_resonate
from workflows.postgres.schema import apply_schema

FAR_MS = int((time.time() + 3600) * 1000)


def _web(dsn: str) -> PostgresEngine:
    """The engine as `web` opens it (no sources: nothing but its own requests)."""
    return postgres_resonate(dsn, role="web", group=f"web-{uuid.uuid4().hex[:8]}", pid=uuid.uuid4().hex,
                             lease=timedelta(seconds=5), max_concurrent_tasks=4)


def test_a_durable_request_costs_one_round_trip_to_postgres(resonate_db):
    async def measure() -> tuple[int, dict[str, int]]:
        with CountingProxy(resonate_db) as proxy:
            engine = _web(proxy.url())
            engine.resonate.start()
            try:
                for i in range(20):  # the pool connects; psycopg prepares the call after 5 uses
                    await engine.resonate.promises.create(f"warm-{i}", FAR_MS, Value(data=None), {})
                before, counts = proxy.round_trips(), proxy.counts()
                for i in range(20):
                    await engine.resonate.promises.create(f"p-{i}", FAR_MS, Value(data=i), {})
                    await engine.resonate.promises.get(f"p-{i}")
                after = proxy.round_trips()
                return after - before, {k: v - counts.get(k, 0) for k, v in proxy.counts().items()}
            finally:
                await engine.resonate.stop()

    round_trips, messages = asyncio.run(measure())
    # 40 requests; a checked pool with psycopg's defaults (a check, BEGIN, the call, COMMIT) made it 160.
    assert round_trips == 40, sorted(messages.items())


def _client_backends(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


def test_after_postgres_restarts_no_request_fails_on_a_dead_pooled_connection(private_postgres, resonate_schema):
    apply_schema(private_postgres.url, resonate_schema)

    async def run() -> tuple[int, int]:
        engine = _web(private_postgres.url)
        engine.resonate.start()
        try:
            for _ in range(3):  # concurrent requests make the pool open several connections
                await asyncio.gather(*(engine.resonate.promises.create(f"a-{uuid.uuid4().hex}", FAR_MS,
                                                                       Value(data=None), {}) for _ in range(8)))
            pooled = await asyncio.to_thread(_client_backends, private_postgres.url)
            await asyncio.to_thread(private_postgres.restart)  # every pooled connection is now dead
            done = 0
            for i in range(12):  # as many as the pool could hold: each one must work
                await engine.resonate.promises.create(f"b-{i}", FAR_MS, Value(data=i), {})
                done += 1
            await asyncio.gather(*(engine.resonate.promises.get(f"b-{i}") for i in range(12)))
            return pooled, done
        finally:
            await engine.resonate.stop()

    pooled, done = asyncio.run(run())
    assert pooled >= 2, pooled
    assert done == 12


def test_the_check_works_for_a_connection_past_descriptor_1024(resonate_db):
    """A busy worker holds many sockets; select() refuses descriptors from 1024 on."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1200, hard), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]

    async def run() -> int:
        engine = _web(resonate_db)
        engine.resonate.start()
        try:
            for i in range(3):
                await engine.resonate.promises.create(f"high-{i}", FAR_MS, Value(data=i), {})
            return 3
        finally:
            await engine.resonate.stop()

    try:
        assert min(filler) < 1024 < max(filler)
        assert asyncio.run(run()) == 3
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
