"""A trip segment's durable view of time: recorded nows, timers that end at
the trip's expiry, pauses, and which of several awaited things came first.

A workflow body replays from the top on every resume, so a decision never
reads the clock itself: "now" is a recorded step (`now_step`), and so is
which of a reply and a timer settled first (`choice_step`). Version 1 of the
trip knew no deadline; from version 2 (`knows_deadline`) every timer and
pause ends at the trip's expiry (`expiry_moment`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from resonate.context import Context
from resonate.error import Suspended
from resonate.retry import Never

from workflows.steps import CHOICE_STEP, NOW_STEP
from workflows.trip_state import TripState

logger = logging.getLogger(__name__)

#: Longer than any trip; the SDK caps it at the trip's own deadline.
UNTIL_TRIP_DEADLINE = timedelta(days=36_500)
#: From v2 a trip ends this long before its deadline, not at it: the SDK caps
#: every timer and promise of the trip at the deadline, so a trip still open
#: then loses its own promise in the same tick and can no longer tell its
#: thread. An hour (or 5 % of a short lifetime) is time enough to post the
#: notice and mark the trip expired, through a Slack outage of minutes.
_EXPIRY_MARGIN_MS = 3_600_000
_EXPIRY_MARGIN_SHARE = 0.05
NO_RETRY = Never()


class TripExpired(Exception):
    """The trip's lifetime ended (from v2 also while it was busy)."""


def expiry_moment(deadline_ms: int, started_ms: int) -> int:
    """When a trip that started at `started_ms` ends if still open (epoch ms)."""
    lifetime = max(deadline_ms - started_ms, 0)
    return deadline_ms - min(_EXPIRY_MARGIN_MS, int(lifetime * _EXPIRY_MARGIN_SHARE))


def leaf(ctx: Context, retry: Any = NO_RETRY) -> Context:
    """`ctx` for one leaf step: it may take the trip's whole life."""
    return ctx.options(timeout=UNTIL_TRIP_DEADLINE, retry_policy=retry)


class SegmentTime:
    """Time as one segment of `state`'s trip sees it, the same on every replay.

    `clock` is the durable store's (epoch seconds). `closing`: the trip is
    ending, so its last pauses may take any time left."""

    def __init__(self, ctx: Context, state: TripState, clock: Callable[[], float], knows_deadline: bool) -> None:
        self.ctx = ctx
        self.s = state
        self.clock = clock
        self.knows_deadline = knows_deadline
        self.closing = False

    async def now_ms(self) -> int:
        return int(await leaf(self.ctx).run(NOW_STEP))

    async def time_left(self) -> timedelta:
        """Until the trip expires, on the store's clock, read as a durable step
        so every replay takes the same branch."""
        return timedelta(milliseconds=self.s.expires_at - await self.now_ms())

    async def bounded_timer(self, pause: timedelta, then: str) -> tuple[Any, str]:
        """A durable timer for a quiet phase of `pause`, and what its firing
        means. From v2 the phase ends `pause` after a recorded now, or at the
        trip's expiry if that comes first (then "expire"); no life left:
        expire now."""
        if not self.knows_deadline:
            return self.ctx.sleep(pause), then
        now = await self.now_ms()
        if now >= self.s.expires_at:
            raise TripExpired
        due = now + int(pause.total_seconds() * 1000)
        if due >= self.s.expires_at:
            due, then = self.s.expires_at, "expire"
        return self.timer_at(due), then

    def timer_at(self, due_ms: int) -> Any:
        """A durable timer due at `due_ms` (epoch ms).

        The SDK makes a timer due at its clock's now plus the duration, read
        when the timer is first created; a replay creates it again, which
        changes nothing. So the duration comes from the clock right now, not
        from the recorded one: time that passed between recording "now" and
        creating the timer (a crash and a restart there) does not make it late."""
        live_ms = int(self.clock() * 1000)
        return self.ctx.sleep(timedelta(milliseconds=max(due_ms - live_ms, 0)))

    async def still_alive(self) -> None:
        """After a timer: if the trip's life ran out meanwhile (the process was
        down, the clock jumped), expire instead of acting on a stale timer."""
        if self.knows_deadline and await self.time_left() <= timedelta(0):
            raise TripExpired

    async def pause(self, duration: timedelta) -> None:
        """A durable sleep; from v2 never past the trip's expiry: a pause that
        reaches it ends the trip (unless the trip is already ending)."""
        if not self.knows_deadline or self.closing:
            await self.ctx.sleep(duration)
            return
        timer, then = await self.bounded_timer(duration, "wake")
        try:
            await timer
        except Exception:  # a timer rejected (an engine ending the trip's promises): ended all the same
            logger.info("a pause of trip %s ended by rejection", self.s.trip_id, exc_info=True)
            raise TripExpired from None
        if then == "expire":
            raise TripExpired

    async def first_settled(self, *futures: Any) -> tuple[int, bool]:
        """The index of the first of `futures` to settle, and whether it was
        rejected, the same on every replay.

        All pending: suspend until one settles. The observation is recorded as
        a step, because a replay could otherwise see a later state (both
        settled) and take the other branch. v1 records the index alone and
        takes a rejection for a settlement; v2 records a rejection of future i
        as `len(futures) + i`.
        """
        observed, rejected = -1, False
        for i, future in enumerate(futures):
            try:
                await future
            except Suspended:
                continue
            except Exception:  # settled by rejection (a promise that timed out)
                logger.debug("awaited promise %d settled by rejection", i)
                rejected = self.knows_deadline
            observed = i
            break
        if observed < 0:
            raise Suspended()
        recorded = int(await leaf(self.ctx).run(CHOICE_STEP, observed + len(futures) * rejected))
        return recorded % len(futures), recorded >= len(futures)
