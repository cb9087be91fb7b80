"""resonate-pg's schema in our database: which file, applied how, and checked.

`resonate.sql` (the Resonate server as one Postgres file) is never copied into
this repository. It is pinned here by commit and sha256, and taken from a path
(`--schema`, or `TRAVEL_PLANNER_RESONATE_SQL`) or downloaded from that commit;
whatever the source, its checksum must match before a byte of it runs.

Our own fix-ups follow the file, among them the one from the measurements in
shared/resonate-pg: `resonate._promise_timed` is pinned with `SET search_path`,
which stops Postgres from inlining it, so the timer scan never uses its index
(612-754 ms per `process_timeouts()` at 451k rows, 0.35 ms once reset).

Applying is idempotent: the file creates with IF NOT EXISTS / OR REPLACE and
its own role guard, and the fix-ups run after it every time.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg

PINNED_REPOSITORY = "resonatehq/resonate-pg"
PINNED_COMMIT = "54fe65150f42f39f415363d05cd54ff91a069b1c"
PINNED_SHA256 = "f4cc2e6c646acee6a9b358d3dd1684997d223e52edc6e075f7d866035f37ae2e"
SCHEMA_VERSION = "0.1.0"
SCHEMA_ENV = "TRAVEL_PLANNER_RESONATE_SQL"
DOWNLOAD_URL = f"https://raw.githubusercontent.com/{PINNED_REPOSITORY}/{PINNED_COMMIT}/resonate.sql"


@dataclass(frozen=True)
class FixUp:
    name: str
    sql: str
    #: A query that returns one row with `true` once the fix-up is in place.
    check: str
    why: str


FIXUPS = (
    FixUp(
        "timer scan uses its index",
        "ALTER FUNCTION resonate._promise_timed(resonate.promises) RESET search_path",
        "SELECT proconfig IS NULL FROM pg_proc WHERE oid = 'resonate._promise_timed(resonate.promises)'::regprocedure",
        "a pinned search_path keeps Postgres from inlining _promise_timed, so every process_timeouts() "
        "scans all promises",
    ),
)


class SchemaError(Exception):
    """The schema file cannot be had or trusted, or the database lacks it."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_schema(path: str | None = None, env: Mapping[str, str] | None = None, *, download: bool = True) -> bytes:
    """resonate.sql from `path`, else `TRAVEL_PLANNER_RESONATE_SQL`, else the
    pinned commit on GitHub; refused unless its sha256 is the pinned one."""
    env = os.environ if env is None else env
    source = path or env.get(SCHEMA_ENV, "").strip()
    if source:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise SchemaError(f"cannot read the schema file {source}: {exc.strerror or exc}") from None
        where = source
    elif download:
        try:
            with urllib.request.urlopen(DOWNLOAD_URL, timeout=30) as response:
                data = response.read()
        except OSError as exc:
            raise SchemaError(
                f"cannot download resonate.sql from {DOWNLOAD_URL} ({exc}); pass --schema FILE or set {SCHEMA_ENV}"
            ) from None
        where = DOWNLOAD_URL
    else:
        raise SchemaError(f"no schema file: pass --schema FILE or set {SCHEMA_ENV}")
    digest = _sha256(data)
    if digest != PINNED_SHA256:
        raise SchemaError(
            f"{where} is not the pinned resonate.sql ({PINNED_REPOSITORY}@{PINNED_COMMIT[:12]}): "
            f"sha256 {digest}, expected {PINNED_SHA256}"
        )
    return data


def apply_schema(conninfo: str, schema: bytes) -> None:
    """Apply resonate.sql, then our fix-ups (idempotent), in one transaction."""
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        conn.execute(schema.decode("utf-8"))  # the file is many statements: simple query protocol
        for fixup in FIXUPS:
            conn.execute(fixup.sql)
        conn.commit()


def schema_problems(conn: psycopg.Connection) -> list[str]:
    """Why the database is not ready for the Postgres engine ([] when it is)."""
    row = conn.execute("SELECT to_regprocedure('resonate.resonate_rpc(jsonb)') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return ["the Resonate schema is not applied"]
    version = conn.execute("SELECT resonate.get_schema_version()").fetchone()
    problems = []
    if not version or version[0] != SCHEMA_VERSION:
        problems.append(f"schema version {version[0] if version else '?'}, expected {SCHEMA_VERSION}")
    for fixup in FIXUPS:
        done = conn.execute(fixup.check).fetchone()
        if not done or not done[0]:
            problems.append(f"fix-up missing: {fixup.name} ({fixup.why})")
    return problems


def check_schema(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        return schema_problems(conn)


__all__ = [
    "DOWNLOAD_URL",
    "FIXUPS",
    "PINNED_COMMIT",
    "PINNED_SHA256",
    "SCHEMA_ENV",
    "SchemaError",
    "apply_schema",
    "check_schema",
    "load_schema",
    "schema_problems",
]
