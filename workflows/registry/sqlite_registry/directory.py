"""`TripDirectory` on SQLite: `registry_trips` and `registry_threads`."""

from __future__ import annotations

import json
from typing import Any

from workflows.ports import TripRecord
from workflows.registry._common import (
    UnknownTripError,
    dumps,
    ledger_ranges,
    normalise_record,
    normalise_update,
)
from workflows.registry.sqlite_registry.store import SqliteStore


class SqliteTripDirectory(SqliteStore):
    """Trips and their threads; `forget_trip` clears every part's tables."""

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
            cur.execute("DELETE FROM registry_feedback WHERE trip_id = ?", (trip_id,))
            cur.execute("DELETE FROM registry_posts WHERE key = ?", (trip_id,))
            for low, high in ledger_ranges(trip_id):
                cur.execute("DELETE FROM registry_posts WHERE key >= ? AND key < ?", (low, high))
