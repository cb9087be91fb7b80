"""`DeliveryMarks` on Redis: `P event:{key}`, expiring by the server's TTL (SET NX EX)."""

from __future__ import annotations

from workflows.registry._common import event_ttl
from workflows.registry.redis_registry.store import RedisStore, outages_as_unavailable


class RedisDeliveryMarks(RedisStore):
    """One string per mark, with a TTL."""

    async def first_time(self, key: str, ttl_seconds: int | None = None) -> bool:
        """True the first time `key` is seen within `ttl_seconds` (SET NX EX)."""
        with outages_as_unavailable("first_time"):
            ttl = event_ttl(ttl_seconds, self._event_ttl_seconds)
            return bool(await self._r.set(self._p + "event:" + key, b"1", nx=True, ex=ttl))
