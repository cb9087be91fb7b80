"""A real `travel-planner run` process SIGKILLed between the plan's two
files (failpoint `after:plan_file`: the plan posted, its Markdown file
shared, the .ics calendar not yet): after the restart the thread has one
plan, one .md and one .ics, which parses back."""

from __future__ import annotations

import icalendar

from testing.bot_process import DEADLINE, BotProcess, SlackPlayer, bot_env, duplicate_posts, running_bot
from testing.fakes.itinerary import QUESTION, itinerary_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.loopback import free_port
from testing.research_fakes import research_fakes


def _plans(player: SlackPlayer, root_ts: str) -> list[dict]:
    return [m for m in player.thread(root_ts)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("kind") == "plan"]


def test_killed_after_the_markdown_file_the_calendar_is_shared_once_after_restart(slack: FakeSlackWebAPI, tmp_path):
    with research_fakes(itinerary_script) as (llm, serper, site):
        env = bot_env(slack, llm, serper, tmp_path / "state", free_port())
        bot = BotProcess({**env, "TRAVEL_PLANNER_FAILPOINT": "after:plan_file:1"}, tmp_path / "bot.log")
        try:
            player = SlackPlayer(slack, bot.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            assert QUESTION in player.wait_questions(root_ts, 1)[0]
            player.reply(root_ts, "May 1-3", "U0ANA")
            assert bot.wait_exit() == -9  # died right there
        finally:
            if bot.alive():
                bot.kill()
        channel = player.thread(root_ts)[0]["channel"]
        before = [f["name"] for f in slack.thread_files(channel, root_ts)]

        with running_bot(env, tmp_path / "bot.log") as bot:
            player.events_url = bot.events_url
            slack.wait_for(lambda: len(slack.thread_files(channel, root_ts)) >= 2, timeout=DEADLINE)
            bot.stop()

    assert before == ["lisbon-sintra-in-may.md"]  # the kill came between the two files
    files = slack.thread_files(channel, root_ts)
    assert [f["name"] for f in files] == ["lisbon-sintra-in-may.md", "lisbon-sintra-in-may.ics"]
    assert len(_plans(player, root_ts)) == 1  # no second plan post
    assert duplicate_posts(slack) == []
    events = list(icalendar.Calendar.from_ical(files[1]["content"]).walk("VEVENT"))
    assert len(events) == 6 and str(events[0]["SUMMARY"]) == "Castelo de São Jorge"
