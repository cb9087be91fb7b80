"""A trip's end: it expires before its deadline, quiet or busy, and says so.

The SDK caps every timer and promise of a trip at the trip's deadline
(`TRAVEL_PLANNER_TRIP_LIFETIME_DAYS`), so a trip must end before it, by a
margin (`expiry_moment`). Time is a clock the tests move by hand.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from resonate.retry import Exponential
from resonate.types import Value

from workflows import failpoints
from workflows.ports import PostFailed
from workflows.prompts import EXPIRED_NOTICE
from workflows.trip import expiry_moment

from testing.clock import ManualClock
from tests.engine.harness import RecordingChat, planner, until
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import Fault
from testing.fakes.scenario import QUESTIONS, lisbon_script

HOUR_MS = 3_600_000
#: A one-day lifetime: the trip ends an hour (min(1 h, 5 % of a day)) before it.
ONE_DAY = {
    "TRAVEL_PLANNER_TRIP_LIFETIME_DAYS": "1",
    "TRAVEL_PLANNER_REMIND_AFTER_HOURS": "1",
    "TRAVEL_PLANNER_PARK_AFTER_HOURS": "2",
}


def test_the_margin_is_an_hour_or_a_twentieth_of_a_short_life():
    assert expiry_moment(deadline_ms=30 * 24 * HOUR_MS, started_ms=0) == 30 * 24 * HOUR_MS - HOUR_MS
    assert expiry_moment(deadline_ms=10 * HOUR_MS, started_ms=0) == 10 * HOUR_MS - HOUR_MS // 2
    assert expiry_moment(deadline_ms=1_000, started_ms=2_000) == 1_000  # no life left: no margin


def test_a_quiet_trip_expires_before_its_deadline_and_says_so(tmp_path):
    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, **ONE_DAY)

        async def scenario():
            async with planner(env, clock=clock) as p:
                await p.start("quiet", "Lisbon")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)
                clock.advance(hours=1.5)
                await p.wait_for("notice", 1)  # reminded
                await until(p.settled_on_a_timer)
                clock.advance(hours=2)
                await until(lambda: ("parked", "") in p.chat.states)
                await until(lambda: p.caught_up(clock))
                clock.advance(hours=19.4)  # 22.9 h: inside its life still
                await until(lambda: p.caught_up(clock))
                before = (list(p.chat.of("notice")), (await p.runtime.registry.get_trip("quiet")).state)
                clock.advance(hours=0.2)  # 23.1 h: past deadline - margin, before the deadline
                outcome = await p.outcome("quiet")
                record = await p.runtime.registry.get_trip("quiet")
                root = p.runtime.connection.state.promises["quiet"]
                return before, outcome, record, p.chat, root

        before, outcome, record, chat, root = asyncio.run(scenario())

    notices, state = before
    assert len(notices) == 2 and state == "parked"  # reminded and parked, not expired yet
    assert outcome["status"] == "expired"
    assert chat.of("notice")[2:] == [EXPIRED_NOTICE]
    assert chat.states[-1] == ("expired", "") and record.state == "expired" and record.last_question == ""
    assert root.state == "resolved"  # ended by the trip itself, not timed out by the store
    assert len(llm.calls) == 1  # waiting, parking and expiring cost no LLM call


def test_a_trip_that_wakes_after_its_life_ended_expires_without_reminding(tmp_path):
    """The process was down for a day: the overdue reminder is not posted."""
    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, **ONE_DAY)

        async def scenario():
            async with planner(env, clock=clock) as p:
                await p.start("late", "Lisbon")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)
            clock.advance(hours=23.5)  # while no process runs
            async with planner(env, clock=clock) as p:
                outcome = await p.outcome("late")
                return outcome, p.chat, await p.runtime.registry.get_trip("late")

        outcome, chat, record = asyncio.run(scenario())

    assert outcome["status"] == "expired"
    assert chat.of("notice") == [EXPIRED_NOTICE]
    assert record.state == "expired"


def test_a_trip_busy_with_an_llm_outage_at_its_deadline_expires(tmp_path):
    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, **ONE_DAY, TRAVEL_PLANNER_LLM_MAX_RETRIES="1",
                           TRAVEL_PLANNER_PROVIDER_RETRY_MINUTES="60")

        async def scenario():
            async with planner(env, clock=clock) as p:
                await p.start("down", "Lisbon")
                await p.wait_for("ask", 1)
                llm.inject(*[Fault(status=503, message="upstream overloaded") for _ in range(100)])
                await p.reply("down", "May 1-4")
                await p.wait_for("notice", 1)  # the thread is told the provider is down
                sleeps = []
                while True:  # pauses of 1, 2, 3, 4, 5, 5 ... hours
                    await until(lambda: p.caught_up(clock) or len(p.chat.of("notice")) >= 2)
                    if len(p.chat.of("notice")) >= 2:
                        break
                    [timer] = [x for x in p.runtime.connection.state.promises.values()
                               if x.tags.get("resonate:timer") == "true" and x.state == "pending"]
                    sleeps.append(timer.timeout_at)
                    clock.now = timer.timeout_at / 1000 + 1
                outcome = await p.outcome("down")
                root = p.runtime.connection.state.promises["down"]
                return outcome, p.chat, sleeps, root, await p.runtime.registry.get_trip("down")

        outcome, chat, sleeps, root, record = asyncio.run(scenario())

    assert outcome["status"] == "expired"
    assert "can't reach the AI provider" in chat.of("notice")[0]
    assert chat.of("notice")[1:] == [EXPIRED_NOTICE]
    assert record.state == "expired" and root.state == "resolved"
    expires_at = root.timeout_at - HOUR_MS
    assert abs(sleeps[-1] - expires_at) <= 1  # the last pause was cut short at the trip's expiry (to the ms)
    assert all(t < expires_at for t in sleeps[:-1])


def test_a_question_asked_after_the_expiry_moment_expires_at_once(tmp_path):
    """The research after an answer ran past the trip's expiry moment."""
    clock = ManualClock()
    box: dict = {}

    def script_factory(site_url):  # type: ignore[no-untyped-def]
        base = lisbon_script(site_url)

        def script(messages):  # type: ignore[no-untyped-def]
            if len(messages) > 1 and "late" not in box:  # the answer to question 1 is being read...
                box["late"] = True
                # ...and the call takes 42 s of a 43.2 s life (within the
                # step's lease: the clock only moves here).
                clock.advance(seconds=42)
            return base(messages)

        return script

    with research_fakes(script_factory) as (llm, serper, site):
        # 43.2 s: the trip ends 5 % (2.16 s) before its deadline, at 41.04 s.
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TRIP_LIFETIME_DAYS="0.0005")

        async def scenario():
            async with planner(env, clock=clock) as p:
                await p.start("margin", "Lisbon")
                await p.wait_for("ask", 1)
                await p.reply("margin", "May 1-4")
                outcome = await p.outcome("margin")
                return outcome, p.chat, p.runtime.connection.state.promises["margin"]

        outcome, chat, root = asyncio.run(scenario())

    assert outcome["status"] == "expired"
    assert chat.of("ask") == list(QUESTIONS[:2])  # question 2 was asked, then the trip ended at once
    assert chat.of("notice") == [EXPIRED_NOTICE]
    assert root.state == "resolved"


@pytest.mark.parametrize("which", ["reply promise", "reminder timer"])
def test_a_wait_an_engine_rejects_ends_the_trip_as_expired(tmp_path, which):
    """The Postgres engine times a trip's promises out and fails the wait
    (`ApplicationError`); the embedded store never does, so reject one here."""
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env) as p:
                await p.start("rejected", "Lisbon")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)
                tag = "resonate:external" if which == "reply promise" else "resonate:timer"
                [waited] = [x.id for x in p.runtime.connection.state.promises.values()
                            if x.tags.get(tag) == "true" and x.state == "pending"]
                await p.runtime.resonate.promises.reject(waited, Value(data=None))
                outcome = await p.outcome("rejected")
                promises = p.runtime.connection.state.promises
                pending = [x.id for x in promises.values() if x.state == "pending"]
                return outcome, p.chat, await p.runtime.registry.get_trip("rejected"), pending

        outcome, chat, record, pending = asyncio.run(scenario())

    assert outcome["status"] == "expired"
    assert chat.of("notice") == [EXPIRED_NOTICE] and record.state == "expired"
    assert pending == []  # nothing of the trip is left waiting


def test_time_passing_between_now_and_the_timer_does_not_make_the_expiry_late(tmp_path, monkeypatch):
    """The clock moves right after the wait's `now_step` is stored, before its
    timer exists, as it does across a crash and a restart there (the crash
    point `after:now_step`): the timer is still due at the expiry moment, not
    that much later (here: at the deadline, where the trip could no longer
    end cleanly)."""
    clock = ManualClock()
    real_reached = failpoints.reached
    visits: Counter[str] = Counter()

    def reached(point: str) -> None:
        visits[point] += 1
        if point == "after:now_step" and visits[point] == 2:  # the wait's "now", after the segment's first
            clock.advance(seconds=30)  # within the task's lease: only a restart takes longer
        real_reached(point)

    monkeypatch.setattr(failpoints, "reached", reached)
    failpoints.arm("after:now_step:1000")  # step boundaries observed, nothing killed
    try:
        with research_fakes(lisbon_script) as (llm, serper, site):
            # 43.2 s: the trip ends 5 % (2.16 s) before its deadline, at 41.04 s.
            env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TRIP_LIFETIME_DAYS="0.0005")

            async def scenario():
                async with planner(env, clock=clock) as p:
                    await p.start("moved", "Lisbon")
                    await p.wait_for("ask", 1)
                    await until(p.settled_on_a_timer)
                    promises = p.runtime.connection.state.promises
                    [timer] = [x for x in promises.values() if x.tags.get("resonate:timer") == "true"]
                    assert visits["after:now_step"] == 2
                    # The expiry moment, though the timer was made 30 s late.
                    assert timer.timeout_at == promises["moved"].timeout_at - 2_160
                    clock.advance(seconds=11.1)  # 41.1 s
                    return await p.outcome("moved"), p.chat

            outcome, chat = asyncio.run(scenario())
    finally:
        failpoints.arm(None)

    assert outcome["status"] == "expired" and chat.of("notice") == [EXPIRED_NOTICE]


def test_slack_down_when_the_trip_expires_delays_the_notice_and_never_fails_the_trip(tmp_path, monkeypatch):
    """The expiry notice may take the rest of the trip's life: its retries
    are not cut short at the expiry moment (which would end the workflow with
    an error instead)."""
    from workflows import trip

    # Each post attempt retries once, at once (the product's rides out ~10 minutes of real time).
    monkeypatch.setattr(trip, "_OUTAGE_RETRY", Exponential(delay=0.01, factor=1, max_delay=0.01, max_retries=1))

    class SlackDownAtTheEnd(RecordingChat):
        failures_left = 2  # one post attempt, with its retry

        async def notice(self, thread, text, *, key):  # type: ignore[no-untyped-def]
            if text == EXPIRED_NOTICE and self.failures_left:
                SlackDownAtTheEnd.failures_left -= 1
                raise PostFailed("Slack answered 503")
            await super().notice(thread, text, key=key)

    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, **ONE_DAY)

        async def scenario():
            async with planner(env, clock=clock, chat=SlackDownAtTheEnd) as p:
                await p.start("slack-down", "Lisbon")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)
                for hours in (1.5, 2):  # reminded, parked
                    clock.advance(hours=hours)
                    await until(lambda: p.caught_up(clock))
                clock.advance(hours=19.6)  # past the expiry moment
                await until(lambda: SlackDownAtTheEnd.failures_left == 0 and p.caught_up(clock))
                assert p.chat.of("notice")[2:] == []  # not posted yet: the trip waits to try again
                clock.advance(hours=0.1)  # 6 minutes later, still before the deadline
                return await p.outcome("slack-down"), p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "expired"
    assert chat.of("notice")[2:] == [EXPIRED_NOTICE]
