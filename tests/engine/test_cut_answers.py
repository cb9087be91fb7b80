"""Answers cut off at the output limit (`finish_reason: "length"`).

The loop asks once more, for a shorter answer, as its own durable LLM step;
a cut answer is never used (its text is not posted, its tool calls never
run). Cut twice, the thread is told and the trip waits for people.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from workflows.prompts import NUDGE_CUT

from tests.engine.harness import planner
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import call_tools, cut, say

LONG_QUESTION = "Before I plan anything, tell me about every person going, " + "their wishes " * 40 + "?"
SHORT_QUESTION = "Which dates?"
PLAN = "# Lisbon\n\n## Day 1\nAlfama.\n\nTRIP PLANNING COMPLETE"


def _nudged(messages: list[dict[str, Any]]) -> bool:
    return messages[-1].get("content") == NUDGE_CUT


def _assistant_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("content") or "") for m in messages if m["role"] == "assistant"]


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not await predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_a_cut_question_is_asked_again_shorter_and_only_the_short_one_is_posted(tmp_path):
    def script(messages):  # type: ignore[no-untyped-def]
        if _nudged(messages):
            return say(SHORT_QUESTION)
        if len(messages) == 1:
            return cut(say(LONG_QUESTION), keep=60)
        return say(PLAN)

    with research_fakes(lambda url: script) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("cut-once", "Lisbon")
                asked = await p.wait_for("ask", 1)
                await p.reply("cut-once", "May 1-4")
                return asked, await p.outcome("cut-once")
        asked, outcome = asyncio.run(scenario())

    assert asked == [SHORT_QUESTION]  # the cut text never reached the thread
    first, second, third = (c.messages for c in llm.calls)
    assert second == [*first, {"role": "user", "content": NUDGE_CUT}]  # asked again, saying why
    # The nudge and the cut answer stay out of the transcript.
    assert [m["content"] for m in third[1:]] == ["Trip request from ana: Lisbon", SHORT_QUESTION, "[ana] May 1-4"]
    assert outcome["status"] == "done" and outcome["usage"]["llm_calls"] == 3  # the cut call was paid: counted
    assert llm.repeated_answers() == []


def test_a_cut_research_round_runs_none_of_its_calls(tmp_path):
    """Cut after one whole call: not even the whole one runs; the shorter round does."""
    def script(messages):  # type: ignore[no-untyped-def]
        if _nudged(messages):
            return call_tools(("internet_search", {"search_query": "Lisbon hotels"}))
        if len(messages) == 1:
            return cut(call_tools(("internet_search", {"search_query": "Lisbon hotels in Alfama"}),
                                  ("internet_search", {"search_query": "Lisbon restaurants " + "x" * 200})),
                       keep=80)
        return say(PLAN)

    with research_fakes(lambda url: script) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("cut-tools", "Lisbon")
                return await p.outcome("cut-tools")
        outcome = asyncio.run(scenario())

    assert outcome["status"] == "done"
    assert [json.loads(body)["q"] for path, body in serper.requests if path == "/search"] == ["Lisbon hotels"]
    assert outcome["usage"]["llm_calls"] == 3 and outcome["usage"]["tool_calls"] == 1
    last = llm.calls[-1].messages
    assert [m["role"] for m in last[1:]] == ["user", "assistant", "tool"]  # no trace of the cut round


def test_cut_twice_tells_the_thread_and_waits_then_a_reply_goes_on(tmp_path):
    def script(messages):  # type: ignore[no-untyped-def]
        if messages[-1]["content"] == "[ana] keep it short":
            return say(PLAN)
        return cut(say(LONG_QUESTION), keep=60)

    with research_fakes(lambda url: script) as (llm, serper, site):
        async def scenario():
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("cut-twice", "Lisbon")
                told = await p.wait_for("ask", 1)

                async def waiting() -> bool:
                    trip = await p.runtime.registry.get_trip("cut-twice")
                    return trip is not None and trip.state == "waiting"

                await _until(waiting)
                calls_while_waiting = len(llm.calls)
                await p.reply("cut-twice", "keep it short")
                return told, calls_while_waiting, await p.outcome("cut-twice"), p.chat
        told, calls_while_waiting, outcome, chat = asyncio.run(scenario())

    assert calls_while_waiting == 2  # the first ask and one shorter ask, no more
    assert [c.messages[-1]["content"] for c in llm.calls[:2]] == ["Trip request from ana: Lisbon", NUDGE_CUT]
    notice = told[0]
    assert "too long and got cut off" in notice and "reply in this thread" in notice
    assert LONG_QUESTION[:60] not in notice
    # The reply carried the trip on: one more call, which saw it and no cut text.
    assert len(llm.calls) == 3 and llm.calls[2].messages[-1]["content"] == "[ana] keep it short"
    assert all(LONG_QUESTION[:60] not in t for t in _assistant_texts(llm.calls[2].messages))
    assert outcome["status"] == "done" and chat.of("plan") == ["# Lisbon\n\n## Day 1\nAlfama."]
