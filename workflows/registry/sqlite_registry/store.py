"""The SQLite registry's shared ground: its tables and its transactions.

Every part (directory, marks, inbox, ledger) runs each method as one short
transaction, synchronously (no `await` inside), so operations never
interleave and each is atomic. `BEGIN IMMEDIATE` takes the write lock up
front, so a second process opening the same file cannot slip in between our
read and our write either.

The connection is the caller's: opened with `isolation_level=None`
(autocommit), WAL mode, used from one thread. If the caller already has a
transaction open on it when a method runs, the method uses a SAVEPOINT inside
that transaction instead (its writes then commit or roll back with the
caller's transaction).
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from workflows.registry._common import DEFAULT_EVENT_TTL_SECONDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_trips (
    trip_id    TEXT PRIMARY KEY,
    thread_key TEXT NOT NULL,
    starter    TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    waiter     TEXT,
    record     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_trips_by_created
    ON registry_trips (created_at DESC, trip_id DESC);
CREATE INDEX IF NOT EXISTS registry_trips_by_starter
    ON registry_trips (starter, created_at DESC, trip_id DESC);
CREATE INDEX IF NOT EXISTS registry_trips_waiting
    ON registry_trips (trip_id) WHERE waiter IS NOT NULL;

CREATE TABLE IF NOT EXISTS registry_threads (
    thread_key TEXT PRIMARY KEY,
    trip_id    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_threads_by_trip ON registry_threads (trip_id);

CREATE TABLE IF NOT EXISTS registry_inbox (
    seq       INTEGER PRIMARY KEY,
    trip_id   TEXT NOT NULL,
    reply_key TEXT NOT NULL,
    reply     TEXT NOT NULL,
    claim_id  TEXT,
    UNIQUE (trip_id, reply_key)
);
CREATE INDEX IF NOT EXISTS registry_inbox_by_claim
    ON registry_inbox (trip_id, claim_id, seq);

CREATE TABLE IF NOT EXISTS registry_claims (
    trip_id  TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    PRIMARY KEY (trip_id, claim_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS registry_amendments (
    trip_id        TEXT NOT NULL,
    reply_key      TEXT NOT NULL,
    edited_at      REAL,
    correction_key TEXT,
    withdrawn      TEXT,
    PRIMARY KEY (trip_id, reply_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS registry_events (
    key        TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS registry_events_by_expiry ON registry_events (expires_at);

CREATE TABLE IF NOT EXISTS registry_feedback (
    trip_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    user    TEXT NOT NULL,
    label   TEXT NOT NULL,
    PRIMARY KEY (trip_id, version, user)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS registry_posts (
    key   TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    ref   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"""


_savepoint_ids = itertools.count()


class SqliteStore:
    """A caller-owned sqlite3 connection with the registry's tables on it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: Callable[[], float] = time.time,
        *,
        event_ttl_seconds: int = DEFAULT_EVENT_TTL_SECONDS,
        on_disk_failure: Callable[[sqlite3.Error], None] | None = None,
    ) -> None:
        self._conn = conn
        self._clock = clock
        self._event_ttl_seconds = event_ttl_seconds
        #: Told when the database cannot be written at all (disk full,
        #: read-only, I/O error): the embedded runtime then stops the process,
        #: like the durable store does, rather than limp on without state.
        self._on_disk_failure = on_disk_failure
        with self._tx() as cur:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)

    # -- plumbing ---------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        """One atomic unit: BEGIN IMMEDIATE..COMMIT, or a savepoint if nested."""
        conn = self._conn
        cur = conn.cursor()
        cur.row_factory = None  # plain tuples whatever the connection uses
        if conn.in_transaction:
            name = f"registry_sp_{next(_savepoint_ids)}"
            cur.execute(f"SAVEPOINT {name}")
            try:
                yield cur
            except BaseException:
                cur.execute(f"ROLLBACK TO {name}")
                cur.execute(f"RELEASE {name}")
                raise
            cur.execute(f"RELEASE {name}")
            return
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if self._on_disk_failure is not None and _is_disk_failure(exc):
                self._on_disk_failure(exc)
            raise

    @staticmethod
    def _trip_exists(cur: sqlite3.Cursor, trip_id: str) -> bool:
        row = cur.execute("SELECT 1 FROM registry_trips WHERE trip_id = ?", (trip_id,)).fetchone()
        return row is not None


def _is_disk_failure(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("disk is full", "readonly", "read-only", "disk i/o error"))
