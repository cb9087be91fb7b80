"""Replaying a journal that holds time: timers that fire, promises that time out.

A durable timer fires and a promise times out because the clock passed a
deadline, not because a client asked for a change; the store must journal
those changes on its own (a timer-loop tick, a read or a replayed step that
times a promise out), or a restart rebuilds a state the live store never had.
Each test moves a clock by hand across such a deadline, then replays the
journal from disk and requires exactly the state the live store holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from resonate.resonate import Resonate
from resonate.types import Value

from workflows.durable.connection import JournaledConnection
from workflows.durable.journal import DurableJournal
from workflows.durable.state_dir import StateDir

from tests.durable.replaying import assert_same_state, comparable, replay, until
from testing.clock import ManualClock
from tests.engine.harness import planner
from testing.research_fakes import research_env, research_fakes
from testing.fakes.scenario import QUESTIONS, lisbon_script

HOUR = timedelta(hours=1)
#: The timer loop's period when a test wants it to run only once, at start-up:
#: then only a read or a step can time a promise out.
TIMER_LOOP_OFF = 3600.0


@contextlib.asynccontextmanager
async def embedded(
    state_dir: Path, clock: ManualClock, *functions: Callable[..., Any], timer_loop: bool = True
) -> AsyncIterator[tuple[JournaledConnection, Resonate]]:
    """A Resonate on the embedded store, its clock `clock`; stopped on exit,
    so the live state is final when the test compares it."""

    def ms() -> int:
        return int(clock() * 1000)

    sd = StateDir(state_dir)
    conn = JournaledConnection(
        DurableJournal(sd.db), clock=ms, tick_interval=0.01 if timer_loop else TIMER_LOOP_OFF
    )
    r = Resonate(network=conn, env={}, autostart=False, clock=ms)
    for fn in functions:
        r.register(fn, name=fn.__name__, version=1)
    r.start()
    try:
        yield conn, r
    finally:
        await asyncio.wait_for(r.stop(), 5)
        await conn.stop()
        sd.close()


def _suspended(conn: JournaledConnection, task_id: str = "root") -> bool:
    task = conn.state.tasks.get(task_id)
    return task is not None and task.state == "suspended"


def _pending_timers(conn: JournaledConnection) -> list[str]:
    return [p.id for p in conn.state.promises.values()
            if p.tags.get("resonate:timer") == "true" and p.state == "pending"]


def _asleep_in(conn: JournaledConnection, nap: int) -> bool:
    """The workflow is suspended on its `nap`-th timer, the earlier ones fired."""
    timers = [p for p in conn.state.promises.values() if p.tags.get("resonate:timer") == "true"]
    return len(timers) == nap and _pending_timers(conn) == [timers[-1].id] and _suspended(conn)


def _check_replay(conn: JournaledConnection, state_dir: Path) -> dict[str, int]:
    """Replay the journal from disk; it must rebuild the live state exactly.
    Returns how many entries of each operation it replayed."""
    loaded, ops = replay(state_dir)
    assert loaded.snapshot_bytes == 0, "a snapshot was written: the replay would not cover the whole run"
    assert_same_state(comparable(conn.state), comparable(loaded.state))
    return dict(ops)


def _timers(conn: JournaledConnection) -> dict[str, list[str]]:
    """Timer ids by how they ended: fired at their deadline, cancelled before it, pending."""
    out: dict[str, list[str]] = {"fired": [], "cancelled": [], "pending": []}
    for p in conn.state.promises.values():
        if p.tags.get("resonate:timer") == "true":
            how = "pending" if p.state == "pending" else "fired" if p.settled_at == p.timeout_at else "cancelled"
            out[how].append(p.id)
    return out


# -- durable sleeps ------------------------------------------------------------


async def napper(ctx, naps: int) -> list[int]:  # type: ignore[no-untyped-def]
    woke = []
    for i in range(naps):
        await ctx.sleep(HOUR)
        woke.append(await ctx.run(stamp, i))
    return woke


async def stamp(ctx, i: int) -> int:  # type: ignore[no-untyped-def]
    return i


def test_replay_rebuilds_a_workflow_whose_sleeps_fired(tmp_path):
    """Guards journaling the timer loop's firings (OP_TICK)."""
    clock = ManualClock(1_000_000.0)

    async def scenario() -> tuple[list[int], dict[str, int]]:
        async with embedded(tmp_path, clock, napper, stamp) as (conn, r):
            handle = r.options(timeout=timedelta(days=30)).run("root", "napper", 3)
            for nap in range(3):
                await until(lambda: _asleep_in(conn, nap + 1), what=f"asleep in nap {nap + 1}")
                clock.advance(hours=1, seconds=1)
            result = await asyncio.wait_for(handle.result(), 20)
        return result, _check_replay(conn, tmp_path)

    result, ops = asyncio.run(scenario())
    assert result == [0, 1, 2]
    assert ops.get("tick", 0) >= 3  # each firing is in the journal


# -- the trip's reminder and parking -----------------------------------------------


def _waiting_on_a_timer(conn: JournaledConnection) -> bool:
    """The trip sleeps: its workflows are suspended and one durable timer runs."""
    timers = set(_pending_timers(conn))
    busy = [t for t in conn.state.tasks.values()
            if t.state != "fulfilled" and t.id not in timers and not t.id.startswith(tuple(timers))]
    return len(timers) == 1 and bool(busy) and all(t.state == "suspended" for t in busy)


def test_replay_rebuilds_a_trip_that_was_reminded_parked_and_woken(tmp_path):
    """The real trip workflow across its reminder, its parking and a late reply
    that cancels the last timer. Guards journaling timer firings (OP_TICK)."""
    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_REMIND_AFTER_HOURS="2",
                           TRAVEL_PLANNER_PARK_AFTER_HOURS="3")

        async def scenario() -> tuple[Any, dict[str, int], dict[str, list[str]]]:
            async with planner(env, clock=clock) as p:
                conn = p.runtime.connection
                await p.start("quiet", "Lisbon")
                await p.wait_for("ask", 1)
                await until(lambda: _waiting_on_a_timer(conn), what="the reminder timer")
                clock.advance(hours=2, seconds=1)
                await p.wait_for("notice", 1)  # the reminder
                await until(lambda: _waiting_on_a_timer(conn), what="the parking timer")
                clock.advance(hours=3, seconds=1)
                await p.wait_for("notice", 2)  # parked
                await until(lambda: ("parked", "") in p.chat.states and _waiting_on_a_timer(conn),
                            what="parked, on the deadline timer")
                clock.advance(hours=30)
                await p.reply("quiet", "May 1-4")  # wakes it; the deadline timer is cancelled
                await p.wait_for("ask", 2)
                await until(lambda: _waiting_on_a_timer(conn), what="the next question's reminder timer")
                chat = p.chat
            return chat, _check_replay(conn, tmp_path), _timers(conn)

        chat, ops, timers = asyncio.run(scenario())

    assert "parked" in chat.of("notice")[1]
    assert tuple(chat.of("ask")) == QUESTIONS[:2]
    assert len(timers["fired"]) == 2 and len(timers["cancelled"]) == 1 and len(timers["pending"]) == 1
    assert ops.get("tick", 0) >= 2  # the reminder and the parking fired from the timer loop


# -- promises that time out ----------------------------------------------------------


async def awaits_an_answer(ctx) -> str:  # type: ignore[no-untyped-def]
    try:
        await ctx.promise(timeout=HOUR)
    except Exception as exc:  # the SDK raises its timeout error
        return f"timed out ({type(exc).__name__})"
    return "answered"


async def awaits_two_answers(ctx) -> str:  # type: ignore[no-untyped-def]
    """Waits on the long promise first: the short one times out meanwhile,
    noticed when the body replays and re-creates it."""
    short = ctx.promise(timeout=HOUR)
    long = ctx.promise(timeout=timedelta(days=30))
    answer = await long
    try:
        await short
    except Exception:
        return f"short timed out, long said {answer}"
    return "short answered"


async def awaits_forever(ctx) -> Any:  # type: ignore[no-untyped-def]
    return await ctx.promise()  # capped at the top-level promise's own timeout


def test_replay_rebuilds_a_promise_a_read_timed_out(tmp_path):
    """A `ctx.promise(timeout=...)` times out when something reads it after its
    deadline (the timer loop never expires a promise without a target).
    Guards journaling the reads that time a promise out."""
    clock = ManualClock(1_000_000.0)

    async def scenario() -> tuple[str, str, dict[str, int]]:
        async with embedded(tmp_path, clock, awaits_an_answer, timer_loop=False) as (conn, r):
            handle = r.options(timeout=timedelta(days=30)).run("root", "awaits_an_answer")
            await until(lambda: _suspended(conn), what="waiting on its promise")
            clock.advance(hours=1, seconds=1)
            seen = (await r.promises.get("root:1")).state
            result = await asyncio.wait_for(handle.result(), 20)
        return seen, result, _check_replay(conn, tmp_path)

    seen, result, ops = asyncio.run(scenario())
    assert seen == "rejected_timedout"
    assert result.startswith("timed out")
    assert ops.get("tick", 0) == 0  # the read did it, not the timer loop


def test_replay_rebuilds_a_promise_its_replayed_workflow_timed_out(tmp_path):
    """The body's replay re-creates a promise past its deadline, which times
    it out. Guards journaling a fenced create that times its promise out."""
    clock = ManualClock(1_000_000.0)

    async def scenario() -> tuple[str, dict[str, int]]:
        async with embedded(tmp_path, clock, awaits_two_answers, timer_loop=False) as (conn, r):
            handle = r.options(timeout=timedelta(days=30)).run("root", "awaits_two_answers")
            await until(lambda: _suspended(conn), what="waiting on the long promise")
            clock.advance(hours=1, seconds=1)
            await r.promises.resolve("root:2", Value(data="yes"))
            result = await asyncio.wait_for(handle.result(), 20)
        return result, _check_replay(conn, tmp_path)

    result, ops = asyncio.run(scenario())
    assert result == "short timed out, long said yes"
    assert ops.get("tick", 0) == 0


def _timed_out(conn: JournaledConnection, promise_id: str) -> bool:
    p = conn.state.promises.get(promise_id)
    task = conn.state.tasks.get(promise_id)
    return p is not None and p.state == "rejected_timedout" and task is not None and task.state == "fulfilled"


def test_replay_rebuilds_a_top_level_promise_the_timer_loop_timed_out(tmp_path):
    """A workflow's own promise times out at its deadline, from the timer loop.
    Guards journaling the timer loop's firings (OP_TICK)."""
    clock = ManualClock(1_000_000.0)

    async def scenario() -> dict[str, int]:
        async with embedded(tmp_path, clock, awaits_forever) as (conn, r):
            r.options(timeout=HOUR).run("root", "awaits_forever")
            await until(lambda: _suspended(conn), what="waiting on its promise")
            clock.advance(hours=1, seconds=1)
            await until(lambda: _timed_out(conn, "root"), what="the workflow timed out")
        return _check_replay(conn, tmp_path)

    ops = asyncio.run(scenario())
    assert ops.get("tick", 0) >= 1


def test_replay_rebuilds_a_top_level_promise_a_read_timed_out(tmp_path):
    """The same deadline, noticed by a read before the timer loop comes round.
    Guards journaling the reads that time a promise out."""
    clock = ManualClock(1_000_000.0)

    async def scenario() -> tuple[str, dict[str, int]]:
        async with embedded(tmp_path, clock, awaits_forever, timer_loop=False) as (conn, r):
            r.options(timeout=HOUR).run("root", "awaits_forever")
            await until(lambda: _suspended(conn), what="waiting on its promise")
            clock.advance(hours=1, seconds=1)
            seen = (await r.promises.get("root")).state
            await until(lambda: _timed_out(conn, "root"), what="the workflow timed out")
        return seen, _check_replay(conn, tmp_path)

    seen, ops = asyncio.run(scenario())
    assert seen == "rejected_timedout"
    assert ops.get("tick", 0) == 0


def test_replay_rebuilds_a_promise_a_second_create_timed_out(tmp_path):
    """Creating an existing promise again after its deadline times it out.
    Guards journaling a create of an existing promise that times it out."""
    clock = ManualClock(1_000_000.0)

    async def scenario() -> tuple[str, str, dict[str, int]]:
        async with embedded(tmp_path, clock, timer_loop=False) as (conn, r):
            deadline = int(clock() * 1000) + 3_600_000
            first = await r.promises.create("answer", deadline, Value(data=None), {})
            clock.advance(hours=1, seconds=1)
            again = await r.promises.create("answer", deadline, Value(data=None), {})
        return first.state, again.state, _check_replay(conn, tmp_path)

    first, again, ops = asyncio.run(scenario())
    assert (first, again) == ("pending", "rejected_timedout")
    assert ops.get("tick", 0) == 0
