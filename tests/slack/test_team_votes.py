"""Team votes in Slack, with the real engine in this process: the vote's
message and buttons, clicks stored before the ack and tallied in place with
the voters' names, a changed vote, Slack's retry and a double click counted
once, the vote closing at its quorum, at its deadline (a moved clock) or by
"Close vote", and the result the LLM received."""

from __future__ import annotations

import json
from typing import Any

from testing.bot_process import CHANNEL, SIGNING_SECRET, SlackPlayer, duplicate_posts
from testing.clock import ManualClock
from testing.fakes.llm_server import call_tools, say
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import button_click, send_signed
from testing.research_fakes import research_env, research_fakes
from tests.engine.harness import sleeps_on_timers
from tests.slack.planner_harness import SlackPlanner, slack_planner

HOTELS = ["Casa Alfama", "Baixa Inn", "Belem Suites"]


def _results(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user" and m["content"].startswith("Team vote result")]


def vote_script(**vote: Any):  # type: ignore[no-untyped-def]
    args = {"question": "Which hotel?", "options": HOTELS, "closes_in_hours": 24, "quorum": 3, **vote}

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        if len(messages) == 1:
            return call_tools(("ask_team_vote", args))
        if _results(messages):
            return call_tools(("finish_trip", {"plan": "# Lisbon\n\n## Day 1\nCheck in."}))
        if messages[-1]["role"] == "tool":
            return say("While you vote: which dates?")
        return say("Noted. Anything else while the vote runs?")

    return lambda site_url: script


def _kind(message: dict[str, Any]) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))


def _vote(slack: FakeSlackWebAPI, root_ts: str) -> dict[str, Any] | None:
    """The vote's message as it is now (after chat.update)."""
    votes = [m for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "vote"]
    return slack.message(CHANNEL, votes[0]["ts"]) if votes else None


def _tally(slack: FakeSlackWebAPI, root_ts: str) -> str:
    vote = _vote(slack, root_ts)
    return vote["blocks"][1]["text"]["text"] if vote else ""


def _press(sp: SlackPlanner, message: dict[str, Any], option: str, user: str, action_ts: str) -> tuple[int, float]:
    body = button_click(message, option, user_id=user, channel_id=CHANNEL, action_ts=action_ts)
    status, _, elapsed = send_signed(sp.events_url, body, signing_secret=SIGNING_SECRET)
    return status, elapsed


def _start(slack: FakeSlackWebAPI, sp: SlackPlanner) -> tuple[SlackPlayer, str]:
    player = SlackPlayer(slack, sp.events_url)
    root_ts = str(player.plan_trip("Lisbon in May, 3 people")["ts"])
    player.wait_questions(root_ts, 1, timeout=15)
    return player, root_ts


def test_a_vote_in_slack_tallies_in_place_counts_a_changed_vote_once_and_closes_at_its_quorum(slack, tmp_path):
    slack.add_user("U0CEM", display_name="Cem")
    with research_fakes(vote_script()) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            player, root_ts = _start(slack, sp)
            posted = _vote(slack, root_ts)
            assert posted is not None
            status, elapsed = _press(sp, posted, "vote_option_0", "U0ANA", "1700000001.000001")
            assert status == 200 and elapsed < 1.0
            sp.wait(lambda: "Ana" in _tally(slack, root_ts))
            after_one_click = _vote(slack, root_ts)
            assert after_one_click is not None
            _press(sp, after_one_click, "vote_option_1", "U0BEN", "1700000002.000001")
            sp.wait(lambda: "*Baixa Inn* · 1 vote: Ben" in _tally(slack, root_ts))
            # An answer in the thread while the vote is open reaches the planner.
            player.reply(root_ts, "May 1-4", "U0ANA")
            player.wait_questions(root_ts, 2, timeout=15)
            # Ben changes his vote; Slack sends that click again, and he double-clicks.
            current = _vote(slack, root_ts)
            assert current is not None
            for action_ts in ("1700000003.000001", "1700000003.000001", "1700000003.500001"):
                assert _press(sp, current, "vote_option_0", "U0BEN", action_ts)[0] == 200
            sp.wait(lambda: "*Casa Alfama* · 2 votes: Ana, Ben" in _tally(slack, root_ts))
            assert "*Baixa Inn* · 0 votes" in _tally(slack, root_ts)
            _press(sp, current, "vote_option_2", "U0CEM", "1700000004.000001")  # the third voter: quorum
            outcome = sp.outcome(root_ts)
            closed = _vote(slack, root_ts)
            record = sp.run(sp.runtime.registry.unclaimed_replies(sp.trip(root_ts).trip_id))

    assert outcome["status"] == "done"
    assert closed is not None
    assert [b["type"] for b in posted["blocks"]] == ["section", "section", "context", "actions"]
    assert [b["text"]["text"] for b in posted["blocks"][3]["elements"]] == [*HOTELS, "Close vote"]
    assert closed["blocks"][1]["text"]["text"] == "*Casa Alfama* · 2 votes: Ana, Ben\n*Baixa Inn* · 0 votes\n*Belem Suites* · 1 vote: Cem"
    assert closed["blocks"][-1] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "🔒 *Closed* (quorum of 3 reached). Winner: Casa Alfama (2 votes)"}]}
    assert not [b for b in closed["blocks"] if b["type"] == "actions"]
    # Rewritten in place: one post, one chat.update per changed tally and the close.
    updates = [c.params for c in slack.calls_to("chat.update") if c.params.get("ts") == posted["ts"]]
    assert len(updates) == 4  # Ana; Ben; Ben's change (his retry and double click changed nothing); closed
    assert len([m for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "vote"]) == 1
    assert record == []
    # What the LLM read: the tool answered at once, the result once the vote closed.
    final = llm.calls[-1].messages
    assert [m["content"] for m in final if m["role"] == "tool"][0].startswith("The vote is open in the thread")
    assert _results(final) == [
        'Team vote result for "Which hotel?" (closed: quorum of 3 reached; 3 voted):\n'
        "- Casa Alfama: 2 votes (Ana, Ben)\n- Baixa Inn: 0 votes\n- Belem Suites: 1 vote (Cem)\nWinner: Casa Alfama."
    ]
    assert any(m["content"] == "[Ana] May 1-4" for m in final if m["role"] == "user")
    assert duplicate_posts(slack) == []
    print("VOTE AS POSTED:", json.dumps({"text": posted["text"], "blocks": posted["blocks"]}, ensure_ascii=False, indent=1))
    print("VOTE AFTER ONE CLICK:", json.dumps({"text": after_one_click["text"], "blocks": after_one_click["blocks"]},
                                                ensure_ascii=False, indent=1))
    print("VOTE CLOSED:", json.dumps({"text": closed["text"], "blocks": closed["blocks"]}, ensure_ascii=False, indent=1))


def test_a_vote_closes_at_its_deadline_when_the_clock_gets_there_and_a_late_click_is_told_so(slack, tmp_path):
    clock = ManualClock()
    with research_fakes(vote_script(closes_in_hours=2, quorum=3)) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env, clock=clock) as sp:
            _, root_ts = _start(slack, sp)
            posted = _vote(slack, root_ts)
            assert posted is not None
            _press(sp, posted, "vote_option_1", "U0BEN", "1700000001.000001")
            sp.wait(lambda: "Ben" in _tally(slack, root_ts))
            sp.wait(lambda: sleeps_on_timers(sp.runtime, 2))  # the reminder's timer and the vote's
            clock.advance(hours=2.1)
            outcome = sp.outcome(root_ts)
            closed = _vote(slack, root_ts)
            # A click from a screen still showing the buttons, after the trip's end: the person is told.
            assert _press(sp, posted, "vote_option_0", "U0ANA", "1700000009.000001")[0] == 200
            [told] = sp.wait(lambda: slack.ephemerals)
            after = _vote(slack, root_ts)

    assert outcome["status"] == "done"
    assert closed is not None and closed == after
    assert told["user"] == "U0ANA" and "no longer running" in told["text"]
    assert "Closed* (its time ran out). Winner: Baixa Inn (1 vote)" in closed["blocks"][-1]["elements"][0]["text"]
    assert _results(llm.calls[-1].messages)[0].startswith('Team vote result for "Which hotel?" (closed: its time ran out; 1 voted)')


def test_close_vote_button_ends_the_vote_with_a_tie(slack, tmp_path):
    with research_fakes(vote_script(quorum=10)) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            _, root_ts = _start(slack, sp)
            posted = _vote(slack, root_ts)
            assert posted is not None
            _press(sp, posted, "vote_option_0", "U0ANA", "1700000001.000001")
            _press(sp, posted, "vote_option_2", "U0BEN", "1700000002.000001")
            sp.wait(lambda: "Ana" in _tally(slack, root_ts) and "Ben" in _tally(slack, root_ts))
            status, elapsed = _press(sp, posted, "vote_close", "U0BEN", "1700000003.000001")
            assert status == 200 and elapsed < 1.0
            outcome = sp.outcome(root_ts)
            closed = _vote(slack, root_ts)

    assert outcome["status"] == "done"
    assert closed is not None
    assert closed["blocks"][-1]["elements"][0]["text"] == (
        "🔒 *Closed* (closed by Ben). Tie: Casa Alfama and Belem Suites (1 vote each)"
    )
    assert _results(llm.calls[-1].messages)[0].endswith("Tie between Casa Alfama and Belem Suites: the team has not decided.")
