"""The trip loop over real HTTP: scripted LLM, fake search API, fake pages."""

from __future__ import annotations

import asyncio
import json

from tests.engine.harness import planner, until
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import Fault, cached, call_tools, say
from testing.fakes.scenario import QUESTIONS, lisbon_script

ANSWERS = ("May 1-4", "2000 EUR", "vegetarian")


async def _converse(p, trip_id: str = "trip-1") -> dict:  # type: ignore[no-untyped-def]
    await p.start(trip_id, "Lisbon in May, 4 people")
    for i, answer in enumerate(ANSWERS):
        await p.wait_for("ask", i + 1)
        await p.reply(trip_id, answer)
    return await p.outcome(trip_id)


def test_multi_turn_conversation_with_tool_calls(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                outcome = await _converse(p)
                return outcome, p.chat
        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    assert chat.of("ask") == list(QUESTIONS)
    assert len(chat.of("plan")) == 1
    plan = chat.of("plan")[0]
    assert "TRIP PLANNING COMPLETE" not in plan  # the sentinel is stripped
    assert "[ana] May 1-4 | [ana] 2000 EUR | [ana] vegetarian" in plan
    assert len(llm.answered()) == 7 and llm.repeated_answers() == []
    assert sum(1 for path, _ in serper.requests if path == "/search") == 2
    assert sorted(p for p, _ in site.requests) == ["/lisbon-hotels", "/sintra"]
    # The LLM read the page through the untrusted-content fence.
    tool_messages = [m for m in llm.calls[-1].messages if m["role"] == "tool"]
    assert any("Alfama is the oldest district" in m["content"] for m in tool_messages)
    assert outcome["usage"]["llm_calls"] == 7 and outcome["usage"]["tool_calls"] == 4
    assert len(chat.of("progress")) == 3  # one line per research round



def _cached_after_the_first(site_url: str):  # type: ignore[no-untyped-def]
    # Every request after the first repeats its prefix: OpenAI's cache serves 60 of its 100 prompt tokens.
    lisbon = lisbon_script(site_url)
    return lambda messages: lisbon(messages) if len(messages) == 1 else cached(lisbon(messages), 60)


def test_the_plan_footer_counts_cached_input_and_bills_it_at_its_own_price(tmp_path):
    with research_fakes(_cached_after_the_first) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_PRICE_PER_MTOK="input=2000,output=8000,cached=500")

        async def scenario():
            async with planner(env) as p:
                return await _converse(p), p.chat
        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    assert outcome["usage"]["cached_tokens"] == 6 * 60  # 7 LLM calls, all but the first served from the cache
    # 340 uncached in at $2,000 + 360 cached at $500 + 140 out at $8,000 per million = $0.68 + $0.18 + $1.12
    assert chat.footers[-1] == "Planning used 7 AI calls, 840 tokens (360 cached) and 4 web lookups (about $1.98)."

def _script_with_broken_calls(site_url: str):  # type: ignore[no-untyped-def]
    def script(messages):  # type: ignore[no-untyped-def]
        n = len(messages)
        if n == 1:
            return call_tools(
                ("scrape_website", '{"url": "http://x'),  # invalid JSON
                ("internet_search", {"num_results": 3}),  # missing field
                ("book_flight", {"to": "LIS"}),  # unknown tool
            )
        if n == 5:
            return say("TRIP PLANNING COMPLETE\nA plan written after three broken tool calls.")
        return say("unexpected")
    return script


def test_broken_tool_calls_go_back_to_the_llm_and_the_loop_continues(tmp_path):
    with research_fakes(_script_with_broken_calls) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-broken", "Porto")
                return await p.outcome("trip-broken"), p.chat
        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    errors = [m["content"] for m in llm.calls[-1].messages if m["role"] == "tool"]
    assert "not valid JSON" in errors[0]
    assert "missing required field 'search_query'" in errors[1]
    assert "unknown tool 'book_flight'" in errors[2] and "internet_search" in errors[2]
    assert serper.requests == [] and site.requests == []  # nothing ran on bad arguments
    assert chat.of("plan") == ["A plan written after three broken tool calls."]


def test_429_is_retried_with_retry_after_and_the_trip_goes_on(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        llm.inject(Fault(status=429, code="rate_limit_exceeded", headers={"retry-after-ms": "150"}))
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-429", "Lisbon")
                return await p.wait_for("ask", 1), p.chat
        questions, chat = asyncio.run(scenario())

    assert questions == [QUESTIONS[0]]
    assert [c.status for c in llm.calls] == [429, 200]
    assert llm.calls[1].started - llm.calls[0].started >= 0.15  # Retry-After honoured
    assert chat.of("notice") == []


def test_401_is_not_retried_people_are_told_and_a_reply_resumes(tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        llm.inject(Fault(status=401, code="invalid_api_key", message="Incorrect API key provided"))
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-401", "Lisbon")
                notice = await p.wait_for("ask", 1)
                await until(p.settled_on_a_timer)  # it waits for people, no retry in flight
                calls_after_failure = len(llm.calls)
                await p.reply("trip-401", "fixed the key, go on")
                return notice, calls_after_failure, await p.outcome("trip-401")
        notice, calls_after_failure, outcome = asyncio.run(scenario())

    assert calls_after_failure == 1  # no retry of a 401
    assert "rejected our credentials" in notice[0] and "OPENAI_API_KEY" in notice[0]
    assert "sk-test" not in notice[0]  # the key never reaches people
    # The reply resumed the trip: the LLM was called again and saw it.
    assert [c.status for c in llm.calls] == [401, 200]
    assert llm.calls[1].messages[-1]["content"] == "[ana] fixed the key, go on"
    assert outcome["status"] == "done"


def test_a_wrong_key_tells_the_thread_and_a_reply_after_the_fix_resumes(tmp_path):
    """The provider refuses the key (OpenAI's 401); the operator fixes
    OPENAI_API_KEY and restarts; a reply carries the trip on."""
    wrong_key = "sk-proj-wrong-key-4321"
    with research_fakes(lisbon_script, allow_refusals=True) as (llm, serper, site):
        async def with_the_wrong_key():
            async with planner(research_env(llm, serper, tmp_path, OPENAI_API_KEY=wrong_key)) as p:
                await p.start("trip-key", "Lisbon")
                notice = await p.wait_for("ask", 1)
                return notice, len(llm.calls)

        async def after_the_fix():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.reply("trip-key", "the key is fixed, go on")
                return await p.outcome("trip-key"), [c.status for c in llm.calls]

        notice, calls_after_failure = asyncio.run(with_the_wrong_key())
        outcome, statuses = asyncio.run(after_the_fix())

    assert calls_after_failure == 1 and llm.refusals()[0].startswith("Incorrect API key provided")
    assert "rejected our credentials" in notice[0] and "OPENAI_API_KEY" in notice[0]
    assert "4321" not in notice[0] and "sk-proj" not in notice[0]  # not even the masked key reaches people
    assert statuses == [401, 200] and outcome["status"] == "done"
    assert llm.calls[1].messages[-1]["content"] == "[ana] the key is fixed, go on"


def test_context_length_error_compacts_and_tries_once_more(tmp_path):
    def script(messages):  # type: ignore[no-untyped-def]
        return say("TRIP PLANNING COMPLETE\nShort plan.")

    with research_fakes(lambda url: script) as (llm, serper, site):
        llm.inject(Fault(status=400, code="context_length_exceeded",
                         message="This model's maximum context length is 8192 tokens"))
        env = research_env(llm, serper, tmp_path)
        async def scenario():
            async with planner(env) as p:
                await p.start("trip-ctx", "Lisbon " + "with lots of detail " * 400)
                return await p.outcome("trip-ctx")
        outcome = asyncio.run(scenario())

    assert outcome["plan"] == "Short plan."
    assert [c.status for c in llm.calls] == [400, 200]
    first, second = (len(json.dumps(c.messages)) for c in llm.calls)
    assert second < first  # compacted before the one retry


def test_replies_reach_the_llm_in_the_order_people_spoke_with_their_authors(tmp_path):
    from workflows.ports import Reply

    def script(messages):  # type: ignore[no-untyped-def]
        return say("Who is coming?") if len(messages) == 1 else say("TRIP PLANNING COMPLETE\nok")

    with research_fakes(lambda url: script) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("order", "Lisbon")
                await p.wait_for("ask", 1)
                engine = p.runtime.engine
                # Five people within a few ms; delivered out of order, one twice.
                said = [("ana", "1700000001.000100"), ("ben", "1700000001.000200"), ("cy", "1700000001.000300"),
                        ("di", "1700000001.000400"), ("ed", "1700000001.000500")]
                shuffled = [said[2], said[0], said[4], said[1], said[3], said[0]]
                await asyncio.gather(*(
                    engine.deliver_reply("order", Reply(key=f"C1:{ts}", author=who, text=f"{who} is in", ts=ts))
                    for who, ts in shuffled
                ))
                return await p.outcome("order")
        asyncio.run(scenario())

    answer = llm.calls[-1].messages[-1]["content"]
    assert answer.splitlines() == ["[ana] ana is in", "[ben] ben is in", "[cy] cy is in", "[di] di is in", "[ed] ed is in"]


def test_huge_tool_arguments_do_not_stay_in_the_transcript(tmp_path):
    from workflows.tool_calls import KEPT_ARGUMENT_CHARS, trim_for_transcript

    huge = "https://example.org/" + "x" * 60_000

    def script(messages):  # type: ignore[no-untyped-def]
        if len(messages) == 1:
            return call_tools(("scrape_website", {"url": huge}))
        return say("TRIP PLANNING COMPLETE\nDone.")

    with research_fakes(lambda url: script) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("huge", "Lisbon")
                return await p.outcome("huge")
        asyncio.run(scenario())

    second = llm.calls[1].messages
    assert len(json.dumps(second)) < 48_000  # the next request fits the budget
    tool_reply = [m for m in second if m["role"] == "tool"][0]["content"]
    assert "limit is" in tool_reply  # the model was told why the call was refused
    kept = trim_for_transcript({"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "x", "arguments": "y" * (KEPT_ARGUMENT_CHARS + 1)}}]})
    assert "omitted" in kept["tool_calls"][0]["function"]["arguments"]
