"""A throwaway Postgres database with resonate.sql and our fix-ups applied.

resonate.sql is never in this repository: it comes from
`TRAVEL_PLANNER_RESONATE_SQL`, else `../shared/resonate-pg/resonate.sql` beside
the checkout (where `.ci/run` finds it), and must match the pinned sha256. A
machine with neither fails these tests and says so: nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflows.postgres.schema import SCHEMA_ENV, apply_schema, load_schema

ROOT = Path(__file__).resolve().parents[2]
SHARED_SCHEMA = ROOT.parent / "shared" / "resonate-pg" / "resonate.sql"


def schema_path() -> str:
    given = os.environ.get(SCHEMA_ENV, "").strip()
    if given:
        return given
    if SHARED_SCHEMA.exists():
        return str(SHARED_SCHEMA)
    raise RuntimeError(
        f"resonate.sql not found: set {SCHEMA_ENV} to a copy of the pinned file "
        f"(looked at {SHARED_SCHEMA}); the Postgres tests cannot run without it"
    )


@pytest.fixture(scope="session")
def resonate_schema() -> bytes:
    return load_schema(schema_path(), download=False)


@pytest.fixture
def resonate_db(postgres_db: str, resonate_schema: bytes) -> Iterator[str]:
    """The URL of a fresh database holding the Resonate schema."""
    apply_schema(postgres_db, resonate_schema)
    yield postgres_db
