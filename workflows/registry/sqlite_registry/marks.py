"""`DeliveryMarks` on SQLite: `registry_events`, expiring by the injected clock."""

from __future__ import annotations

from workflows.registry._common import event_ttl
from workflows.registry.sqlite_registry.store import SqliteStore

#: Expired dedupe marks deleted per `first_time` call (keeps each call short).
_PURGE_BATCH = 100


class SqliteDeliveryMarks(SqliteStore):
    """Dedupe marks with an absolute expiry; expired rows count as absent."""

    async def first_time(self, key: str, ttl_seconds: int | None = None) -> bool:
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
