"""`PostLedger` on SQLite: `registry_posts`."""

from __future__ import annotations

from workflows.ports import PostRecord
from workflows.registry.sqlite_registry.store import SqliteStore


class SqlitePostLedger(SqliteStore):
    """key -> ("intent" | "done", ref)."""

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

