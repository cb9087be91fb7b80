"""/plan-trip over real signed HTTP to the running bot, against the fake Slack API."""

from __future__ import annotations

from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread
from testing.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackWebAPI
from testing.fakes.slack_bot import start_slack_bot
from testing.fakes.slack_requests import send_signed, slash_command


def test_ack_is_fast_while_slack_and_the_engine_are_slow(api: FakeSlackWebAPI) -> None:
    """The slow work (Slack calls of 1.5 s, an engine taking 2 s) never sits on
    the ack path: every ack, even the first, comes well before one such call
    could have finished, on a loaded machine too."""
    with start_slack_bot(api, trips_delay=2.0) as bot:
        api.latency = 1.5  # every Web API call now takes 1.5 s
        timings = []
        for i in range(4):
            status, body, elapsed = send_signed(
                bot.events_url, slash_command(f"Trip {i}", response_url=api.response_url())
            )
            assert status == 200
            assert body == ""  # an empty ack: Slack shows nothing, the root post follows
            timings.append(elapsed)
        assert max(timings) < 0.75, timings  # half a single Web API call
        # ...and the slow work still happens, after the ack.
        bot.wait_for(lambda: len(bot.trips.started) == 4, timeout=30)
        assert len(api.posts()) == 4


def test_root_post_and_trip_record(bot) -> None:
    api = bot.api
    status, _, _ = send_signed(bot.events_url, slash_command("Lisbon in May, 4 people", channel_id="C0LIS"))
    assert status == 200
    [record] = bot.wait_for(lambda: bot.trips.started)

    [root] = api.posts(channel="C0LIS")
    assert root["text"].startswith("Trip planning started by <@U0ANA>: Lisbon in May, 4 people\n")
    # The root carries the trip's controls while it runs.
    [controls] = [b for b in root["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in controls["elements"]] == ["trip_finish", "trip_cancel"]
    assert "thread_ts" not in root  # the root is a channel message; the trip lives in its thread
    assert root["unfurl_links"] is False and root["unfurl_media"] is False

    ts = root["ts"]
    assert record.trip_id == trip_id_for_thread(TEAM_ID, "C0LIS", ts)
    assert record.thread_key == thread_key(TEAM_ID, "C0LIS", ts)
    assert record.thread == slack_thread_ref(TEAM_ID, "C0LIS", ts)
    assert record.starter == "U0ANA"
    assert record.request == "Lisbon in May, 4 people"
    assert bot.run(bot.registry.trip_for_thread(record.thread_key)) == record.trip_id


def test_empty_request_still_starts_a_trip(bot) -> None:
    send_signed(bot.events_url, slash_command("   "))
    [record] = bot.wait_for(lambda: bot.trips.started)
    assert record.request == ""  # the planner itself asks what the trip is
    [root] = bot.api.posts()
    assert root["text"].startswith("Trip planning started by <@U0ANA>.\n")


def test_request_text_is_unescaped_for_the_planner_and_safe_in_the_root_post(bot) -> None:
    # Slack escapes &, <, > in slash command text.
    send_signed(bot.events_url, slash_command("Paris &amp; Rome &lt;!channel&gt; @here"))
    [record] = bot.wait_for(lambda: bot.trips.started)
    assert record.request == "Paris & Rome <!channel> @here"
    [root] = bot.api.posts()
    assert "<!channel>" not in root["text"] and "@here" not in root["text"]
    assert "Paris &amp; Rome" in root["text"]


def test_public_channel_without_the_bot_is_joined_then_posted(bot) -> None:
    api = bot.api
    api.add_channel("C0PUB", is_member=False)
    send_signed(bot.events_url, slash_command("Oslo", channel_id="C0PUB", response_url=api.response_url("pub")))
    [record] = bot.wait_for(lambda: bot.trips.started)

    posts = api.calls_to("chat.postMessage")
    assert [c.response["ok"] for c in posts] == [False, True]
    assert posts[0].response["error"] == "not_in_channel"
    assert [c.params["channel"] for c in api.calls_to("conversations.join")] == ["C0PUB"]
    [root] = api.posts(channel="C0PUB")
    assert record.thread["thread_ts"] == root["ts"]
    assert api.responses.get("pub") is None  # nothing to tell the user


def test_private_channel_without_the_bot_gets_ephemeral_invite_instructions(bot) -> None:
    api = bot.api
    api.add_channel("G0PRIV", is_private=True, is_member=False)
    send_signed(bot.events_url, slash_command("Oslo", channel_id="G0PRIV", response_url=api.response_url("priv")))
    [answer] = bot.wait_for(lambda: api.responses.get("priv"))

    assert answer["response_type"] == "ephemeral"
    assert f"/invite <@{BOT_USER_ID}>" in answer["text"]
    assert api.posts() == []
    assert bot.trips.started == []
    assert api.calls_to("conversations.join") == []  # a private channel cannot be joined


def test_engine_failure_is_reported_ephemerally(api: FakeSlackWebAPI) -> None:
    with start_slack_bot(api) as bot:
        bot.trips.fail_start = True
        send_signed(bot.events_url, slash_command("Oslo", response_url=api.response_url("fail")))
        [answer] = bot.wait_for(lambda: api.responses.get("fail"))
        assert answer["response_type"] == "ephemeral"
        assert "unavailable" in answer["text"]
