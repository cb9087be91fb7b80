"""Team votes in the trip loop (real engine, scripted LLM over HTTP): the
`ask_team_vote` tool posts a vote, clicks reach the trip through its inbox,
tallies are rewritten in place, and the vote closes at its quorum, at its
deadline (a durable timer, on a clock the test moves), by "Close vote", or
before the plan; the LLM reads the result as a message."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.engine.harness import planner, until
from testing.clock import ManualClock
from testing.fakes.llm_server import call_tools, say
from testing.research_fakes import research_env, research_fakes
from workflows.ports import Reply
from workflows.votes import CLOSE, VoteClick

HOTELS = ["Casa Alfama", "Baixa Inn", "Belem Suites"]
PEOPLE = {"U0ANA": "Ana", "U0BEN": "Ben", "U0CEM": "Cem"}


def vote_args(**overrides: Any) -> dict[str, Any]:
    return {"question": "Which hotel?", "options": HOTELS, "closes_in_hours": 24, "quorum": 3, **overrides}


def _results(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user" and m["content"].startswith("Team vote result")]


def vote_script(args: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Open a vote, ask about dates meanwhile, finish once the result is in."""

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        last = messages[-1]
        if len(messages) == 1:
            return call_tools(("ask_team_vote", args))
        if _results(messages):
            return call_tools(("finish_trip", {"plan": "# Lisbon\n\n" + _results(messages)[-1]}))
        if last["role"] == "tool":
            return say("While you vote: which dates?")
        return say("Noted. Anything else while the vote runs?")

    return lambda site_url: script


def click(vote_id: str, voter: str, option: int, n: int) -> Reply:
    return VoteClick(vote_id, option, voter, PEOPLE[voter], key=f"vote:{voter}:{n}", ts=f"17000000{n:02d}.0").to_reply()


def test_a_vote_closes_at_its_quorum_a_changed_vote_counts_once_and_answers_still_reach_the_planner(tmp_path):
    with research_fakes(vote_script(vote_args())) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-v", "Lisbon, 3 people")
                await p.wait_for("ask", 1)
                [vote_id] = p.chat.votes
                views = p.chat.votes[vote_id]
                engine = p.runtime.engine
                await engine.deliver_reply("trip-v", click(vote_id, "U0ANA", 0, 1))
                await until(lambda: views[-1].voters[0] == ("Ana",))
                await engine.deliver_reply("trip-v", click(vote_id, "U0BEN", 1, 2))
                await until(lambda: views[-1].voters[1] == ("Ben",))
                # A thread answer while the vote is open is an answer, as ever.
                await p.reply("trip-v", "May 1-4", author="Ana")
                await p.wait_for("ask", 2)
                # Ben changes his mind; the same click again (Slack's retry) and a double click count once.
                assert await engine.deliver_reply("trip-v", click(vote_id, "U0BEN", 0, 3))
                assert not await engine.deliver_reply("trip-v", click(vote_id, "U0BEN", 0, 3))
                await engine.deliver_reply("trip-v", click(vote_id, "U0BEN", 0, 4))
                await until(lambda: views[-1].voters[0] == ("Ana", "Ben"))
                await engine.deliver_reply("trip-v", click(vote_id, "U0CEM", 2, 5))  # the third voter: quorum
                outcome = await p.outcome("trip-v")
                return outcome, p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    [views] = chat.votes.values()
    assert not views[0].closed and views[0].voters == ((), (), ())
    assert [v.voters for v in views[1:3]] == [(("Ana",), (), ()), (("Ana",), ("Ben",), ())]
    assert views[3].voters == (("Ana", "Ben"), (), ())  # Ben once, under his new choice
    closed = views[-1]
    assert closed.closed and closed.why == "quorum of 3 reached"
    assert closed.voters == (("Ana", "Ben"), (), ("Cem",)) and closed.outcome == "Winner: Casa Alfama (2 votes)"
    assert len(views) == 5  # one rewrite per changed tally: the retry and the double click rewrote nothing
    # The LLM: the tool answered at once, the thread answer while voting, then the result.
    final = llm.calls[-1].messages
    [tool] = [m for m in final if m["role"] == "tool"]
    assert tool["content"].startswith("The vote is open in the thread (3 options). It closes when 3 people have voted")
    assert "[Ana] May 1-4" in [m["content"] for m in final if m["role"] == "user"]
    assert _results(final) == [
        'Team vote result for "Which hotel?" (closed: quorum of 3 reached; 3 voted):\n'
        "- Casa Alfama: 2 votes (Ana, Ben)\n- Baixa Inn: 0 votes\n- Belem Suites: 1 vote (Cem)\n"
        "Winner: Casa Alfama."
    ]
    assert chat.of("ask") == ["While you vote: which dates?", "Noted. Anything else while the vote runs?"]
    assert len(llm.answered()) == 4 and llm.repeated_answers() == []


def test_a_vote_closes_at_its_deadline_on_a_durable_timer(tmp_path):
    clock = ManualClock()
    with research_fakes(vote_script(vote_args(closes_in_hours=2, quorum=3))) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path), clock=clock) as p:
                await p.start("trip-d", "Lisbon, 3 people")
                await p.wait_for("ask", 1)
                [vote_id] = p.chat.votes
                await p.runtime.engine.deliver_reply("trip-d", click(vote_id, "U0ANA", 1, 1))
                await until(lambda: p.chat.votes[vote_id][-1].voters[1] == ("Ana",))
                await until(lambda: p.settled_on_a_timer(timers=2))  # the reminder's and the vote's
                clock.advance(hours=1.9)
                await until(lambda: p.caught_up(clock, timers=2))  # 1.9 h: nothing is due yet
                assert not p.chat.votes[vote_id][-1].closed
                clock.advance(hours=0.2)
                outcome = await p.outcome("trip-d")
                return outcome, p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    [views] = chat.votes.values()
    assert views[-1].closed and views[-1].why == "its time ran out"
    assert views[-1].outcome == "Winner: Baixa Inn (1 vote)"
    assert _results(llm.calls[-1].messages) == [
        'Team vote result for "Which hotel?" (closed: its time ran out; 1 voted):\n'
        "- Casa Alfama: 0 votes\n- Baixa Inn: 1 vote (Ana)\n- Belem Suites: 0 votes\nWinner: Baixa Inn."
    ]
    assert chat.of("notice") == []  # no reminder: the vote's deadline came first


def test_close_vote_ends_it_with_a_tie(tmp_path):
    with research_fakes(vote_script(vote_args(quorum=10))) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-c", "Lisbon")
                await p.wait_for("ask", 1)
                [vote_id] = p.chat.votes
                engine = p.runtime.engine
                await engine.deliver_reply("trip-c", click(vote_id, "U0ANA", 0, 1))
                await engine.deliver_reply("trip-c", click(vote_id, "U0BEN", 2, 2))
                await until(lambda: sum(map(len, p.chat.votes[vote_id][-1].voters)) == 2)
                await engine.deliver_reply("trip-c", click(vote_id, "U0CEM", CLOSE, 3))
                return await p.outcome("trip-c"), p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    [views] = chat.votes.values()
    assert views[-1].why == "closed by Cem" and views[-1].outcome == "Tie: Casa Alfama and Belem Suites (1 vote each)"
    [result] = _results(llm.calls[-1].messages)
    assert result.endswith("Tie between Casa Alfama and Belem Suites: the team has not decided.")


def test_a_vote_still_open_when_the_plan_is_made_is_closed_first(tmp_path):
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        if len(messages) == 1:
            return call_tools(("ask_team_vote", vote_args()))
        return call_tools(("finish_trip", {"plan": "# Lisbon\n\nCasa Alfama."}))

    with research_fakes(lambda url: script) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-f", "Lisbon")
                return await p.outcome("trip-f"), p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    [views] = chat.votes.values()
    assert views[-1].closed and views[-1].why == "the plan was made" and views[-1].outcome == "No votes"
    assert [p.kind for p in chat.posts] == ["vote", "plan"]  # closed before the plan


def test_bad_vote_arguments_go_back_to_the_llm_as_a_tool_error(tmp_path):
    bad = [
        vote_args(options=["Only one"]),
        vote_args(options=["A", "a"]),
        vote_args(options=["x" * 76, "B"]),
        vote_args(closes_in_hours=0),
        vote_args(quorum=0),
        '{"question": "Which hotel?", "options": ["A", "B"], "closes_in_hours": Infinity, "quorum": 2}',
        vote_args(question="Hotel A or B?", options=["A", "B"], closes_in_hours=1e12),  # capped: opens
        vote_args(question="Dates?", options=["May", "June"]),
        vote_args(question="Day trip?", options=["Sintra", "Cascais"]),
        vote_args(question="One too many?", options=["Yes", "No"]),
    ]

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        tools = [m for m in messages if m["role"] == "tool"]
        if len(tools) < len(bad):
            return call_tools(("ask_team_vote", bad[len(tools)]))
        return call_tools(("finish_trip", {"plan": "# Lisbon"}))

    with research_fakes(lambda url: script) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-b", "Lisbon")
                return await p.outcome("trip-b"), p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done" and len(chat.votes) == 3
    answers = [m["content"] for m in llm.calls[-1].messages if m["role"] == "tool"]
    errors = answers[:6] + answers[9:10]
    assert errors == [
        "Error: a vote has 2 to 6 options; you gave 1.",
        "Error: the vote options must be distinct.",
        "Error: each vote option is at most 75 characters (it is a button); shorten 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'…",
        "Error: `closes_in_hours` must be a number of hours greater than 0.",
        "Error: `quorum` must be a whole number of voters from 1 to 100.",
        "Error: `closes_in_hours` must be a number of hours greater than 0.",
        "Error: 3 votes are open already; wait for one to close before asking another.",
    ]
    assert all(a.startswith("The vote is open") for a in answers[6:9])
    closed = [views[-1] for views in chat.votes.values()]
    assert [v.question for v in closed] == ["Hotel A or B?", "Dates?", "Day trip?"]
    assert all(v.closed and v.why == "the plan was made" for v in closed)


def test_an_open_vote_travels_to_the_next_segment_and_closes_there(tmp_path):
    with research_fakes(vote_script(vote_args(quorum=2))) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1")

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(env) as p:
                await p.start("trip-h", "Lisbon")
                await p.wait_for("ask", 1)
                [vote_id] = p.chat.votes
                await p.runtime.engine.deliver_reply("trip-h", click(vote_id, "U0ANA", 1, 1))
                await until(lambda: p.chat.votes[vote_id][-1].voters[1] == ("Ana",))
                await p.reply("trip-h", "May 1-4", author="Ana")  # a full segment: the next one asks
                await p.wait_for("ask", 2)
                await p.runtime.engine.deliver_reply("trip-h", click(vote_id, "U0BEN", 1, 2))
                return await p.outcome("trip-h"), p.chat

        outcome, chat = asyncio.run(scenario())

    assert outcome["status"] == "done"
    first, second = [post.key for post in chat.posts if post.kind == "ask"]
    assert first.split("/")[0] != second.split("/")[0]  # asked by two segments
    [views] = chat.votes.values()
    assert views[-1].why == "quorum of 2 reached" and views[-1].voters == ((), ("Ana", "Ben"), ())
    assert len([post for post in chat.posts if post.kind == "vote"]) == 1  # rewritten in place, across segments
    assert _results(llm.calls[-1].messages)[0].endswith("Winner: Baixa Inn.")


def test_a_vote_never_outlives_the_trip():
    from workflows.votes import vote_deadline

    hour = 3_600_000
    assert vote_deadline(0, 2, expires_at=100 * hour) == 2 * hour
    assert vote_deadline(0, 200, expires_at=100 * hour) == 100 * hour - hour // 2  # half an hour before the end
    assert vote_deadline(0, 200, expires_at=2 * hour) == 2 * hour - 2 * hour // 10  # a tenth of what is left
    assert vote_deadline(0, 200, expires_at=0) == 200 * hour  # a trip that does not know its end (v1)


def test_a_vote_closing_during_the_budget_question_is_no_answer_to_it(tmp_path):
    with research_fakes(vote_script(vote_args(quorum=1))) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_MAX_LLM_CALLS="2")

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(env) as p:
                await p.start("trip-q", "Lisbon")
                await p.wait_for("ask", 1)  # the second LLM call: the budget is spent
                [vote_id] = p.chat.votes
                await p.reply("trip-q", "May 1-4", author="Ana")
                [_, budget] = await p.wait_for("ask", 2)
                await p.runtime.engine.deliver_reply("trip-q", click(vote_id, "U0ANA", 2, 1))  # the quorum of 1
                await until(lambda: p.chat.votes[vote_id][-1].closed)
                await until(p.settled_on_a_timer)  # back to waiting on the question: no LLM call on the way
                calls_before_continue = len(llm.calls)
                await p.runtime.engine.deliver_reply("trip-q", Reply(key="c1", author="Ben", text="continue", kind="continue"))
                return await p.outcome("trip-q"), p.chat, budget, calls_before_continue

        outcome, chat, budget, calls_before_continue = asyncio.run(scenario())

    assert outcome["status"] == "done"
    assert chat.choices[[post.key for post in chat.posts if post.kind == "ask"][1]] == ("continue", "finish")
    assert calls_before_continue == 2  # the closed vote did not answer the budget question
    assert len(chat.of("ask")) == 2  # nor was the question asked again
    assert _results(llm.calls[-1].messages)[0].endswith("Winner: Belem Suites.")


#: The steps of the standard Lisbon trip (tests/engine/test_conversation.py)
#: as the code before team votes ran them, read from the embedded store: a
#: trip that never opens a vote must replay exactly these.
LISBON_STEPS = [
    "now_step", "llm_step", "post_step", "wait", "publish_waiter_step", "now_step", "sleep", "choice_step",
    "record", "claim_step", "llm_step", "post_step", "tool_step", "post_step", "llm_step", "post_step",
    "tool_step", "post_step", "llm_step", "post_step", "wait", "publish_waiter_step", "now_step", "sleep",
    "choice_step", "record", "claim_step", "llm_step", "post_step", "tool_step", "tool_step", "post_step",
    "llm_step", "post_step", "wait", "publish_waiter_step", "now_step", "sleep", "choice_step", "record",
    "claim_step", "llm_step", "post_step", "record",
]


def test_a_trip_without_a_vote_runs_the_same_steps_as_before_votes(tmp_path):
    from testing.fakes.scenario import lisbon_script
    from workflows.durable.history import read_embedded, step_name, trip_segments
    from workflows.durable.state_dir import DB_NAME

    with research_fakes(lisbon_script) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-1", "Lisbon in May, 4 people")
                for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
                    await p.wait_for("ask", n)
                    await p.reply("trip-1", answer)
                return await p.outcome("trip-1")

        assert asyncio.run(scenario())["status"] == "done"
    history = read_embedded(tmp_path / DB_NAME, "trip-1")
    assert history is not None
    # The plan's segment, then (workflow v3) its successor waiting for changes
    # on the lifetime timer alone.
    planned, waiting = trip_segments(history, "trip-1")
    assert [step_name(s) for s in planned.steps] == LISBON_STEPS
    assert [step_name(s) for s in waiting.steps] == ["wait", "publish_waiter_step", "now_step", "sleep"]
    assert "ask_team_vote" in llm.calls[0].tools  # the tool was offered


def test_the_terminal_shows_a_vote_once_and_its_outcome_once() -> None:
    import io

    from testing.memory_registry import memory_registry
    from travel_planner.terminal import TerminalChatPort
    from workflows.votes import OpenVote

    async def scenario() -> str:
        out = io.StringIO()
        port = TerminalChatPort(memory_registry(), out)
        vote = OpenVote("t/vote1", "Which hotel?", HOTELS, 2, 0)
        await port.vote({}, vote.view(), key="t/vote1")
        await port.vote({}, vote.view(), key="t/vote1")  # a tally: a terminal cannot rewrite a line above
        await port.vote({}, vote.view(closed=True, why="its time ran out"), key="t/vote1")
        await port.vote({}, vote.view(closed=True, why="its time ran out"), key="t/vote1")
        return out.getvalue()

    assert asyncio.run(scenario()) == (
        "planner> Team vote: Which hotel?\n  [1] Casa Alfama  [2] Baixa Inn  [3] Belem Suites\n"
        "  (no buttons here: answer in words)\n"
        "planner> Vote closed (its time ran out): No votes\n"
    )


def waits(p) -> set[str]:  # type: ignore[no-untyped-def]
    """The reply promises the trip waits on now."""
    state = p.runtime.connection.state
    return {x.id for x in state.promises.values() if x.state == "pending" and x.tags.get("resonate:external") == "true"}


def test_a_click_on_a_closed_vote_wakes_nobody(tmp_path):
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        last = messages[-1]
        if len(messages) == 1:
            return call_tools(("ask_team_vote", vote_args(quorum=1)))
        if last["role"] == "tool":
            return say("While you vote: which dates?")
        if last["content"].startswith("Team vote result"):
            return say("Casa Alfama it is. Which dates?")
        return call_tools(("finish_trip", {"plan": "# Lisbon\n\n" + last["content"]}))

    with research_fakes(lambda url: script) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-l", "Lisbon")
                await p.wait_for("ask", 1)
                [vote_id] = p.chat.votes
                await p.runtime.engine.deliver_reply("trip-l", click(vote_id, "U0ANA", 0, 1))  # the quorum of 1
                await p.wait_for("ask", 2)
                await until(p.settled_on_a_timer)
                calls, views, before = len(llm.calls), len(p.chat.votes[vote_id]), waits(p)
                await p.runtime.engine.deliver_reply("trip-l", click(vote_id, "U0BEN", 1, 2))  # buttons still on screen
                await until(lambda: waits(p) - before and p.settled_on_a_timer())  # read, and waiting again
                late = (len(llm.calls) - calls, len(p.chat.votes[vote_id]) - views)
                await p.reply("trip-l", "May 1-4", author="Ana")
                return await p.outcome("trip-l"), late

        outcome, late = asyncio.run(scenario())

    assert outcome["status"] == "done" and outcome["plan"] == "# Lisbon\n\n[Ana] May 1-4"
    assert late == (0, 0)  # no LLM call, no rewrite


def test_a_vote_opened_during_a_change_is_closed_when_the_trip_is_closed(tmp_path):
    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        if not any(m["role"] == "assistant" for m in messages):
            return call_tools(("finish_trip", {"plan": "# Lisbon\n\nCasa Alfama."}))
        if messages[-1]["role"] == "user":  # a change after the plan: the team picks
            return call_tools(("ask_team_vote", vote_args()))
        return say("While you vote: anything else to change?")

    with research_fakes(lambda url: script) as (llm, serper, site):

        async def scenario():  # type: ignore[no-untyped-def]
            async with planner(research_env(llm, serper, tmp_path)) as p:
                await p.start("trip-c", "Lisbon")
                await p.wait_for("plan", 1)
                await p.reply("trip-c", "Another hotel, please", author="Ana")
                await p.wait_for("ask", 1)
                await p.runtime.engine.deliver_reply(
                    "trip-c", Reply(key="control:close:1", author="Ben", text="close", kind="close")
                )
                [vote_id] = p.chat.votes
                await until(lambda: p.chat.votes[vote_id][-1].closed)
                return p.chat, vote_id

        chat, vote_id = asyncio.run(scenario())

    closed = chat.votes[vote_id][-1]
    assert closed.why == "the trip was closed"  # no vote is left open under a closed trip
    assert any(p.kind == "notice" and p.text.startswith("Trip closed by Ben") for p in chat.posts)
