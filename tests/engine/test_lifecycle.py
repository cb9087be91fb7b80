"""Trip lifecycle: people who never answer, controls, budgets, visible research.

Time is a clock the tests move by hand: durable timers fire when the store's
clock passes their deadline, never because a test slept through a day.
"""

from __future__ import annotations

import asyncio

from workflows.ports import Reply

from testing.clock import ManualClock
from tests.engine.harness import planner, until
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import call_tools, say
from testing.fakes.scenario import QUESTIONS, lisbon_script


def test_a_quiet_trip_is_reminded_then_parked_and_a_late_reply_wakes_it(tmp_path):
    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_REMIND_AFTER_HOURS="24",
                           TRAVEL_PLANNER_PARK_AFTER_HOURS="48")

        async def scenario():
            async with planner(env, clock=clock) as p:
                await p.start("quiet", "Lisbon")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)
                assert p.chat.of("notice") == []
                clock.advance(hours=23)
                await until(lambda: p.caught_up(clock))
                assert p.chat.of("notice") == []  # not yet
                clock.advance(hours=1.5)
                await p.wait_for("notice", 1)
                reminder = p.chat.of("notice")[0]
                await until(p.settled_on_a_timer)  # the parking timer now runs
                clock.advance(hours=47)
                await until(lambda: p.caught_up(clock))
                assert len(p.chat.of("notice")) == 1  # one reminder, not a stream of them
                clock.advance(hours=2)
                await p.wait_for("notice", 2)
                await until(lambda: ("parked", "") in p.chat.states)
                parked_record = await p.runtime.registry.get_trip("quiet")
                calls_while_parked = len(llm.calls)
                clock.advance(hours=24 * 5)  # days later...
                await until(lambda: p.caught_up(clock))
                await p.reply("quiet", "May 1-4")  # ...someone answers
                await p.wait_for("ask", 2)
                return reminder, p.chat, parked_record, calls_while_parked

        reminder, chat, parked_record, calls_while_parked = asyncio.run(scenario())

    assert QUESTIONS[0] in reminder and "waiting for an answer" in reminder
    assert "parked" in chat.of("notice")[1]
    assert parked_record.state == "parked"
    assert chat.states[-1] == ("active", "")  # woken: the root shows it planning again
    assert chat.of("ask")[1] == QUESTIONS[1]
    assert calls_while_parked == 1  # waiting and parking cost no LLM call
    assert llm.repeated_answers() == []


def test_an_answer_before_the_quiet_period_cancels_the_reminder(tmp_path):
    clock = ManualClock()
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env, clock=clock) as p:
                await p.start("prompt", "Lisbon")
                await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)
                await p.reply("prompt", "May 1-4")
                await p.wait_for("ask", 2)
                await until(p.settled_on_a_timer)
                clock.advance(hours=23)  # the first question's timer would be due by now
                await until(lambda: p.caught_up(clock))
                timers = [x for x in p.runtime.connection.state.promises.values()
                          if x.tags.get("resonate:timer") == "true"]
                return p.chat.of("notice"), timers

        notices, timers = asyncio.run(scenario())

    assert notices == []
    assert sum(1 for t in timers if t.state == "pending") == 1  # only the current question's


def test_cancel_while_waiting_stops_the_trip_without_another_llm_call(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env) as p:
                await p.start("stop", "Lisbon")
                await p.wait_for("ask", 1)
                calls = len(llm.calls)
                await p.runtime.engine.deliver_reply(
                    "stop", Reply(key="control:cancel:1", author="ana", text="cancel", kind="cancel")
                )
                outcome = await p.outcome("stop")
                record = await p.runtime.registry.get_trip("stop")
                return outcome, calls, p.chat, record

        outcome, calls, chat, record = asyncio.run(scenario())

    assert outcome["status"] == "cancelled" and outcome["by"] == "ana"
    assert len(llm.calls) == calls  # not one more LLM call
    assert "cancelled by ana" in chat.of("notice")[-1]
    assert chat.states[-1] == ("cancelled", "") and record.state == "cancelled"


def test_cancel_during_research_stops_before_the_next_llm_call(tmp_path):
    box: dict = {}

    def script_factory(site_url):  # type: ignore[no-untyped-def]
        def script(messages):  # type: ignore[no-untyped-def]
            if len(messages) == 1:
                # While this research round runs, someone presses Cancel.
                loop, engine = box["loop"], box["engine"]
                asyncio.run_coroutine_threadsafe(engine.deliver_reply(
                    "busy", Reply(key="control:cancel:2", author="ben", text="cancel", kind="cancel")), loop).result(60)
                return call_tools(("internet_search", {"search_query": "Lisbon"}))
            return say("should never be asked")

        return script

    with research_fakes(script_factory) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env) as p:
                box.update(loop=asyncio.get_running_loop(), engine=p.runtime.engine)
                await p.start("busy", "Lisbon")
                return await p.outcome("busy")

        outcome = asyncio.run(scenario())

    assert outcome["status"] == "cancelled"
    assert len(llm.calls) == 1  # the search ran, then no further LLM call


def test_finish_with_what_you_have_asks_for_the_plan_once(tmp_path):
    def script(messages):  # type: ignore[no-untyped-def]
        if any("finish now" in (m.get("content") or "") for m in messages):
            return call_tools(("finish_trip", {"plan": "# Lisbon\nA plan from what we know."}))
        return say("Which dates?")

    with research_fakes(lambda url: script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env) as p:
                await p.start("done-now", "Lisbon")
                await p.wait_for("ask", 1)
                await p.runtime.engine.deliver_reply(
                    "done-now", Reply(key="control:finish:1", author="ana", text="finish", kind="finish")
                )
                return await p.outcome("done-now"), p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["plan"] == "# Lisbon\nA plan from what we know."
    assert llm.calls[-1].tools == ["finish_trip"]  # only the finish tool was offered
    assert len(llm.calls) == 2
    assert chat.states[-1][0] == "done" and chat.states[-1][1]  # root shows "plan ready" + link key


def test_at_the_budget_cap_people_choose_to_continue_and_usage_is_shown(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_MAX_LLM_CALLS="3",
                           TRAVEL_PLANNER_PRICE_PER_MTOK="input=1.0,output=2.0")

        async def scenario():
            async with planner(env) as p:
                await p.start("budget", "Lisbon")
                answers = iter(("May 1-4", "2000 EUR", "vegetarian"))
                asked = 0
                while True:
                    done = asyncio.ensure_future(p.outcome("budget", timeout=60))
                    more = asyncio.ensure_future(p.wait_for("ask", asked + 1, timeout=60))
                    await asyncio.wait({done, more}, return_when=asyncio.FIRST_COMPLETED)
                    if done.done():
                        more.cancel()
                        return done.result(), p.chat
                    done.cancel()
                    asked += 1
                    question = p.chat.of("ask")[-1]
                    if "planning budget" in question:
                        await p.runtime.engine.deliver_reply(
                            "budget", Reply(key=f"control:continue:{asked}", author="ana", text="continue",
                                            kind="continue"))
                    else:
                        await p.reply("budget", next(answers))

        outcome, chat = asyncio.run(scenario())

    budget_questions = [q for q in chat.of("ask") if "planning budget" in q]
    assert len(budget_questions) == 2  # at 3 and at 6 LLM calls (7 in all)
    budget_keys = [p.key for p in chat.posts if p.kind == "ask" and "planning budget" in p.text]
    assert [chat.choices[k] for k in budget_keys] == [("continue", "finish")] * 2, chat.choices
    assert outcome["status"] == "done" and outcome["usage"]["llm_calls"] == 7
    assert "[ana] May 1-4 | [ana] 2000 EUR | [ana] vegetarian" in outcome["plan"]
    footer = chat.footers[-1]
    assert "7 AI calls" in footer and "840 tokens" in footer and "4 web lookups" in footer
    assert "(under $0.01)" in footer  # 700 in + 140 out tokens at $1/$2 per million


def test_each_research_round_is_one_line_rewritten_when_done(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario():
            async with planner(env) as p:
                await p.start("lines", "Lisbon")
                for i, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian")):
                    await p.wait_for("ask", i + 1)
                    await p.reply("lines", answer)
                await p.outcome("lines")
                return p.chat.of("progress")

        lines = asyncio.run(scenario())

    assert len(lines) == 3  # one line per round, not one per step
    assert lines[0].startswith("✅ Searched: “Lisbon hotels”")
    assert "Searched: “Lisbon day trips”" in lines[2] and "Read:" in lines[2]


def test_two_clicks_on_continue_raise_the_budget_once(tmp_path):
    def script(messages):  # type: ignore[no-untyped-def]
        return say(f"Question {len(messages)}?")

    with research_fakes(lambda url: script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_MAX_LLM_CALLS="2")

        async def scenario():
            async with planner(env) as p:
                await p.start("clicks", "Lisbon")
                asked = 0
                while len([q for q in p.chat.of("ask") if "planning budget" in q]) < 2:
                    await p.wait_for("ask", asked + 1)
                    asked += 1
                    if "planning budget" in p.chat.of("ask")[-1]:
                        # Two people press Continue at the same moment.
                        await asyncio.gather(*(
                            p.runtime.engine.deliver_reply("clicks", Reply(
                                key=f"action:{who}:{asked}", author=who, text="continue", kind="continue"))
                            for who in ("ana", "ben")))
                    else:
                        await p.reply("clicks", f"answer {asked}")
                return len(llm.calls)

        calls = asyncio.run(scenario())

    assert calls == 4  # the second question about the budget came at 2 x 2 calls, not 3 x 2
