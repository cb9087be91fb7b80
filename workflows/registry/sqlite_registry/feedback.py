"""`FeedbackBook` on SQLite: `registry_feedback`, one row per (trip, version, person)."""

from __future__ import annotations

from workflows.feedback import Feedback, check_feedback
from workflows.registry.sqlite_registry.store import SqliteStore

class SqliteFeedbackBook(SqliteStore):
    """Votes on plan versions; `forget_trip` (directory) drops them too."""

    async def record_feedback(self, feedback: Feedback) -> bool:
        check_feedback(feedback)
        with self._tx() as cur:
            row = cur.execute(
                "SELECT label FROM registry_feedback WHERE trip_id = ? AND version = ? AND user = ?",
                (feedback.trip_id, feedback.version, feedback.user),
            ).fetchone()
            if row is not None and row[0] == feedback.label:
                return False
            cur.execute(
                "INSERT OR REPLACE INTO registry_feedback (trip_id, version, user, label) VALUES (?, ?, ?, ?)",
                (feedback.trip_id, feedback.version, feedback.user, feedback.label),
            )
            return True

    async def trip_feedback(self, trip_id: str) -> list[Feedback]:
        with self._tx() as cur:
            rows = cur.execute(
                "SELECT version, user, label FROM registry_feedback WHERE trip_id = ? ORDER BY version, user",
                (trip_id,),
            ).fetchall()
        return [Feedback(trip_id, int(v), str(u), str(label)) for v, u, label in rows]
