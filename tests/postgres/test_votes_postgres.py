"""A team vote on the scaled-out deployment (Postgres engine, Redis registry,
a `web` and two `worker`s): clicks reach the web process, wait in the
Redis inbox and wake the trip on whichever worker runs it; the vote closes
at its deadline on Postgres' own durable timer (real time: a short vote)."""

from __future__ import annotations

from typing import Any

from testing.bot_process import CHANNEL, DEADLINE, SIGNING_SECRET, duplicate_posts
from testing.cluster import running_cluster
from testing.fakes.slack_requests import button_click, send_signed
from testing.redis_server import RedisServer
from tests.e2e.test_vote_crash import vote_results, vote_then_plan

HOTELS = ["Casa Alfama", "Baixa Inn"]


#: Closes after 14.4 seconds, unless 5 people vote first.
_script = vote_then_plan(HOTELS, closes_in_hours=0.004, quorum=5)


def _kind(message: dict[str, Any]) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))


def test_a_vote_on_postgres_tallies_clicks_from_the_web_process_and_closes_at_its_deadline(
    tmp_path, resonate_db, private_redis_server: RedisServer
):
    with running_cluster(tmp_path, resonate_db, private_redis_server.url, workers=2, script=_script) as c:
        slack, player = c.slack, c.player
        root_ts = str(player.plan_trip("Lisbon in May")["ts"])
        player.wait_questions(root_ts, 1)

        def vote() -> dict[str, Any]:
            [posted] = [m for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "vote"]
            return slack.message(CHANNEL, posted["ts"]) or {}

        for user, option, ts in (("U0ANA", "vote_option_1", "1700000001.000001"), ("U0BEN", "vote_option_1", "1700000002.000001")):
            body = button_click(vote(), option, user_id=user, channel_id=CHANNEL, action_ts=ts)
            assert send_signed(c.web.events_url, body, signing_secret=SIGNING_SECRET)[0] == 200
        slack.wait_for(lambda: "*Baixa Inn* · 2 votes: Ana, Ben" in vote()["blocks"][1]["text"]["text"], timeout=DEADLINE)
        slack.wait_for(lambda: [m for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "plan"], timeout=DEADLINE)
        closed = vote()
        llm = c.llm

    assert closed["blocks"][-1]["elements"][0]["text"] == "🔒 *Closed* (its time ran out). Winner: Baixa Inn (2 votes)"
    assert vote_results(llm.calls[-1].messages)[0].startswith('Team vote result for "Which hotel?" (closed: its time ran out; 2 voted)')
    assert duplicate_posts(slack) == []
