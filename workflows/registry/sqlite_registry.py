"""ThreadRegistry on SQLite, in the same database file as the durable store.

One process, one event loop: every method runs one short transaction
synchronously (no `await` inside), so operations never interleave and each is
atomic. `BEGIN IMMEDIATE` takes the write lock up front, so a second process
opening the same file cannot slip in between our read and our write either.

Tables (all prefixed `registry_`, created if missing):

- `registry_trips`    one row per trip: indexed columns + the whole record as JSON,
                      and the current waiter (the reply promise id).
- `registry_threads`  thread_key -> trip_id.
- `registry_inbox`    every reply ever delivered to a trip, in arrival order
                      (`seq`), with the claim that took it (NULL = unclaimed).
                      Rows stay until `forget_trip`, so they also dedupe
                      (UNIQUE (trip_id, reply_key)).
- `registry_claims`   (trip_id, claim_id) made so far, so that repeating a claim
                      (even one that took nothing) returns the same replies.
- `registry_amendments` per answer that was edited or deleted: the time of the
                      last edit applied, the key of its correction, and, once
                      deleted, the tombstone (what the deletion did) that
                      keeps a late re-delivery out.
- `registry_events`   dedupe marks with an absolute expiry (by the injected clock);
                      expired rows count as absent and are purged as we go.
- `registry_posts`    the posting ledger: key -> ("intent" | "done", ref).

The connection is the caller's: opened with `isolation_level=None`
(autocommit), WAL mode, used from one thread. If the caller already has a
transaction open on it when a method runs, the method uses a SAVEPOINT inside
that transaction instead (its writes then commit or roll back with the
caller's transaction).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from workflows.ports import AmendOutcome, Amendment, Delivery, PostRecord, Reply, TripRecord
from workflows.registry._common import (
    DEFAULT_EVENT_TTL_SECONDS,
    UnknownTripError,
    dumps,
    edit_version,
    event_ttl,
    ledger_ranges,
    normalise_record,
    normalise_update,
    reply_from_json,
    reply_to_json,
)

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

CREATE TABLE IF NOT EXISTS registry_posts (
    key   TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    ref   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"""

#: Expired dedupe marks deleted per `mark_event` call (keeps each call short).
_PURGE_BATCH = 100

_savepoint_ids = itertools.count()


class SqliteThreadRegistry:
    """`workflows.ports.ThreadRegistry` on a caller-owned sqlite3 connection."""

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

    # -- trips ------------------------------------------------------------

    async def register_trip(self, record: TripRecord) -> bool:
        rec = normalise_record(record, self._clock())
        with self._tx() as cur:
            if self._trip_exists(cur, rec.trip_id):
                return False
            cur.execute(
                "INSERT INTO registry_trips"
                " (trip_id, thread_key, starter, created_at, updated_at, waiter, record)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?)",
                (
                    rec.trip_id,
                    rec.thread_key,
                    rec.starter,
                    rec.created_at,
                    rec.updated_at,
                    dumps(rec.to_dict()),
                ),
            )
            cur.execute(
                "INSERT OR REPLACE INTO registry_threads (thread_key, trip_id) VALUES (?, ?)",
                (rec.thread_key, rec.trip_id),
            )
            return True

    async def get_trip(self, trip_id: str) -> TripRecord | None:
        with self._tx() as cur:
            row = cur.execute(
                "SELECT record FROM registry_trips WHERE trip_id = ?", (trip_id,)
            ).fetchone()
        return None if row is None else TripRecord.from_dict(json.loads(row[0]))

    async def trip_for_thread(self, thread_key: str) -> str | None:
        with self._tx() as cur:
            row = cur.execute(
                "SELECT trip_id FROM registry_threads WHERE thread_key = ?", (thread_key,)
            ).fetchone()
        return None if row is None else row[0]

    async def update_trip(self, trip_id: str, **fields: Any) -> None:
        """Set the given TripRecord fields; updated_at becomes clock() unless given.

        Raises ValueError/TypeError for fields a TripRecord does not have (or
        `trip_id`) or values of the wrong type, UnknownTripError for a trip
        that is not registered. Values replace whole fields (`usage` is
        replaced, not merged). Changing `thread_key` moves the thread mapping.
        """
        changes = normalise_update(fields, self._clock())
        with self._tx() as cur:
            row = cur.execute(
                "SELECT record FROM registry_trips WHERE trip_id = ?", (trip_id,)
            ).fetchone()
            if row is None:
                raise UnknownTripError(trip_id)
            data = json.loads(row[0])
            old_thread_key = data["thread_key"]
            data.update(changes)
            rec = TripRecord.from_dict(data)
            cur.execute(
                "UPDATE registry_trips SET thread_key = ?, starter = ?, created_at = ?,"
                " updated_at = ?, record = ? WHERE trip_id = ?",
                (
                    rec.thread_key,
                    rec.starter,
                    rec.created_at,
                    rec.updated_at,
                    dumps(rec.to_dict()),
                    trip_id,
                ),
            )
            if "thread_key" in changes:
                if rec.thread_key != old_thread_key:
                    cur.execute(
                        "DELETE FROM registry_threads WHERE thread_key = ? AND trip_id = ?",
                        (old_thread_key, trip_id),
                    )
                cur.execute(
                    "INSERT OR REPLACE INTO registry_threads (thread_key, trip_id) VALUES (?, ?)",
                    (rec.thread_key, trip_id),
                )

    async def list_trips(self, starter: str | None = None) -> list[TripRecord]:
        """Newest first (created_at, then trip_id, descending)."""
        with self._tx() as cur:
            if starter is None:
                rows = cur.execute(
                    "SELECT record FROM registry_trips ORDER BY created_at DESC, trip_id DESC"
                ).fetchall()
            else:
                rows = cur.execute(
                    "SELECT record FROM registry_trips WHERE starter = ?"
                    " ORDER BY created_at DESC, trip_id DESC",
                    (starter,),
                ).fetchall()
        return [TripRecord.from_dict(json.loads(r[0])) for r in rows]

    async def forget_trip(self, trip_id: str) -> None:
        """Drop the trip, its thread mapping, inbox, claims, waiter and ledger keys.

        Ledger keys dropped: `trip_id` itself and every key starting with
        `trip_id + ":"` or `trip_id + "/"` (see LEDGER_SEPARATORS).
        """
        with self._tx() as cur:
            cur.execute("DELETE FROM registry_trips WHERE trip_id = ?", (trip_id,))
            cur.execute("DELETE FROM registry_threads WHERE trip_id = ?", (trip_id,))
            cur.execute("DELETE FROM registry_inbox WHERE trip_id = ?", (trip_id,))
            cur.execute("DELETE FROM registry_claims WHERE trip_id = ?", (trip_id,))
            cur.execute("DELETE FROM registry_amendments WHERE trip_id = ?", (trip_id,))
            cur.execute("DELETE FROM registry_posts WHERE key = ?", (trip_id,))
            for low, high in ledger_ranges(trip_id):
                cur.execute("DELETE FROM registry_posts WHERE key >= ? AND key < ?", (low, high))

    # -- dedupe marks -----------------------------------------------------

    async def mark_event(self, key: str, ttl_seconds: int | None = None) -> bool:
        """True the first time `key` is seen within `ttl_seconds` (by the clock)."""
        now = self._clock()
        ttl = event_ttl(ttl_seconds, self._event_ttl_seconds)
        with self._tx() as cur:
            cur.execute(
                "DELETE FROM registry_events WHERE rowid IN (SELECT rowid FROM registry_events"
                " WHERE expires_at <= ? LIMIT ?)",
                (now, _PURGE_BATCH),
            )
            row = cur.execute(
                "SELECT expires_at FROM registry_events WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row[0] > now:
                return False
            cur.execute(
                "INSERT OR REPLACE INTO registry_events (key, expires_at) VALUES (?, ?)",
                (key, now + ttl),
            )
            return True

    # -- inbox ------------------------------------------------------------

    async def deliver(self, trip_id: str, reply: Reply) -> Delivery:
        payload = reply_to_json(reply)
        with self._tx() as cur:
            row = cur.execute(
                "SELECT waiter FROM registry_trips WHERE trip_id = ?", (trip_id,)
            ).fetchone()
            if row is None:
                return Delivery(accepted=False, waiter=None)
            if self._amendment(cur, trip_id, reply.key)[2] is not None:
                return Delivery(accepted=False, waiter=row[0])  # deleted: a tombstone
            cur.execute(
                "INSERT OR IGNORE INTO registry_inbox (trip_id, reply_key, reply) VALUES (?, ?, ?)",
                (trip_id, reply.key, payload),
            )
            return Delivery(accepted=cur.rowcount == 1, waiter=row[0])

    @staticmethod
    def _amendment(cur: sqlite3.Cursor, trip_id: str, key: str) -> tuple[float | None, str | None, str | None]:
        """(edited_at, correction_key, withdrawn) of an answer; all None if never amended."""
        row = cur.execute(
            "SELECT edited_at, correction_key, withdrawn FROM registry_amendments"
            " WHERE trip_id = ? AND reply_key = ?",
            (trip_id, key),
        ).fetchone()
        return (None, None, None) if row is None else (row[0], row[1], row[2])

    @staticmethod
    def _delivered(cur: sqlite3.Cursor, trip_id: str, key: str) -> tuple[int, str, str | None] | None:
        """(seq, kind, claim_id) of the reply delivered under `key`, if any."""
        row = cur.execute(
            "SELECT seq, reply, claim_id FROM registry_inbox WHERE trip_id = ? AND reply_key = ?",
            (trip_id, key),
        ).fetchone()
        return None if row is None else (row[0], reply_from_json(row[1]).kind, row[2])

    async def revise(self, trip_id: str, revision: Reply, correction: Reply) -> Amendment:
        version = edit_version(revision, correction)
        key = revision.key
        with self._tx() as cur:
            row = cur.execute("SELECT waiter FROM registry_trips WHERE trip_id = ?", (trip_id,)).fetchone()
            if row is None:
                return Amendment(AmendOutcome.IGNORED, None)
            waiter = row[0]
            edited_at, correction_key, withdrawn = self._amendment(cur, trip_id, key)
            if withdrawn is not None:
                return Amendment(AmendOutcome.WITHDRAWN, waiter)
            delivered = self._delivered(cur, trip_id, key)
            if delivered is None or delivered[1] != "message":
                return Amendment(AmendOutcome.IGNORED, waiter)
            if edited_at is not None and edited_at >= version:
                return Amendment(AmendOutcome.STALE, waiter)
            seq, _, claim_id = delivered
            if claim_id is None:  # unread: the new text in its place
                cur.execute("UPDATE registry_inbox SET reply = ? WHERE seq = ?", (reply_to_json(revision), seq))
                outcome = AmendOutcome.REVISED
            else:
                payload = reply_to_json(correction)
                replaced = 0
                if correction_key is not None:  # an earlier correction still unread: replace it
                    cur.execute(
                        "UPDATE registry_inbox SET reply_key = ?, reply = ?"
                        " WHERE trip_id = ? AND reply_key = ? AND claim_id IS NULL",
                        (correction.key, payload, trip_id, correction_key),
                    )
                    replaced = cur.rowcount
                if not replaced:
                    cur.execute(
                        "INSERT OR IGNORE INTO registry_inbox (trip_id, reply_key, reply) VALUES (?, ?, ?)",
                        (trip_id, correction.key, payload),
                    )
                    if cur.rowcount != 1:
                        return Amendment(AmendOutcome.STALE, waiter)  # this correction was delivered before
                correction_key = correction.key
                outcome = AmendOutcome.CORRECTED
            cur.execute(
                "INSERT INTO registry_amendments (trip_id, reply_key, edited_at, correction_key)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (trip_id, reply_key)"
                " DO UPDATE SET edited_at = excluded.edited_at, correction_key = excluded.correction_key",
                (trip_id, key, version, correction_key),
            )
            return Amendment(outcome, waiter)

    async def withdraw(self, trip_id: str, key: str) -> Amendment:
        with self._tx() as cur:
            row = cur.execute("SELECT waiter FROM registry_trips WHERE trip_id = ?", (trip_id,)).fetchone()
            if row is None:
                return Amendment(AmendOutcome.IGNORED, None)
            waiter = row[0]
            _, correction_key, withdrawn = self._amendment(cur, trip_id, key)
            if withdrawn is not None:
                return Amendment(AmendOutcome(withdrawn), waiter)
            delivered = self._delivered(cur, trip_id, key)
            if delivered is not None and delivered[1] != "message":
                return Amendment(AmendOutcome.IGNORED, waiter)  # a control
            outcome = AmendOutcome.WITHDRAWN
            if delivered is not None and delivered[2] is None:  # unread: dropped
                cur.execute("DELETE FROM registry_inbox WHERE seq = ?", (delivered[0],))
            elif delivered is not None:  # read: it stays read; an unread correction goes
                outcome = AmendOutcome.READ
                if correction_key is not None:
                    cur.execute(
                        "DELETE FROM registry_inbox WHERE trip_id = ? AND reply_key = ? AND claim_id IS NULL",
                        (trip_id, correction_key),
                    )
            cur.execute(
                "INSERT INTO registry_amendments (trip_id, reply_key, withdrawn) VALUES (?, ?, ?)"
                " ON CONFLICT (trip_id, reply_key) DO UPDATE SET withdrawn = excluded.withdrawn",
                (trip_id, key, outcome.value),
            )
            return Amendment(outcome, waiter)

    async def publish_waiter(self, trip_id: str, promise_id: str) -> bool:
        with self._tx() as cur:
            cur.execute(
                "UPDATE registry_trips SET waiter = ? WHERE trip_id = ?", (promise_id, trip_id)
            )
            if cur.rowcount != 1:
                raise UnknownTripError(trip_id)
            row = cur.execute(
                "SELECT 1 FROM registry_inbox WHERE trip_id = ? AND claim_id IS NULL LIMIT 1",
                (trip_id,),
            ).fetchone()
            return row is not None

    async def claim_replies(self, trip_id: str, claim_id: str) -> list[Reply]:
        with self._tx() as cur:
            if not self._trip_exists(cur, trip_id):
                return []
            cur.execute(
                "INSERT OR IGNORE INTO registry_claims (trip_id, claim_id) VALUES (?, ?)",
                (trip_id, claim_id),
            )
            if cur.rowcount == 1:  # a new claim: take everything unclaimed
                cur.execute(
                    "UPDATE registry_inbox SET claim_id = ? WHERE trip_id = ? AND claim_id IS NULL",
                    (claim_id, trip_id),
                )
            rows = cur.execute(
                "SELECT reply FROM registry_inbox WHERE trip_id = ? AND claim_id = ? ORDER BY seq",
                (trip_id, claim_id),
            ).fetchall()
        return [reply_from_json(r[0]) for r in rows]

    async def unclaimed_replies(self, trip_id: str) -> list[Reply]:
        with self._tx() as cur:
            rows = cur.execute(
                "SELECT reply FROM registry_inbox WHERE trip_id = ? AND claim_id IS NULL ORDER BY seq",
                (trip_id,),
            ).fetchall()
        return [reply_from_json(r[0]) for r in rows]

    async def stranded_waiters(self) -> list[tuple[str, str]]:
        with self._tx() as cur:
            rows = cur.execute(
                "SELECT t.trip_id, t.waiter FROM registry_trips AS t"
                " WHERE t.waiter IS NOT NULL AND EXISTS (SELECT 1 FROM registry_inbox AS i"
                " WHERE i.trip_id = t.trip_id AND i.claim_id IS NULL)"
                " ORDER BY t.trip_id"
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    # -- posting ledger ---------------------------------------------------

    async def post_record(self, key: str) -> PostRecord | None:
        with self._tx() as cur:
            row = cur.execute(
                "SELECT state, ref FROM registry_posts WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else PostRecord(state=row[0], ref=row[1])

    async def record_post_intent(self, key: str) -> None:
        """Mark `key` as "intent" unless it is recorded already (never downgrades "done")."""
        with self._tx() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO registry_posts (key, state, ref) VALUES (?, 'intent', '')",
                (key,),
            )

    async def record_post_done(self, key: str, ref: str) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO registry_posts (key, state, ref) VALUES (?, 'done', ?)",
                (key, ref),
            )


def _is_disk_failure(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("disk is full", "readonly", "read-only", "disk i/o error"))
