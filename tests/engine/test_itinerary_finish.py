"""The trip finishes with a structured itinerary: a broken one goes back to
the LLM as a tool error naming each field and the trip goes on; the LLM's
fixed call posts the plan (its Markdown and its itinerary). A model that
sends a free-text plan still finishes, through the tool or the sentinel."""

from __future__ import annotations

import asyncio

from tests.engine.harness import planner
from testing.fakes.itinerary import BROKEN_FIELDS, QUESTION, broken_lisbon, itinerary_script
from testing.fakes.llm_server import call_tools, say
from testing.research_fakes import research_env, research_fakes
from workflows.itinerary.model import Itinerary
from workflows.ports import Reply
from workflows.prompts import FINISH_AS_TEXT, FINISH_NOW, PLAN_REFUSED_NOTICE, PLAN_TRIES


def _run(tmp_path, script_factory):  # type: ignore[no-untyped-def]
    with research_fakes(script_factory) as (llm, serper, site):
        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-1", "Lisbon in May, 4 people")
                await p.wait_for("ask", 1)
                await p.reply("trip-1", "May 1-3")
                return await p.outcome("trip-1"), p.chat
        outcome, chat = asyncio.run(scenario())
    return llm, outcome, chat


def test_a_broken_itinerary_goes_back_to_the_llm_naming_each_field_then_the_fixed_one_is_posted(tmp_path):
    llm, outcome, chat = _run(tmp_path, itinerary_script)

    assert chat.of("ask") == [QUESTION]
    assert len(llm.answered()) == 3  # the question, the broken finish, the fixed finish
    [error] = [m["content"] for m in llm.calls[2].messages if m["role"] == "tool"]
    assert error.startswith("Error: the plan given to finish_trip has 4 problems; nothing was posted.")
    for field in BROKEN_FIELDS:
        assert f"- {field}" in error
    assert outcome["status"] == "done"
    [plan] = chat.of("plan")  # posted once, from the fixed call
    assert plan.startswith("# Lisbon & Sintra in May\n") and "## Day 3 · Sun 3 May" in plan
    assert outcome["plan"] == plan
    [itinerary] = chat.itineraries
    assert itinerary is not None and Itinerary.from_dict(itinerary).to_dict() == itinerary
    assert itinerary["days"][1]["items"][1]["source_url"] == "https://www.parquesdesintra.pt/en/"
    # The model is told to finish with the structured plan, and offered the tool.
    assert "finish_trip" in llm.calls[0].tools
    system = llm.calls[0].messages[0]["content"]
    assert "call finish_trip with the structured plan" in system and "cost_per_person, source_url" in system


def _free_text(tool: bool):  # type: ignore[no-untyped-def]
    def factory(site_url: str):  # type: ignore[no-untyped-def]
        def script(messages):  # type: ignore[no-untyped-def]
            if not any(m.get("role") == "assistant" for m in messages):
                return say(QUESTION)
            if tool:
                return call_tools(("finish_trip", {"plan": "# Lisbon\n\n## Day 1\nAlfama."}))
            return say("# Lisbon\n\n## Day 1\nAlfama.\n\nTRIP PLANNING COMPLETE")
        return script
    return factory


def test_a_free_text_plan_through_the_tool_still_finishes(tmp_path):
    _, outcome, chat = _run(tmp_path, _free_text(tool=True))
    assert outcome["status"] == "done" and chat.of("plan") == ["# Lisbon\n\n## Day 1\nAlfama."]
    assert chat.itineraries == [None]


def test_a_free_text_plan_with_the_sentinel_still_finishes(tmp_path):
    _, outcome, chat = _run(tmp_path, _free_text(tool=False))
    assert outcome["status"] == "done" and chat.of("plan") == ["# Lisbon\n\n## Day 1\nAlfama."]
    assert chat.itineraries == [None]


def _finishing_with_broken_plans(text_fallback: bool):  # type: ignore[no-untyped-def]
    """A model that, once the team says finish, sends structured plans that are
    always refused; with `text_fallback` it sends Markdown when offered only that."""

    def factory(site_url: str):  # type: ignore[no-untyped-def]
        def script(messages):  # type: ignore[no-untyped-def]
            said = [m.get("content") for m in messages if m.get("role") == "user"]
            if FINISH_NOW not in said:
                return say(QUESTION)
            if text_fallback and FINISH_AS_TEXT in said:
                return call_tools(("finish_trip", {"plan": "# Lisbon\n\n## Day 1\nAlfama."}))
            return call_tools(("finish_trip", broken_lisbon()))
        return script
    return factory


def _finish_now(tmp_path, factory, until_kind: str):  # type: ignore[no-untyped-def]
    with research_fakes(factory) as (llm, serper, site):
        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-1", "Lisbon in May, 4 people")
                await p.wait_for("ask", 1)
                await p.runtime.engine.deliver_reply(
                    "trip-1", Reply(key="control:finish:1", author="ana", text="finish", kind="finish")
                )
                await p.wait_for(*until_kind)
                return p.chat
        chat = asyncio.run(scenario())
    return llm, chat


def test_while_finishing_refused_structured_plans_make_way_for_a_markdown_plan(tmp_path):
    llm, chat = _finish_now(tmp_path, _finishing_with_broken_plans(text_fallback=True), ("plan", 1))

    finishing = [c for c in llm.calls if FINISH_NOW in str(c.messages)]
    assert len(finishing) == 3  # two refused structured plans, then the Markdown one
    schemas = [c.tool_specs[0]["function"]["parameters"]["properties"] for c in finishing]
    assert "days" in schemas[0] and "days" in schemas[1]
    assert set(schemas[2]) == {"plan"}  # only the Markdown plan is offered now
    assert FINISH_AS_TEXT in str(finishing[2].messages) and FINISH_AS_TEXT not in str(finishing[1].messages)
    assert chat.of("plan") == ["# Lisbon\n\n## Day 1\nAlfama."]


def test_a_model_that_cannot_write_the_plan_stops_after_its_tries_and_says_so(tmp_path):
    llm, chat = _finish_now(tmp_path, _finishing_with_broken_plans(text_fallback=False), ("ask", 2))

    finishing = [c for c in llm.calls if FINISH_NOW in str(c.messages)]
    assert len(finishing) == PLAN_TRIES == 4  # bounded: no budget question runs while finishing
    assert chat.of("ask")[-1] == PLAN_REFUSED_NOTICE
    assert chat.of("plan") == []
