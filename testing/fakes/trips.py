"""`RecordingTripControl`: a `TripControl` that records what the edge asked for.

Backed by the registry's directory and inbox like the real engine:
`start_trip` registers the trip (so later replies in its thread are
recognised) and `deliver_reply` appends to the trip's inbox (deduped by the
reply key). No workflow runs.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from workflows.ports import AmendOutcome, Inbox, Reply, TripDirectory, TripRecord


@dataclass(frozen=True, slots=True)
class Delivered:
    trip_id: str
    reply: Reply
    accepted: bool


@dataclass(frozen=True, slots=True)
class Amended:
    """An edit (`revision`, `correction`) or a deletion (`key`) the edge handed over."""

    trip_id: str
    outcome: AmendOutcome
    revision: Reply | None = None
    correction: Reply | None = None
    key: str = ""


class RecordingTripControl:
    def __init__(
        self, directory: TripDirectory, inbox: Inbox, *, delay: float = 0.0, fail_start: bool = False
    ) -> None:
        self.directory = directory
        self.inbox = inbox
        self.delay = delay  # seconds each call takes (a slow engine)
        self.fail_start = fail_start
        self.started: list[TripRecord] = []
        self.start_results: list[bool] = []
        self.deliveries: list[Delivered] = []
        self.amendments: list[Amended] = []
        self._lock = threading.Lock()  # tests read these lists from another thread

    async def start_trip(self, record: TripRecord) -> bool:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_start:
            raise RuntimeError("engine unavailable")
        created = await self.directory.register_trip(record)
        with self._lock:
            self.started.append(record)
            self.start_results.append(created)
        return created

    async def deliver_reply(self, trip_id: str, reply: Reply) -> bool:
        if self.delay:
            await asyncio.sleep(self.delay)
        delivery = await self.inbox.deliver(trip_id, reply)
        with self._lock:
            self.deliveries.append(Delivered(trip_id, reply, delivery.accepted))
        return delivery.accepted

    async def revise_reply(self, trip_id: str, revision: Reply, correction: Reply) -> AmendOutcome:
        amendment = await self.inbox.revise(trip_id, revision, correction)
        with self._lock:
            self.amendments.append(Amended(trip_id, amendment.outcome, revision, correction, revision.key))
        return amendment.outcome

    async def withdraw_reply(self, trip_id: str, key: str) -> AmendOutcome:
        amendment = await self.inbox.withdraw(trip_id, key)
        with self._lock:
            self.amendments.append(Amended(trip_id, amendment.outcome, key=key))
        return amendment.outcome

    # -- assertions helpers -----------------------------------------------

    def replies(self, trip_id: str | None = None) -> list[Reply]:
        """Every reply handed over (accepted or not), in call order."""
        with self._lock:
            return [d.reply for d in self.deliveries if trip_id is None or d.trip_id == trip_id]

    def accepted(self, trip_id: str | None = None) -> list[Reply]:
        with self._lock:
            return [d.reply for d in self.deliveries if d.accepted and (trip_id is None or d.trip_id == trip_id)]


__all__ = ["Amended", "Delivered", "RecordingTripControl"]
