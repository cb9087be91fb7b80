"""A throwaway Postgres database with resonate.sql and our fix-ups applied.

resonate.sql is never in this repository: it comes from
`TRAVEL_PLANNER_RESONATE_SQL`, else `../shared/resonate-pg/resonate.sql` beside
the checkout (where `.ci/run` finds it), and must match the pinned sha256. A
machine with neither fails these tests and says so: nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing.postgres_server import schema_path
from workflows.postgres.schema import apply_schema, load_schema


@pytest.fixture(scope="session")
def resonate_schema() -> bytes:
    return load_schema(schema_path(), download=False)


@pytest.fixture
def resonate_db(postgres_db: str, resonate_schema: bytes) -> Iterator[str]:
    """The URL of a fresh database holding the Resonate schema."""
    apply_schema(postgres_db, resonate_schema)
    yield postgres_db
