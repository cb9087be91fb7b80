"""Segments: bounded resume cost, hand-over, lifetimes, one owner per state."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from tests.engine.harness import planner, research_env, research_fakes, until
from tests.fakes.scenario import QUESTIONS, lisbon_script

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

    assert len(segments) == 3  # one successor per human turn
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


def test_a_new_workflow_version_leaves_suspended_segments_on_theirs(tmp_path):
    """Roll-out: v1 segments resume on v1 code; successors start on v2."""
    from workflows.trip import trip_v1
    from workflows.versions import TripVersions

    ran: list[tuple[int, str]] = []

    async def trip_v2(ctx, state):  # type: ignore[no-untyped-def]
        ran.append((2, ctx.info.id))
        return await trip_v1(ctx, state)

    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1")

        async def before_upgrade():
            async with planner(env) as p:
                await p.start("upgrade", "Lisbon in May")
                await p.wait_for("ask", 1)

        async def after_upgrade():
            v2 = TripVersions(registered={1: trip_v1, 2: trip_v2}, current=2)
            async with planner(env, versions=v2) as p:
                await p.reply("upgrade", "May 1-4")
                for i, answer in ((2, "2000 EUR"), (3, "vegetarian")):
                    await p.wait_for("ask", i - 1 if i == 2 else 2)  # this process's own posts
                    await p.reply("upgrade", answer)
                return await p.outcome("upgrade")

        asyncio.run(before_upgrade())
        outcome = asyncio.run(after_upgrade())

    assert outcome["status"] == "done"
    assert "upgrade" not in [seg for _, seg in ran]  # the suspended v1 segment stayed on v1
    assert len({seg for _, seg in ran}) == 3  # every successor started on v2
