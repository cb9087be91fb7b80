"""Segments: bounded resume cost, hand-over, lifetimes, one owner per state."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from testing.clock import ManualClock
from tests.engine.harness import planner, until
from testing.research_fakes import research_env, research_fakes
from testing.fakes.scenario import QUESTIONS, lisbon_script

DAY_MS = 86_400_000


def _segments(runtime) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(pid for pid in runtime.connection.state.promises if ":d" in pid and "." not in pid)


def test_a_trip_hands_over_to_successor_segments_and_loses_nothing(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1")

        async def scenario():
            async with planner(env) as p:
                await p.start("seg", "Lisbon in May")
                for i, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian")):
                    await p.wait_for("ask", i + 1)
                    await p.reply("seg", answer)
                outcome = await p.outcome("seg")
                return outcome, _segments(p.runtime), p.chat

        outcome, segments, chat = asyncio.run(scenario())

    assert len(segments) == 4  # one successor per human turn, and the one that waits for changes after the plan
    assert chat.of("ask") == list(QUESTIONS)
    assert "[ana] May 1-4 | [ana] 2000 EUR | [ana] vegetarian" in outcome["plan"]
    assert llm.repeated_answers() == [] and len(llm.answered()) == 7
    # The ledger of usage travels with the hand-overs.
    assert outcome["usage"]["llm_calls"] == 7 and outcome["usage"]["tool_calls"] == 4


def test_a_reply_that_arrives_while_the_planner_researches_is_kept(tmp_path):
    """Reply B lands while a successor segment is researching; it answers Q2."""
    loop_box: dict = {}

    def script_factory(site_url: str):  # type: ignore[no-untyped-def]
        base = lisbon_script(site_url)

        def script(messages):  # type: ignore[no-untyped-def]
            if len(messages) == 5:  # the successor is busy researching
                loop, p = loop_box["loop"], loop_box["planner"]
                asyncio.run_coroutine_threadsafe(p.reply("busy", "2000 EUR", author="ben"), loop).result(5)
            return base(messages)

        return script

    with research_fakes(script_factory) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1")

        async def scenario():
            async with planner(env) as p:
                loop_box.update(loop=asyncio.get_running_loop(), planner=p)
                await p.start("busy", "Lisbon in May")
                await p.wait_for("ask", 1)
                await p.reply("busy", "May 1-4")
                await p.wait_for("ask", 3)  # Q2 was answered by the early reply
                await p.reply("busy", "vegetarian")
                return await p.outcome("busy")

        outcome = asyncio.run(scenario())

    assert "[ana] May 1-4 | [ben] 2000 EUR | [ana] vegetarian" in outcome["plan"]


def test_trip_lifetime_bounds_every_promise_not_the_sdk_one_day_default(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TRIP_LIFETIME_DAYS="30")

        async def scenario():
            async with planner(env) as p:
                await p.start("life", "Lisbon")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)  # the reply promise and its reminder timer exist
                return dict(p.runtime.connection.state.promises)

        promises = asyncio.run(scenario())

    root = promises["life"]
    assert abs(root.timeout_at - root.created_at - 30 * DAY_MS) < 60_000
    reply_waits = [p for p in promises.values() if p.tags.get("resonate:external") == "true"]
    assert reply_waits and all(p.timeout_at == root.timeout_at for p in reply_waits)
    timers = [p for p in promises.values() if p.tags.get("resonate:timer") == "true"]
    steps = [p for p in promises.values() if p.id.startswith("life:") and p is not root and p not in timers]
    assert all(p.timeout_at == root.timeout_at for p in steps)  # never now + 1 day
    # The only shorter deadline is the durable reminder timer (24 h by default).
    assert [round((t.timeout_at - t.created_at) / 3_600_000) for t in timers] == [24]


def test_a_second_process_on_the_same_state_dir_is_refused(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from workflows.durable.state_dir import StateDir; "
         f"s = StateDir({str(tmp_path)!r}); print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = subprocess.run(
            [sys.executable, "-m", "travel_planner.cli", "chat", "Lisbon"],
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OPENAI_API_KEY": "k",
                 "SERPER_API_KEY": "k", "TRAVEL_PLANNER_STATE_DIR": str(tmp_path)},
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )
        assert result.returncode == 2
        assert f"pid {holder.pid}" in result.stderr and "TRAVEL_PLANNER_STATE_DIR" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    # The kernel drops the lock with its holder, even after SIGKILL.
    start = time.monotonic()
    from workflows.durable.state_dir import StateDir

    StateDir(tmp_path).close()
    assert time.monotonic() - start < 1


def test_a_segment_suspended_on_v1_resumes_on_v1_and_hands_over_to_v2(tmp_path):
    """Roll-out of v2: the v1 segment resumes on v1 code; its successor starts
    on v2, which knows the trip's deadline and ends the quiet trip before it."""
    from workflows.prompts import EXPIRED_NOTICE
    from workflows.trip import trip_v1, trip_v2
    from workflows.versions import TripVersions

    ran: list[tuple[int, str]] = []

    async def v1(ctx, state):  # type: ignore[no-untyped-def]
        ran.append((1, ctx.info.id))
        return await trip_v1(ctx, state)

    async def v2(ctx, state):  # type: ignore[no-untyped-def]
        ran.append((2, ctx.info.id))
        return await trip_v2(ctx, state)

    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1",
                           TRAVEL_PLANNER_TRIP_LIFETIME_DAYS="1", TRAVEL_PLANNER_REMIND_AFTER_HOURS="1",
                           TRAVEL_PLANNER_PARK_AFTER_HOURS="2")

        async def before_upgrade():
            async with planner(env, versions=TripVersions(registered={1: v1}, current=1), clock=clock) as p:
                await p.start("upgrade", "Lisbon in May")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)

        async def after_upgrade():
            upgraded = TripVersions(registered={1: v1, 2: v2}, current=2)
            async with planner(env, versions=upgraded, clock=clock) as p:
                await p.reply("upgrade", "May 1-4")
                await p.wait_for("ask", 1)  # question 2, asked by the v2 successor
                await until(p.settled_on_a_timer)
                clock.advance(hours=1.5)
                await p.wait_for("notice", 1)  # reminded
                await until(p.settled_on_a_timer)
                clock.advance(hours=2)
                await p.wait_for("notice", 2)  # parked
                await until(lambda: p.caught_up(clock))
                timers = [x for x in p.runtime.connection.state.promises.values()
                          if x.tags.get("resonate:timer") == "true" and x.state == "pending"]
                clock.advance(hours=20)
                outcome = await p.outcome("upgrade")
                return outcome, p.chat, timers, dict(p.runtime.connection.state.promises)

        asyncio.run(before_upgrade())
        outcome, chat, timers, promises = asyncio.run(after_upgrade())

    assert outcome["status"] == "expired"
    assert chat.of("ask") == [QUESTIONS[1]] and chat.of("notice")[2:] == [EXPIRED_NOTICE]
    assert {seg for version, seg in ran if version == 1} == {"upgrade"}  # the suspended v1 segment stayed on v1
    successors = {seg for version, seg in ran if version == 2}
    assert len(successors) == 1 and "upgrade" not in successors  # its successor started on v2
    # The successor's own deadline is the trip's (the SDK caps it at the root's),
    # and it ends the trip an hour before it.
    root = promises["upgrade"]
    assert promises[successors.pop()].timeout_at == root.timeout_at
    assert [t.timeout_at for t in timers] == [root.timeout_at - 3_600_000]
