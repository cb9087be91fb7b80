"""`PostLedger` on Redis: `P posts` (key -> JSON) and `P postkeys` (for prefix deletes)."""

from __future__ import annotations

import json

from workflows.ports import PostRecord
from workflows.registry._common import dumps
from workflows.registry.redis_registry.store import RedisStore, outages_as_unavailable


class RedisPostLedger(RedisStore):
    """Each write is one MULTI/EXEC block over both keys."""

    async def post_record(self, key: str) -> PostRecord | None:
        with outages_as_unavailable("post_record"):
            raw = await self._r.hget(self._p + "posts", key)
            if raw is None:
                return None
            data = json.loads(raw)
            return PostRecord(state=str(data["state"]), ref=str(data.get("ref", "")))

    async def record_post_intent(self, key: str) -> None:
        """Mark `key` as "intent" unless it is recorded already (never downgrades "done")."""
        with outages_as_unavailable("record_post_intent"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hsetnx(self._p + "posts", key, dumps({"state": "intent", "ref": ""}))
                pipe.zadd(self._p + "postkeys", {key: 0})
                await pipe.execute()

    async def record_post_done(self, key: str, ref: str) -> None:
        with outages_as_unavailable("record_post_done"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._p + "posts", key, dumps({"state": "done", "ref": ref}))
                pipe.zadd(self._p + "postkeys", {key: 0})
                await pipe.execute()
