"""A crash while `/plan-trip` starts a trip: Slack never retries a slash
command, so the bot itself must finish the start after a restart."""

from __future__ import annotations

import pytest

from testing.bot_process import CHANNEL, DEADLINE, SIGNING_SECRET, BotProcess, SlackPlayer, bot_env, running_bot
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import send_signed, slash_command


@pytest.mark.parametrize("point", ["after:start_recorded:1", "after:root_post:1"])
def test_a_trip_start_cut_short_by_a_crash_is_finished_at_restart(tmp_path, point):
    api = FakeSlackWebAPI()
    api.add_channel(CHANNEL, name="trips")
    with api, research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(api, llm, serper, tmp_path / "state", free_port())
        bot = BotProcess({**env, "TRAVEL_PLANNER_FAILPOINT": point}, tmp_path / "bot.log")
        command = slash_command("Lisbon in May", channel_id=CHANNEL, response_url=api.response_url())
        try:
            send_signed(bot.events_url, command, signing_secret=SIGNING_SECRET)
        except OSError:
            pass  # the bot may die before its answer leaves; Slack does not retry commands
        assert bot.wait_exit() == -9  # died exactly there
        roots_before = [m for m in api.posts(CHANNEL) if not m.get("thread_ts")]

        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(api, bot.events_url)
            roots = api.wait_for(lambda: [m for m in api.posts(CHANNEL) if not m.get("thread_ts")], timeout=DEADLINE)
            assert len(roots) == 1  # posted once, before or after the crash
            questions = player.wait_questions(roots[0]["ts"], 1)

    assert len(roots_before) == (1 if point.startswith("after:root_post") else 0)
    assert QUESTIONS[0] in questions[0]
    assert "Lisbon in May" in roots[0]["text"]
