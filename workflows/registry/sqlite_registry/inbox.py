"""`Inbox` on SQLite: `registry_inbox`, `registry_claims`, `registry_amendments`,
and the waiter column of `registry_trips`."""

from __future__ import annotations

import sqlite3

from workflows.ports import AmendOutcome, Amendment, Delivery, Reply
from workflows.registry._common import UnknownTripError, edit_version, reply_from_json, reply_to_json
from workflows.registry.sqlite_registry.store import SqliteStore


class SqliteInbox(SqliteStore):
    """Replies in arrival order (`seq`), each with the claim that took it."""

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
