"""Changes after the plan (workflow v3), on the engine with a recording chat:
a message after the plan reopens the conversation and its next plan is v2;
only the lifetime timer runs while a plan waits for changes; `close` and the
end of the lifetime end a planned trip without a failure's tone."""

from __future__ import annotations

import asyncio
from typing import Any

from testing.clock import ManualClock
from testing.fakes.llm_server import say
from testing.fakes.scenario import lisbon_script
from testing.research_fakes import research_env, research_fakes
from tests.engine.harness import planner, until
from tests.registry.conftest import open_sqlite
from tests.registry.records import trip
from workflows.ports import Reply
from workflows.registry import SqliteThreadRegistry
from workflows.runtime import forget_finished_trips
from workflows.trip import trip_v2, trip_v3
from workflows.versions import TripVersions

CHANGE = "swap day 1 and 2"
REVISED = "# Lisbon trip\n\n## Day 1\nSintra.\n\n## Day 2\nAlfama.\n\nTRIP PLANNING COMPLETE"


def changes_script(site_url: str) -> Any:
    """The Lisbon trip, then a revised plan for the change, asking first when
    the change is vague ("a museum")."""
    base = lisbon_script(site_url)

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        last = str(messages[-1].get("content") or "")
        if messages[-1]["role"] == "user" and CHANGE in last:
            return say(REVISED)
        if messages[-1]["role"] == "user" and "a museum" in last:
            return say("Which museum: tiles or coaches?")
        if messages[-1]["role"] == "user" and "tiles" in last:
            return say("# Lisbon trip\n\n## Day 1\nTile museum.\n\nTRIP PLANNING COMPLETE")
        return base(messages)

    return script


async def _plan(p: Any, trip_id: str) -> dict[str, Any]:
    await p.start(trip_id, "Lisbon in May")
    for i, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian")):
        await p.wait_for("ask", i + 1)
        await p.reply(trip_id, answer)
    return await p.outcome(trip_id)


def test_a_change_after_the_plan_gets_plan_v2_with_the_plan_and_the_request_in_view(tmp_path):
    with research_fakes(changes_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env) as p:
                first = await _plan(p, "chg")
                calls = len(llm.calls)
                await p.reply("chg", CHANGE)
                await p.wait_for("plan", 2)
                await until(lambda: [s for s, _ in p.chat.states].count("done") == 2)
                record = await p.runtime.registry.get_trip("chg")
                return first, calls, p.chat, record

        first, calls, chat, record = asyncio.run(scenario())

    assert first["status"] == "done" and first["version"] == 1
    assert len(chat.of("plan")) == 2 and "Sintra" in chat.of("plan")[1].split("## Day 1")[1]
    assert len(llm.calls) == calls + 1  # one LLM call for the change, no more
    seen = llm.calls[calls].messages
    assert "The plan you posted (v1)" in seen[0]["content"] and "Alfama walk and fado" in seen[0]["content"]
    assert seen[-1]["role"] == "user" and CHANGE in seen[-1]["content"]
    assert sum(CHANGE in str(m.get("content")) for m in seen) == 1  # read once
    assert record.plan_versions == 2 and record.state == "done"
    assert llm.repeated_answers() == []


def test_while_a_plan_waits_for_changes_no_reminder_or_parking_runs_and_a_question_has_them_again(tmp_path):
    clock = ManualClock()
    with research_fakes(changes_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_REMIND_AFTER_HOURS="24",
                           TRAVEL_PLANNER_PARK_AFTER_HOURS="48")

        async def scenario():
            async with planner(env, clock=clock) as p:
                await _plan(p, "calm")
                await until(p.settled_on_a_timer)  # the lifetime timer alone
                clock.advance(hours=24 * 4)  # past any reminder and parking
                await until(lambda: p.caught_up(clock))
                quiet_notices = list(p.chat.of("notice"))
                state = (await p.runtime.registry.get_trip("calm")).state
                await p.reply("calm", "add a museum")
                await p.wait_for("ask", 4)  # the planner asks which one
                await until(p.settled_on_a_timer)
                clock.advance(hours=25)  # a question waits: the reminder runs again
                await p.wait_for("notice", 1)
                await p.reply("calm", "tiles")
                await p.wait_for("plan", 2)
                return quiet_notices, state, p.chat

        quiet_notices, state, chat = asyncio.run(scenario())

    assert quiet_notices == [] and state == "done"
    assert "Which museum" in chat.of("notice")[0]  # the reminder names the question
    assert "Tile museum" in chat.of("plan")[1]


def test_close_ends_a_planned_trip_with_a_short_notice_and_no_llm_call(tmp_path):
    with research_fakes(changes_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env) as p:
                first = await _plan(p, "cls")
                calls = len(llm.calls)
                await p.runtime.engine.deliver_reply(
                    "cls", Reply(key="control:close:1", author="ben", text="close", kind="close")
                )
                closed = await p.outcome(first["successor"])
                record = await p.runtime.registry.get_trip("cls")
                return closed, calls, p.chat, record

        closed, calls, chat, record = asyncio.run(scenario())

    assert closed["status"] == "closed" and closed["by"] == "ben"
    assert len(llm.calls) == calls
    assert chat.of("notice") == ["Trip closed by ben. The plan (v1) above is final; I'm no longer taking changes."]
    assert record.state == "closed" and chat.states[-1][0] == "closed"
    assert chat.states[-1][1] == chat.posts[[p.kind for p in chat.posts].index("plan")].key  # the root keeps its link


def test_the_end_of_the_lifetime_after_a_plan_closes_it_without_an_expiry_failure(tmp_path):
    clock = ManualClock()
    with research_fakes(changes_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TRIP_LIFETIME_DAYS="2")

        async def scenario():
            async with planner(env, clock=clock) as p:
                first = await _plan(p, "life")
                await until(p.settled_on_a_timer)
                clock.advance(hours=47.5)
                ended = await p.outcome(first["successor"])
                record = await p.runtime.registry.get_trip("life")
                return ended, p.chat, record

        ended, chat, record = asyncio.run(scenario())

    assert ended["status"] == "closed"
    [notice] = chat.of("notice")
    assert "end of its planning window" in notice and "plan (v1) above stays" in notice
    assert record.state == "closed"


def test_retention_forgets_a_closed_trip_but_keeps_a_plan_that_still_takes_changes(tmp_path):
    async def scenario():
        reg = SqliteThreadRegistry(open_sqlite(tmp_path / "r.sqlite3"), clock=lambda: 1000.0)
        for trip_id, state, versions in (("open", "done", 2), ("closed", "closed", 2), ("old", "done", 0)):
            await reg.register_trip(trip(trip_id))
            await reg.update_trip(trip_id, state=state, plan_versions=versions)
        forgotten = await forget_finished_trips(reg, finished_before=2000.0)
        return forgotten, [t.trip_id for t in await reg.list_trips()]

    forgotten, kept = asyncio.run(scenario())
    assert forgotten == 2 and kept == ["open"]


def test_a_segment_suspended_on_v2_ends_at_its_plan_as_before_after_v3_rolls_out(tmp_path):
    """Roll-out of v3: a v2 segment waiting on its last question resumes on
    v2 and ends at its plan (no successor, no version count), as v2 did."""
    ran: list[tuple[int, str]] = []

    async def v2(ctx, state):  # type: ignore[no-untyped-def]
        ran.append((2, ctx.info.id))
        return await trip_v2(ctx, state)

    async def v3(ctx, state):  # type: ignore[no-untyped-def]
        ran.append((3, ctx.info.id))
        return await trip_v3(ctx, state)

    with research_fakes(changes_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def before_upgrade():
            async with planner(env, versions=TripVersions(registered={2: v2}, current=2)) as p:
                await p.start("roll", "Lisbon in May")
                for i, answer in enumerate(("May 1-4", "2000 EUR")):
                    await p.wait_for("ask", i + 1)
                    await p.reply("roll", answer)
                await p.wait_for("ask", 3)
                await until(p.settled_on_a_timer)

        async def after_upgrade():
            async with planner(env, versions=TripVersions(registered={2: v2, 3: v3}, current=3)) as p:
                await p.reply("roll", "vegetarian")
                outcome = await p.outcome("roll")
                return outcome, await p.runtime.registry.get_trip("roll")

        asyncio.run(before_upgrade())
        outcome, record = asyncio.run(after_upgrade())

    assert outcome["status"] == "done" and "successor" not in outcome and "version" not in outcome
    assert {version for version, _ in ran} == {2}  # nothing ran on v3
    assert record.state == "done" and record.plan_versions == 0
