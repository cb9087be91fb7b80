"""A crash while a direct message starts a trip: the start runs before Slack
is acked, so Slack retries the event, and the retry reaches the trip the
dead process started (its id is the message's), which the restarted process
resumes: one trip, each question once."""

from __future__ import annotations

import json

from testing.bot_process import DEADLINE, SIGNING_SECRET, BotProcess, bot_env, duplicate_posts, running_bot
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import direct_message, event_envelope, send_signed
from testing.loopback import free_port
from testing.research_fakes import research_fakes


def test_a_dm_start_killed_before_the_ack_is_one_trip_after_slacks_retry(tmp_path):
    api = FakeSlackWebAPI()
    with api, research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(api, llm, serper, tmp_path / "state", free_port())
        dm = api.dm_channel("U0ANA")
        ts = api.add_message(dm, "Lisbon in May, 4 people", user="U0ANA")
        body = json.dumps(event_envelope(direct_message(dm, "Lisbon in May, 4 people", user="U0ANA", ts=ts)))
        bot = BotProcess({**env, "TRAVEL_PLANNER_FAILPOINT": "after:dm_start:1"}, tmp_path / "bot.log")
        try:
            send_signed(bot.events_url, body, signing_secret=SIGNING_SECRET)
        except OSError:
            pass  # died before answering: for Slack, a failed delivery
        assert bot.wait_exit() == -9  # died exactly there, the trip started and Slack not acked

        with running_bot(env, tmp_path / "bot.log") as bot:
            api.deliver_events_to(bot.events_url, SIGNING_SECRET)
            status, _, _ = send_signed(bot.events_url, body, signing_secret=SIGNING_SECRET, retry_num=1)
            questions = api.wait_for(
                lambda: [m for m in api.posts(dm, thread_ts=ts) if QUESTIONS[0] in m["text"]], timeout=DEADLINE
            )
            # The trip goes on: an answer in the thread reaches it.
            reply_ts = api.add_message(dm, "May 1-4", user="U0ANA", thread_ts=ts)
            reply = direct_message(dm, "May 1-4", user="U0ANA", ts=reply_ts, thread_ts=ts)
            assert send_signed(bot.events_url, json.dumps(event_envelope(reply)), signing_secret=SIGNING_SECRET)[0] == 200
            api.wait_for(lambda: [m for m in api.posts(dm, thread_ts=ts) if QUESTIONS[1] in m["text"]], timeout=DEADLINE)
            bot.stop()
            output = bot.output()

    assert status == 200
    assert len(questions) == 1  # asked once, by one trip
    assert [m for m in api.posts(dm) if not m.get("thread_ts")] == []  # no second trip's root anywhere
    assert "already exists" in output  # the retry reached the trip the dead process started
    assert duplicate_posts(api) == []
