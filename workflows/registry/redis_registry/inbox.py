"""`Inbox` on Redis: per trip a waiter, the seen set, the pending list, claims,
and the amendment hashes; every read-then-write is one script (scripts.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from workflows.ports import AmendOutcome, Amendment, Delivery, Reply
from workflows.registry._common import UnknownTripError, edit_version, reply_from_json, reply_json_prefix, reply_to_json
from workflows.registry.redis_registry.store import RedisStore, outages_as_unavailable, text_of


class RedisInbox(RedisStore):
    """Replies in arrival order; `revise`/`withdraw` find an unread one by its JSON prefix."""

    async def deliver(self, trip_id: str, reply: Reply) -> Delivery:
        with outages_as_unavailable("deliver"):
            control = "0" if reply.kind == "message" else "1"
            accepted, waiter = await self._deliver(
                args=[self._p, trip_id, reply.key, reply_to_json(reply), control]
            )
            waiter_text = text_of(waiter)
            return Delivery(accepted=bool(accepted), waiter=waiter_text or None)

    async def revise(self, trip_id: str, revision: Reply, correction: Reply) -> Amendment:
        with outages_as_unavailable("revise"):
            version = edit_version(revision, correction)
            outcome, waiter = await self._revise(
                args=[
                    self._p,
                    trip_id,
                    revision.key,
                    repr(version),
                    reply_to_json(revision),
                    correction.key,
                    reply_to_json(correction),
                    reply_json_prefix(revision.key),
                ]
            )
            return Amendment(AmendOutcome(text_of(outcome)), text_of(waiter) or None)

    async def withdraw(self, trip_id: str, key: str) -> Amendment:
        with outages_as_unavailable("withdraw"):
            outcome, waiter = await self._withdraw(args=[self._p, trip_id, key, reply_json_prefix(key)])
            return Amendment(AmendOutcome(text_of(outcome)), text_of(waiter) or None)

    async def publish_waiter(self, trip_id: str, promise_id: str) -> bool:
        with outages_as_unavailable("publish_waiter"):
            if not promise_id:
                raise ValueError("promise_id must not be empty")
            outcome = await self._publish(args=[self._p, trip_id, promise_id])
            if outcome < 0:
                raise UnknownTripError(trip_id)
            return outcome == 1

    async def claim_replies(self, trip_id: str, claim_id: str) -> list[Reply]:
        with outages_as_unavailable("claim_replies"):
            taken = await self._claim(args=[self._p, trip_id, claim_id])
            return [Reply.from_dict(item) for item in json.loads(taken)]

    async def unclaimed_replies(self, trip_id: str) -> list[Reply]:
        with outages_as_unavailable("unclaimed_replies"):
            raw = await self._r.lrange(f"{self._p}pending:{trip_id}", 0, -1)
            return [reply_from_json(text_of(item)) for item in raw]

    async def stranded_waiters(self) -> list[tuple[str, str]]:
        with outages_as_unavailable("stranded_waiters"):
            flat: Sequence[Any] = await self._stranded(args=[self._p])
            pairs = [(text_of(a), text_of(b)) for a, b in zip(flat[0::2], flat[1::2], strict=True)]
            return sorted(pairs)
