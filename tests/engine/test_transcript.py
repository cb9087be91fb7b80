"""Compaction keeps the conversation one OpenAI accepts: every tool message
answers a call right before it and every call is answered, however much of
the history the context budget or a segment hand-over drops."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from workflows.transcript import OMITTED_NOTE, compact_in_steps, fit_to_budget, total_chars

from tests.engine.harness import planner
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import call_tools, say, tool_sequence_error


def _random_transcript(rng: random.Random, turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Trip request from ana: " + "Lisbon " * rng.randint(1, 50)}]
    n = 0
    for _ in range(turns):
        for _ in range(rng.randint(0, 3)):  # research rounds
            ids = [f"call_{n}_{k}" for k in range(rng.randint(1, 3))]
            n += 1
            messages.append({"role": "assistant", "content": "", "tool_calls": [
                {"id": i, "type": "function",
                 "function": {"name": "internet_search", "arguments": '{"search_query": "' + "q" * rng.randint(1, 400) + '"}'}}
                for i in ids
            ]})
            for i in rng.sample(ids, len(ids)):  # answered in any order
                messages.append({"role": "tool", "tool_call_id": i, "content": "r" * rng.randint(0, 6_000)})
        messages.append({"role": "assistant", "content": "Question? " * rng.randint(1, 30)})
        messages.append({"role": "user", "content": "[ana] " + "answer " * rng.randint(1, 300)})
    return messages


def test_compaction_never_breaks_a_tool_sequence():
    rng = random.Random(9)
    shrunk = 0
    for _ in range(400):
        messages = _random_transcript(rng, rng.randint(1, 8))
        assert tool_sequence_error(messages) is None  # the generator itself is valid
        budget = rng.choice([300, 1_000, 2_500, 6_000, 15_000, 48_000])
        for out in (fit_to_budget(messages, budget), compact_in_steps(messages, budget),
                    fit_to_budget(compact_in_steps(messages, budget), budget // 2)):
            assert tool_sequence_error([{"role": "system", "content": "s"}, *out]) is None, out
            assert out[0]["content"][:30] == messages[0]["content"][:30]  # the request is always kept
            shrunk += total_chars(out) < total_chars(messages)
    assert shrunk > 500  # most cases really had to drop or cut something


def test_a_long_trip_over_many_segments_sends_only_valid_tool_sequences(tmp_path):
    """Ten research rounds of three calls each, one human turn per segment and a
    small context budget: old rounds are compacted and dropped at every hand-over
    and before every call, and the strict fake accepts every request."""
    rounds = 10

    def script(site_url: str):  # type: ignore[no-untyped-def]
        def answer(messages: list[dict[str, Any]]) -> dict[str, Any]:
            # The latest answer's number: older answers may have been compacted away.
            said = [m["content"] for m in messages if m["role"] == "user" and m["content"].startswith("[ana] answer")]
            answered = int(said[-1].rsplit(" ", 1)[1]) if said else 0
            last = messages[-1]
            if last["role"] == "tool":
                return say(f"Question {answered + 1}?")
            if answered >= rounds:
                return say(f"# Plan after {answered} answers\n\nTRIP PLANNING COMPLETE")
            return call_tools(
                ("internet_search", {"search_query": f"Lisbon round {answered}", "num_results": 3}),
                ("scrape_website", {"url": f"{site_url}/lisbon-hotels"}),
                ("scrape_website", {"url": f"{site_url}/sintra"}),
            )
        return answer

    with research_fakes(script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1",
                           TRAVEL_PLANNER_CONTEXT_CHARS="4000", TRAVEL_PLANNER_MAX_TOOL_CALLS="100")

        async def scenario():
            async with planner(env) as p:
                await p.start("long", "Lisbon in May")
                for i in range(rounds):
                    await p.wait_for("ask", i + 1, timeout=30)
                    await p.reply("long", f"answer {i + 1}")
                return await p.outcome("long", timeout=30)

        outcome = asyncio.run(scenario())

    assert outcome["status"] == "done" and outcome["plan"] == f"# Plan after {rounds} answers"
    assert llm.refusals() == [] and all(c.status == 200 for c in llm.calls)
    note = OMITTED_NOTE.split("{", 1)[0]
    dropped = [c for c in llm.calls if any(note in str(m.get("content")) for m in c.messages)]
    assert len(dropped) > rounds  # whole rounds really were dropped, again and again
    assert all(tool_sequence_error(c.messages) is None for c in llm.calls)
