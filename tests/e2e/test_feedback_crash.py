"""A crash between a 👍 click and Slack's ack: the vote is stored before the
ack, so a SIGKILL right after storing it (failpoint `after:feedback_click`)
loses nothing; Slack's resend of the same request after the restart counts
once."""

from __future__ import annotations

from testing.bot_process import SIGNING_SECRET, BotProcess, bot_env, running_bot
from testing.fakes.scenario import lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import send_signed
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from tests.e2e.test_feedback_traces import feedback_click, planned_lisbon_trip
from tests.e2e.test_lifecycle_slack import _trips


def test_a_feedback_click_killed_before_the_ack_counts_once_after_the_restart(tmp_path, monkeypatch, capsys):
    api = FakeSlackWebAPI()
    with api, research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(api, llm, serper, tmp_path / "state", free_port())
        with running_bot(env, tmp_path / "bot.log") as bot:
            _, plan = planned_lisbon_trip(api, bot.events_url)
            bot.stop()

        click = feedback_click(plan, "positive", "U0ANA", "7.1")
        bot = BotProcess({**env, "TRAVEL_PLANNER_FAILPOINT": "after:feedback_click:1"}, tmp_path / "bot.log")
        try:
            send_signed(bot.events_url, click, signing_secret=SIGNING_SECRET)
        except OSError:
            pass  # died before answering: for Slack, a failed request
        assert bot.wait_exit() == -9  # died exactly there: stored, Slack not acked
        after_kill = _trips(monkeypatch, capsys, env)

        with running_bot(env, tmp_path / "bot.log") as bot:
            assert send_signed(bot.events_url, click, signing_secret=SIGNING_SECRET)[0] == 200  # Slack sends it again
            after_resend = _trips(monkeypatch, capsys, env)
            bot.stop()

    for code, listing in (after_kill, after_resend):
        assert code == 0
        [row] = [line for line in listing.splitlines() if "Lisbon" in line]
        assert "👍 1 👎 0" in row, listing  # stored before the kill; the resend counted once
