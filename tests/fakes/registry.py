"""`InMemoryThreadRegistry`: a `ThreadRegistry` test double in plain dicts.

Mirrors `workflows.registry.SqliteThreadRegistry` semantics (dedupe of
replies by key, idempotent claims, "intent" never downgrades "done", unknown
trips) for tests that want no database. Prefer the real SQLite registry
(`make_test_registry`) where a test is about the bot, not about the registry.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from workflows.ports import AmendOutcome, Amendment, Delivery, PostRecord, Reply, ThreadRegistry, TripRecord

try:  # the real registry's error type, when it exists
    from workflows.registry import UnknownTripError
except Exception:  # pragma: no cover - before workflows.registry existed

    class UnknownTripError(LookupError):  # type: ignore[no-redef]
        def __init__(self, trip_id: str) -> None:
            super().__init__(trip_id)
            self.trip_id = trip_id


@dataclass
class _Inbox:
    replies: list[tuple[Reply, str | None]] = field(default_factory=list)  # (reply, claim_id)
    keys: set[str] = field(default_factory=set)
    claims: set[str] = field(default_factory=set)
    edited: dict[str, float] = field(default_factory=dict)  # answer key -> last edit applied
    corrections: dict[str, str] = field(default_factory=dict)  # answer key -> its correction's key
    withdrawn: dict[str, AmendOutcome] = field(default_factory=dict)  # tombstones


class InMemoryThreadRegistry:
    """Every operation is atomic (no await inside), as the protocol asks."""

    def __init__(self, clock: Callable[[], float] = time.time, *, event_ttl_seconds: int = 24 * 3600) -> None:
        self._clock = clock
        self._ttl = event_ttl_seconds
        self.trips: dict[str, TripRecord] = {}
        self.threads: dict[str, str] = {}
        self.waiters: dict[str, str] = {}
        self.inboxes: dict[str, _Inbox] = {}
        self.events: dict[str, float] = {}
        self.posts: dict[str, PostRecord] = {}

    # trips
    async def register_trip(self, record: TripRecord) -> bool:
        if record.trip_id in self.trips:
            return False
        now = self._clock()
        rec = replace(record, created_at=record.created_at or now, updated_at=record.updated_at or now)
        self.trips[rec.trip_id] = rec
        self.threads[rec.thread_key] = rec.trip_id
        self.inboxes[rec.trip_id] = _Inbox()
        return True

    async def get_trip(self, trip_id: str) -> TripRecord | None:
        rec = self.trips.get(trip_id)
        return None if rec is None else TripRecord.from_dict(rec.to_dict())

    async def trip_for_thread(self, thread_key: str) -> str | None:
        return self.threads.get(thread_key)

    async def update_trip(self, trip_id: str, **fields: Any) -> None:
        rec = self.trips.get(trip_id)
        if rec is None:
            raise UnknownTripError(trip_id)
        if "trip_id" in fields:
            raise ValueError("trip_id cannot change")
        unknown = set(fields) - set(rec.to_dict())
        if unknown:
            raise ValueError(f"unknown TripRecord fields: {sorted(unknown)}")
        fields.setdefault("updated_at", self._clock())
        new = replace(rec, **fields)
        if new.thread_key != rec.thread_key:
            self.threads.pop(rec.thread_key, None)
        self.threads[new.thread_key] = trip_id
        self.trips[trip_id] = new

    async def list_trips(self, starter: str | None = None) -> list[TripRecord]:
        trips = [t for t in self.trips.values() if starter is None or t.starter == starter]
        return sorted(trips, key=lambda t: (t.created_at, t.trip_id), reverse=True)

    async def forget_trip(self, trip_id: str) -> None:
        rec = self.trips.pop(trip_id, None)
        if rec is not None and self.threads.get(rec.thread_key) == trip_id:
            del self.threads[rec.thread_key]
        self.waiters.pop(trip_id, None)
        self.inboxes.pop(trip_id, None)
        for key in [k for k in self.posts if k == trip_id or k.startswith((trip_id + ":", trip_id + "/"))]:
            del self.posts[key]

    # dedupe
    async def mark_event(self, key: str, ttl_seconds: int | None = None) -> bool:
        now = self._clock()
        expires = self.events.get(key)
        if expires is not None and expires > now:
            return False
        self.events[key] = now + (ttl_seconds if ttl_seconds and ttl_seconds > 0 else self._ttl)
        return True

    # inbox
    async def deliver(self, trip_id: str, reply: Reply) -> Delivery:
        inbox = self.inboxes.get(trip_id)
        if inbox is None:
            return Delivery(accepted=False, waiter=None)
        if reply.key in inbox.keys or reply.key in inbox.withdrawn:
            return Delivery(accepted=False, waiter=self.waiters.get(trip_id))
        inbox.keys.add(reply.key)
        inbox.replies.append((reply, None))
        return Delivery(accepted=True, waiter=self.waiters.get(trip_id))

    def _find(self, inbox: _Inbox, key: str) -> int | None:
        return next((i for i, (r, _) in enumerate(inbox.replies) if r.key == key), None)

    async def revise(self, trip_id: str, revision: Reply, correction: Reply) -> Amendment:
        version = float(correction.ts)
        inbox = self.inboxes.get(trip_id)
        if inbox is None:
            return Amendment(AmendOutcome.IGNORED, None)
        waiter = self.waiters.get(trip_id)
        key = revision.key
        if key in inbox.withdrawn:
            return Amendment(AmendOutcome.WITHDRAWN, waiter)
        at = self._find(inbox, key)
        if at is None or inbox.replies[at][0].kind != "message":
            return Amendment(AmendOutcome.IGNORED, waiter)
        if inbox.edited.get(key, float("-inf")) >= version:
            return Amendment(AmendOutcome.STALE, waiter)
        inbox.edited[key] = version
        if inbox.replies[at][1] is None:
            inbox.replies[at] = (revision, None)
            return Amendment(AmendOutcome.REVISED, waiter)
        earlier = self._find(inbox, inbox.corrections.get(key, ""))
        if earlier is not None and inbox.replies[earlier][1] is None:
            inbox.replies[earlier] = (correction, None)
        else:
            inbox.replies.append((correction, None))
        inbox.keys.add(correction.key)
        inbox.corrections[key] = correction.key
        return Amendment(AmendOutcome.CORRECTED, waiter)

    async def withdraw(self, trip_id: str, key: str) -> Amendment:
        inbox = self.inboxes.get(trip_id)
        if inbox is None:
            return Amendment(AmendOutcome.IGNORED, None)
        waiter = self.waiters.get(trip_id)
        if key in inbox.withdrawn:
            return Amendment(inbox.withdrawn[key], waiter)
        at = self._find(inbox, key)
        if at is not None and inbox.replies[at][0].kind != "message":
            return Amendment(AmendOutcome.IGNORED, waiter)
        outcome = AmendOutcome.WITHDRAWN
        if at is not None and inbox.replies[at][1] is None:
            del inbox.replies[at]
        elif at is not None:
            outcome = AmendOutcome.READ
            earlier = self._find(inbox, inbox.corrections.get(key, ""))
            if earlier is not None and inbox.replies[earlier][1] is None:
                del inbox.replies[earlier]
        inbox.withdrawn[key] = outcome
        return Amendment(outcome, waiter)

    async def publish_waiter(self, trip_id: str, promise_id: str) -> bool:
        if trip_id not in self.trips:
            raise UnknownTripError(trip_id)
        self.waiters[trip_id] = promise_id
        return any(claim is None for _, claim in self.inboxes[trip_id].replies)

    async def claim_replies(self, trip_id: str, claim_id: str) -> list[Reply]:
        inbox = self.inboxes.get(trip_id)
        if inbox is None:
            return []
        if claim_id not in inbox.claims:
            inbox.claims.add(claim_id)
            inbox.replies = [(r, claim_id if c is None else c) for r, c in inbox.replies]
        return [r for r, c in inbox.replies if c == claim_id]

    async def stranded_waiters(self) -> list[tuple[str, str]]:
        return sorted(
            (trip_id, waiter)
            for trip_id, waiter in self.waiters.items()
            if any(c is None for _, c in self.inboxes.get(trip_id, _Inbox()).replies)
        )

    # posting ledger
    async def post_record(self, key: str) -> PostRecord | None:
        return self.posts.get(key)

    async def record_post_intent(self, key: str) -> None:
        self.posts.setdefault(key, PostRecord(state="intent"))

    async def record_post_done(self, key: str, ref: str) -> None:
        self.posts[key] = PostRecord(state="done", ref=ref)


def make_test_registry(kind: str = "auto") -> ThreadRegistry:
    """The registry tests should use: the real SQLite one when available.

    Call it on the thread (event loop) that will use the registry: the SQLite
    connection is bound to its creating thread. `kind`: "auto", "sqlite" or
    "memory".
    """
    if kind in ("auto", "sqlite"):
        try:
            from workflows.registry import SqliteThreadRegistry
        except Exception:
            if kind == "sqlite":
                raise
        else:
            conn = sqlite3.connect(":memory:", isolation_level=None)
            return SqliteThreadRegistry(conn)
    return InMemoryThreadRegistry()


__all__ = ["InMemoryThreadRegistry", "UnknownTripError", "make_test_registry"]
