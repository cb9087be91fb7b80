"""Under Slack's real posting limit (about one post a second per channel,
bursts allowed), trips in one channel slow down but lose nothing and post
nothing twice: 429s are retried after `Retry-After`, never looked up."""

from __future__ import annotations

from testing.bot_process import CHANNEL, SlackPlayer, duplicate_posts
from testing.research_fakes import research_env, research_fakes
from testing.fakes.scenario import lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from tests.slack.planner_harness import slack_planner


def test_two_trips_in_one_rate_limited_channel_finish_with_every_post_once(tmp_path) -> None:
    with FakeSlackWebAPI(posts_per_second=4.0, post_burst=3) as slack:
        slack.add_channel(CHANNEL, name="trips")
        with research_fakes(lisbon_script) as (llm, serper, site):
            env = research_env(llm, serper, tmp_path)
            with slack_planner(slack, env) as sp:
                player = SlackPlayer(slack, sp.events_url)
                roots = [player.plan_trip(f"Lisbon in May, group {n}")["ts"] for n in (1, 2)]
                for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
                    for root_ts in roots:
                        player.wait_questions(root_ts, n, timeout=60)
                        player.reply(root_ts, answer, "U0ANA")
                outcomes = [sp.outcome(root_ts, timeout=60) for root_ts in roots]

        limited = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
        assert limited, "the channel's limit was never reached: the test proves nothing"
        assert all(c.response == {"ok": False, "error": "ratelimited"} for c in limited)
        assert [o["status"] for o in outcomes] == ["done", "done"]
        assert duplicate_posts(slack) == []
        for root_ts in roots:
            plans = [m for m in slack.posts(CHANNEL, thread_ts=root_ts)
                     if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "plan"]
            assert len(plans) == 1
        assert slack.calls_to("conversations.replies") == []  # a 429 means Slack did nothing: no lookup
