"""Regressions found by the crash matrix: a reply must be in the trip's
durable inbox before Slack hears 200, and nothing may be marked "seen" before
the reply is stored (a crash in between made Slack's retry, or the
app_mention/message twin of the same message, a dropped "duplicate")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread
from testing.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackWebAPI
from testing.fakes.slack_bot import RunningSlackBot, start_slack_bot
from testing.fakes.slack_requests import app_mention, as_message_event, event_envelope, json_body, send_signed, thread_reply
from workflows.ports import TripRecord

CHANNEL = "C0TRIP"


@pytest.fixture
def api() -> Iterator[FakeSlackWebAPI]:
    fake = FakeSlackWebAPI().start()
    fake.add_user("U0BOB", display_name="Bob")
    try:
        yield fake
    finally:
        fake.stop()


def _trip(bot: RunningSlackBot) -> TripRecord:
    root_ts = bot.api.add_message(CHANNEL, "Trip planning started by <@U0ANA>: Rome", bot=True)
    record = TripRecord(
        trip_id=trip_id_for_thread(TEAM_ID, CHANNEL, root_ts),
        thread_key=thread_key(TEAM_ID, CHANNEL, root_ts),
        thread=slack_thread_ref(TEAM_ID, CHANNEL, root_ts),
        starter="U0ANA",
        request="Rome",
    )
    assert bot.run(bot.trips.start_trip(record))
    return record


def _crash_once(bot: RunningSlackBot) -> list[str]:
    """The next hand-over dies before the inbox write (as a SIGKILL would)."""
    real = bot.trips.deliver_reply
    crashed: list[str] = []

    async def deliver(trip_id, reply):  # type: ignore[no-untyped-def]
        if not crashed:
            crashed.append(reply.key)
            raise RuntimeError("process died here")
        return await real(trip_id, reply)

    bot.trips.deliver_reply = deliver  # type: ignore[method-assign]
    return crashed


def test_a_reply_is_in_the_inbox_before_slack_hears_200(api) -> None:
    with start_slack_bot(api, trips_delay=0.3) as bot:  # a slow store
        trip = _trip(bot)
        event = thread_reply(CHANNEL, trip.thread["thread_ts"], "4 people", user="U0BOB")
        status, _, _ = send_signed(bot.events_url, json_body(event_envelope(event)))
        assert status == 200
        # No waiting: once Slack has its 200, the reply is stored.
        assert [d.reply.text for d in bot.trips.deliveries] == ["4 people"]
        assert bot.trips.deliveries[0].reply.author == "Bob"


def test_slack_retries_a_reply_that_died_before_the_inbox(api) -> None:
    with start_slack_bot(api) as bot:
        trip = _trip(bot)
        crashed = _crash_once(bot)
        body = json_body(event_envelope(thread_reply(CHANNEL, trip.thread["thread_ts"], "2 adults", user="U0BOB")))
        status, _, _ = send_signed(bot.events_url, body)
        assert crashed and status >= 500  # not acknowledged: Slack will retry
        status, _, _ = send_signed(bot.events_url, body, retry_num=1)
        assert status == 200
        assert [d.reply.text for d in bot.trips.deliveries if d.accepted] == ["2 adults"]


def test_the_twin_event_delivers_a_mention_whose_first_event_died(api) -> None:
    with start_slack_bot(api) as bot:
        trip = _trip(bot)
        crashed = _crash_once(bot)
        mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}> trains please", user="U0BOB", thread_ts=trip.thread["thread_ts"])
        send_signed(bot.events_url, json_body(event_envelope(mention)))
        assert crashed
        status, _, _ = send_signed(bot.events_url, json_body(event_envelope(as_message_event(mention))))
        assert status == 200
        assert [d.reply.text for d in bot.trips.deliveries if d.accepted] == ["trains please"]


def test_twins_and_retries_still_deliver_once(api) -> None:
    with start_slack_bot(api) as bot:
        trip = _trip(bot)
        mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}> 3 nights", user="U0BOB", thread_ts=trip.thread["thread_ts"])
        body = json_body(event_envelope(mention))
        for retry in (None, 1):
            assert send_signed(bot.events_url, body, retry_num=retry)[0] == 200
        assert send_signed(bot.events_url, json_body(event_envelope(as_message_event(mention))))[0] == 200
        bot.wait_idle()  # the retry and the twin handled
        assert [d.reply.text for d in bot.trips.deliveries] == ["3 nights"]
