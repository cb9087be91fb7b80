"""A crash between a vote click and its tally: the click is stored in the
trip's inbox before Slack is acked, so a SIGKILL right after storing it
(failpoint `after:vote_click`, before the ack) loses nothing. The restarted
process resumes the trip, which tallies the click; Slack's resend of the
same request counts once."""

from __future__ import annotations

import re
from typing import Any

from testing.bot_process import CHANNEL, DEADLINE, SIGNING_SECRET, BotProcess, SlackPlayer, bot_env, duplicate_posts, running_bot
from testing.fakes.llm_server import call_tools, say
from testing.fakes.slack_requests import button_click, send_signed
from testing.loopback import free_port
from testing.research_fakes import research_fakes

HOTELS = ["Casa Alfama", "Baixa Inn", "Belem Suites"]


def vote_results(messages: list[dict[str, Any]]) -> list[str]:
    """The "Team vote result" messages the LLM was sent."""
    return [m["content"] for m in messages if m["role"] == "user" and m["content"].startswith("Team vote result")]


def vote_then_plan(options: list[str], closes_in_hours: float, quorum: int):  # type: ignore[no-untyped-def]
    """A script that opens a hotel vote on `options`, asks the dates meanwhile, and posts
    the plan once the vote's result arrives."""

    def factory(site_url: str):  # type: ignore[no-untyped-def]
        def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
            if len(messages) == 1:
                return call_tools(("ask_team_vote", {"question": "Which hotel?", "options": options,
                                                     "closes_in_hours": closes_in_hours, "quorum": quorum}))
            if vote_results(messages):
                return call_tools(("finish_trip", {"plan": "# Lisbon\n\n## Day 1\nCheck in."}))
            return say("While you vote: which dates?")

        return script

    return factory


def _kind(message: dict[str, Any]) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))


def test_a_vote_click_killed_before_the_ack_is_tallied_once_after_the_restart(slack, tmp_path):
    with research_fakes(vote_then_plan(HOTELS, closes_in_hours=24, quorum=2)) as (llm, serper, site):
        env = bot_env(slack, llm, serper, tmp_path / "state", free_port())
        bot = BotProcess({**env, "TRAVEL_PLANNER_FAILPOINT": "after:vote_click:1"}, tmp_path / "bot.log")
        player = SlackPlayer(slack, bot.events_url)
        root_ts = str(player.plan_trip("Lisbon in May, 2 people")["ts"])
        player.wait_questions(root_ts, 1)

        def vote() -> dict[str, Any]:
            [posted] = [m for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "vote"]
            return slack.message(CHANNEL, posted["ts"]) or {}

        click = button_click(vote(), "vote_option_0", user_id="U0ANA", channel_id=CHANNEL, action_ts="1700000001.000001")
        try:
            send_signed(bot.events_url, click, signing_secret=SIGNING_SECRET)
        except OSError:
            pass  # died before answering: for Slack, a failed request
        assert bot.wait_exit() == -9  # died exactly there: the click stored, Slack not acked

        with running_bot(env, tmp_path / "bot.log") as bot:
            slack.deliver_events_to(bot.events_url, SIGNING_SECRET)
            status, _, _ = send_signed(bot.events_url, click, signing_secret=SIGNING_SECRET)  # sent again
            tally = slack.wait_for(lambda: "Ana" in vote()["blocks"][1]["text"]["text"] and vote(), timeout=DEADLINE)
            ben = button_click(vote(), "vote_option_1", user_id="U0BEN", channel_id=CHANNEL, action_ts="1700000002.000001")
            assert send_signed(bot.events_url, ben, signing_secret=SIGNING_SECRET)[0] == 200  # the quorum of 2
            slack.wait_for(lambda: [m for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "plan"], timeout=DEADLINE)
            closed = vote()
            bot.stop()
            output = bot.output()

    assert status == 200
    assert tally["blocks"][1]["text"]["text"].startswith("*Casa Alfama* · 1 vote: Ana\n")  # once, not twice
    assert closed["blocks"][1]["text"]["text"] == "*Casa Alfama* · 1 vote: Ana\n*Baixa Inn* · 1 vote: Ben\n*Belem Suites* · 0 votes"
    # The resent click found the first one in the inbox: stored before the kill.
    assert re.search(r"vote click vote:U0ANA:1700000001\.000001:vote_option_0 for \S+ by U0ANA duplicate", output)
    assert vote_results(llm.calls[-1].messages) == [
        'Team vote result for "Which hotel?" (closed: quorum of 2 reached; 2 voted):\n'
        "- Casa Alfama: 1 vote (Ana)\n- Baixa Inn: 1 vote (Ben)\n- Belem Suites: 0 votes\n"
        "Tie between Casa Alfama and Baixa Inn: the team has not decided."
    ]
    assert duplicate_posts(slack) == []
