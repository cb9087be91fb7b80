"""Fixtures for the registry contract suite.

`backend` runs each contract test twice: on SQLite (a temp file) and on a
real redis-server (testing/redis_server.py), each test in its own namespace.
Tests here may be `async def`: the hook below runs them with asyncio.run
(only for tests in this directory; no pytest-asyncio needed).
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testing.clock import ManualClock
from workflows.registry import (
    RedisThreadRegistry,
    SqliteThreadRegistry,
    open_redis_client,
)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


#: Where a registry's clock starts unless a test gives it one of its own.
START = 1_700_000_000.25


def open_sqlite(path: Path, **kwargs: Any) -> sqlite3.Connection:
    """The way the durable store opens its file: autocommit + WAL.

    synchronous=NORMAL (no fsync per commit in WAL mode; still safe against a
    process crash) keeps the suite fast on a busy disk.
    """
    conn = sqlite3.connect(path, isolation_level=None, **kwargs)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@dataclass
class Backend:
    kind: str  # "sqlite" | "redis"
    db_path: Path
    redis_url: str = ""
    namespace: str = ""

    @asynccontextmanager
    async def registry(
        self, clock: Callable[[], float] | None = None, **redis_kwargs: Any
    ) -> AsyncIterator[Any]:
        """A registry on this backend; several open at once share the same data."""
        clock = clock or ManualClock(START)
        if self.kind == "sqlite":
            conn = open_sqlite(self.db_path)
            try:
                yield SqliteThreadRegistry(conn, clock=clock)
            finally:
                conn.close()
        else:
            client = open_redis_client(self.redis_url, **redis_kwargs)
            try:
                yield RedisThreadRegistry(client, namespace=self.namespace, clock=clock)
            finally:
                await client.aclose()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path / "store.db")
    server = request.getfixturevalue("redis_server")
    return Backend("redis", tmp_path / "unused.db", server.url, f"t-{uuid.uuid4().hex[:12]}")
