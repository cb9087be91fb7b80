"""The trip engine: starts trips, hands replies to them, wakes them up.

It is the `TripControl` the edges (Slack listeners, terminal) call, and the
`PromiseResolver` the steps call. Both calls are quick: starting a trip
dispatches its workflow without waiting for it, and a reply is stored in the
trip's inbox before its reply promise is resolved, so nothing is lost if the
process dies in between (start-up re-kicks stranded waiters).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from resonate.error import ServerError
from resonate.resonate import Resonate
from resonate.types import Value

from workflows import failpoints
from workflows.config import TripSettings
from workflows.ports import AmendOutcome, Inbox, RegistryUnavailable, Reply, TripDirectory, TripRecord
from workflows.text import scrub, scrub_text
from workflows.trip import TRIP_VERSIONS, TRIP_WORKFLOW
from workflows.trip_state import new_trip_state
from workflows.versions import TripVersions

logger = logging.getLogger(__name__)


def check_trip_id(trip_id: str) -> None:
    """A trip id becomes a Resonate origin: no ':' and (server rule) no '.'."""
    if not trip_id or ":" in trip_id or "." in trip_id or len(trip_id) > 200:
        msg = f"invalid trip id {trip_id!r}: use 1-200 characters without ':' or '.'"
        raise ValueError(msg)


class TripEngine:
    def __init__(
        self,
        resonate: Resonate,
        *,
        directory: TripDirectory,
        inbox: Inbox,
        settings: TripSettings,
        target: str,
        versions: TripVersions = TRIP_VERSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._versions = versions
        self._resonate = resonate
        self._directory = directory
        self._inbox = inbox
        self._settings = settings
        self._target = target
        self._clock = clock
        #: How long a delivery waits out a registry outage before giving up.
        self.registry_patience_seconds = 120.0

    # -- TripControl -----------------------------------------------------------

    async def start_trip(self, record: TripRecord) -> bool:
        """Register and dispatch the trip; raises if the store refuses it."""
        check_trip_id(record.trip_id)
        record.request, record.starter = scrub_text(record.request), scrub_text(record.starter)
        now = self._clock()
        record.created_at = record.created_at or now
        record.updated_at = now
        created = await self._directory.register_trip(record)
        if not created:
            existing = await self._directory.get_trip(record.trip_id)
            record = existing or record
        today = datetime.fromtimestamp(record.created_at, UTC).strftime("%A %d %B %Y")
        state = new_trip_state(record.trip_id, record.thread, record.starter, record.request, today)
        # Same id, same workflow: a second start (a retry, a crash between the
        # registry write and this dispatch) attaches to the trip that exists.
        handle = self._resonate.options(
            target=self._target,
            timeout=timedelta(days=self._settings.lifetime_days),
            version=self._versions.current,
        ).rpc(record.trip_id, TRIP_WORKFLOW, state)
        await handle.id()  # the trip's promise exists (or the store's refusal raises)
        return created

    async def deliver_reply(self, trip_id: str, reply: Reply) -> bool:
        """Store the reply in the trip's inbox, then wake the trip.

        The edge has already told Slack "got it", so a registry outage (Redis
        restarting) is waited out here, with backoff and a log line per try,
        rather than losing the reply."""
        reply = Reply.from_dict(scrub(reply.to_dict()))  # storable whatever was sent
        delivery = await self._patiently(
            f"reply {reply.key} for {trip_id}", lambda: self._inbox.deliver(trip_id, reply)
        )
        failpoints.reached("after:deliver_reply")  # stored, the trip not woken yet
        if delivery.waiter is not None:
            # Also on a duplicate: the first delivery may have died before
            # this wake-up. Resolving a settled promise changes nothing.
            await self.resolve(delivery.waiter)
        return delivery.accepted

    async def revise_reply(self, trip_id: str, revision: Reply, correction: Reply) -> AmendOutcome:
        """Hand a person's edit of an answer to the trip's inbox.

        Unread, the answer just reads the new text; read already, the
        correction is a new reply and wakes the trip like one."""
        revision = Reply.from_dict(scrub(revision.to_dict()))
        correction = Reply.from_dict(scrub(correction.to_dict()))
        amendment = await self._patiently(
            f"edit {correction.key} for {trip_id}", lambda: self._inbox.revise(trip_id, revision, correction)
        )
        if amendment.outcome in (AmendOutcome.CORRECTED, AmendOutcome.STALE) and amendment.waiter is not None:
            # STALE too: the first delivery of this edit may have died before its wake-up.
            await self.resolve(amendment.waiter)
        return amendment.outcome

    async def withdraw_reply(self, trip_id: str, key: str) -> AmendOutcome:
        """A person deleted a message: drop it from the inbox if it is unread."""
        amendment = await self._patiently(
            f"deletion of {key} for {trip_id}", lambda: self._inbox.withdraw(trip_id, key)
        )
        return amendment.outcome

    async def _patiently[T](self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = 0.2
        deadline = time.monotonic() + self.registry_patience_seconds
        while True:
            try:
                return await call()
            except RegistryUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    logger.error("giving up on %s: the registry stayed unavailable (%s)", what, exc)
                    raise
                logger.warning("%s waits for the registry (%s); retrying in %.1f s", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- PromiseResolver ---------------------------------------------------------

    async def resolve(self, promise_id: str) -> None:
        try:
            await self._resonate.promises.resolve(promise_id, Value(data=None))
        except ServerError as exc:
            if exc.code == 404:
                logger.info("reply promise %s no longer exists (its segment finished); the reply waits in the inbox", promise_id)
                return
            raise

    # -- maintenance -------------------------------------------------------------

    async def kick_stranded(self) -> int:
        """Wake trips whose replies arrived but whose wake-up was lost."""
        stranded = await self._inbox.stranded_waiters()
        for trip_id, promise_id in stranded:
            logger.info("waking trip %s: replies were waiting", trip_id)
            await self.resolve(promise_id)
        return len(stranded)

    async def outcome(self, trip_id: str) -> dict[str, Any]:
        """Wait for a trip to end, following its chain of segments."""
        current = trip_id
        while True:
            handle = await self._resonate.get(current)
            result = await handle.result()
            if isinstance(result, dict) and result.get("status") == "continued":
                current = str(result["successor"])
                continue
            return result
