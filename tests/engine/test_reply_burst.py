"""Replies that arrive in one burst are read together (`claim_step` waits for
the inbox to be still a moment), so a pair Slack delivers out of order, or
two people answering at once, reach the planner as one turn, in ts order."""

from __future__ import annotations

import asyncio
import time

from testing.memory_registry import memory_registry
from workflows.ports import Reply, TripRecord
from workflows.steps import GATHER_MAX_SECONDS, GATHER_QUIET_SECONDS, _gather_burst


async def _scenario(gaps: list[float]) -> tuple[list[str], float]:
    registry = memory_registry()
    await registry.register_trip(TripRecord(trip_id="t", thread_key="k"))
    await registry.deliver("t", Reply(key="c:3", author="Ben", text="second", ts="3"))
    started = time.monotonic()
    gather = asyncio.ensure_future(_gather_burst(registry, "t"))
    for n, gap in enumerate(gaps):
        await asyncio.sleep(gap)
        await registry.deliver("t", Reply(key=f"c:{n}", author="Ana", text=f"early {n}", ts=str(n)))
    await gather
    waited = time.monotonic() - started
    claimed = await registry.claim_replies("t", "claim-1")
    return [r.key for r in claimed], waited


def test_a_reply_a_moment_behind_is_claimed_with_the_first() -> None:
    keys, waited = asyncio.run(_scenario([GATHER_QUIET_SECONDS / 3]))
    assert sorted(keys) == ["c:0", "c:3"]  # one turn (claim_step orders them by ts)
    assert waited >= GATHER_QUIET_SECONDS


def test_a_steady_stream_is_cut_at_the_longest_wait() -> None:
    gaps = [GATHER_QUIET_SECONDS / 2] * int(3 * GATHER_MAX_SECONDS / GATHER_QUIET_SECONDS)
    keys, waited = asyncio.run(_scenario(gaps))
    assert waited < GATHER_MAX_SECONDS + 1.0
    assert "c:3" in keys and len(keys) < len(gaps) + 1  # the rest wait for the next turn


def test_an_empty_inbox_is_claimed_at_once() -> None:
    async def scenario() -> float:
        registry = memory_registry()
        await registry.register_trip(TripRecord(trip_id="t", thread_key="k"))
        started = time.monotonic()
        await _gather_burst(registry, "t")
        return time.monotonic() - started

    assert asyncio.run(scenario()) < GATHER_QUIET_SECONDS
