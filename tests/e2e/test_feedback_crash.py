"""A crash between a 👍 click and Slack's ack: the vote is stored before the
ack, so a SIGKILL right after storing it (failpoint `after:feedback_click`)
loses nothing; Slack's resend of the same request after the restart counts
once."""

from __future__ import annotations

from testing.bot_process import CHANNEL, DEADLINE, SIGNING_SECRET, BotProcess, SlackPlayer, bot_env, running_bot
from testing.fakes.scenario import lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import block_actions, send_signed
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from bot.plan_feedback import FEEDBACK_ACTION
from tests.e2e.test_lifecycle_slack import _trips
from tests.slack.test_plan_changes import plans


def _click(plan: dict, label: str, user: str, action_ts: str) -> dict:
    [block] = [b for b in plan["blocks"] if b["type"] == "context_actions"]
    return block_actions(action_id=FEEDBACK_ACTION, user_id=user, channel_id=CHANNEL, message_ts=plan["ts"],
                         thread_ts=plan["thread_ts"], value=block["elements"][0][f"{label}_button"]["value"],
                         action_ts=action_ts)


def test_a_feedback_click_killed_before_the_ack_counts_once_after_the_restart(tmp_path, monkeypatch, capsys):
    api = FakeSlackWebAPI()
    with api, research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(api, llm, serper, tmp_path / "state", free_port())
        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(api, bot.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
                player.wait_questions(root_ts, n)
                player.reply(root_ts, answer, "U0ANA")
            [plan] = api.wait_for(lambda: plans(api, root_ts), timeout=DEADLINE)
            bot.stop()

        click = _click(plan, "positive", "U0ANA", "7.1")
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
