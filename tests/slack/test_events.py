"""Events API: answers in trip threads, mentions, dedupe, over signed HTTP."""

from __future__ import annotations

import time

from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID
from tests.fakes.slack_bot import RunningSlackBot
from tests.fakes.slack_requests import (
    app_home_opened,
    app_mention,
    as_message_event,
    bot_message,
    channel_message,
    event_envelope,
    file_share,
    json_body,
    message_changed,
    message_deleted,
    send_signed,
    thread_broadcast,
    thread_reply,
    unique_ts,
)
from workflows.ports import Reply, TripRecord

CHANNEL = "C0TRIP"


def start_trip(bot: RunningSlackBot, channel: str = CHANNEL) -> TripRecord:
    """A trip whose root message is ours, registered as the engine would."""
    root_ts = bot.api.add_message(channel, "Trip planning started by <@U0ANA>: Rome", bot=True)
    record = TripRecord(
        trip_id=trip_id_for_thread(TEAM_ID, channel, root_ts),
        thread_key=thread_key(TEAM_ID, channel, root_ts),
        thread=slack_thread_ref(TEAM_ID, channel, root_ts),
        starter="U0ANA",
        request="Rome",
    )
    assert bot.run(bot.trips.start_trip(record))
    bot.trips.started.clear()
    return record


def post_event(bot: RunningSlackBot, event: dict, **envelope) -> dict:
    body = event_envelope(event, **envelope)
    status, text, elapsed = send_signed(bot.events_url, json_body(body))
    assert status == 200, text
    assert elapsed < 0.5
    return body


def test_thread_reply_is_delivered_with_the_author_name(bot) -> None:
    bot.api.add_user("U0BOB", display_name="Bob")
    trip = start_trip(bot)
    event = thread_reply(CHANNEL, trip.thread["thread_ts"], "We like beaches &amp; museums", user="U0BOB")
    post_event(bot, event)

    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert delivered.trip_id == trip.trip_id
    assert delivered.reply == Reply(
        key=f"{CHANNEL}:{event['ts']}", author="Bob", text="We like beaches & museums", ts=event["ts"]
    )


def test_a_slow_name_lookup_never_holds_up_the_ack(bot) -> None:
    """Replies are stored before Slack hears "ok": a cold users.info may not delay it."""
    bot.api.add_user("U0SLOW", display_name="Sam")
    bot.api.method_latency["users.info"] = 1.0
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    status, _, elapsed = send_signed(bot.events_url, json_body(event_envelope(
        thread_reply(CHANNEL, root, "first", user="U0SLOW"))))
    assert status == 200 and elapsed < 0.5  # the 1 s lookup went on in the background
    [first] = bot.wait_for(lambda: bot.trips.deliveries)
    assert first.reply.author == "<@U0SLOW>"
    bot.wait_for(lambda: any(c.method == "users.info" and c.status == 200 for c in bot.api.calls), timeout=5)
    time.sleep(0.2)  # the answer reaches the bot a moment after the fake records it
    post_event(bot, thread_reply(CHANNEL, root, "second", user="U0SLOW"))
    bot.wait_for(lambda: len(bot.trips.deliveries) == 2)
    assert bot.trips.deliveries[1].reply.author == "Sam"  # the finished lookup named the next reply


def test_unknown_author_is_named_in_mention_form(bot) -> None:
    trip = start_trip(bot)
    post_event(bot, thread_reply(CHANNEL, trip.thread["thread_ts"], "hi", user="U0NOBODY"))
    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert delivered.reply.author == "<@U0NOBODY>"


def test_thread_broadcast_and_file_share_count_as_answers(bot) -> None:
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    broadcast = thread_broadcast(CHANNEL, root, "Also: no red-eye flights")
    shared = file_share(CHANNEL, root, "our budget", file_name="budget.xlsx")
    post_event(bot, broadcast)
    post_event(bot, shared)

    bot.wait_for(lambda: len(bot.trips.deliveries) == 2)
    texts = {d.reply.key: d.reply.text for d in bot.trips.deliveries}
    assert texts[f"{CHANNEL}:{broadcast['ts']}"] == "Also: no red-eye flights"
    assert texts[f"{CHANNEL}:{shared['ts']}"] == "our budget\n[shared files: budget.xlsx]"


def test_bot_messages_edits_deletions_and_other_threads_are_ignored(bot) -> None:
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    other_root = bot.api.add_message(CHANNEL, "lunch?", user="U0BOB")
    reply_ts = unique_ts()
    ignored = [
        bot_message(CHANNEL, root, "our own question"),  # ours (bot_id + our user)
        bot_message(CHANNEL, root, "another app, modern post", bot_id="B0OTHER", user="U0OTHERBOT"),
        bot_message(CHANNEL, root, "another app, legacy post", bot_id="B0OTHER", user=None, subtype="bot_message"),
        message_changed(CHANNEL, reply_ts, "edited answer", thread_ts=root),
        message_deleted(CHANNEL, reply_ts, thread_ts=root),
        {**thread_reply(CHANNEL, root, "joined"), "subtype": "channel_join"},
        thread_reply(CHANNEL, other_root, "answer in a thread that is not a trip"),
        channel_message(CHANNEL, "top-level chatter"),
    ]
    for event in ignored:
        post_event(bot, event)
    sentinel = thread_reply(CHANNEL, root, "the one real answer")
    post_event(bot, sentinel)

    bot.wait_for(lambda: bot.trips.deliveries)
    bot.settle()
    assert [d.reply.text for d in bot.trips.deliveries] == ["the one real answer"]


def test_slack_retries_of_one_event_deliver_once(bot) -> None:
    trip = start_trip(bot)
    event = thread_reply(CHANNEL, trip.thread["thread_ts"], "4 people")
    body = json_body(event_envelope(event, event_id="Ev0RETRY"))
    for retry_num in (None, 1, 2):  # the original, then Slack's retries
        status, _, _ = send_signed(bot.events_url, body, retry_num=retry_num)
        assert status == 200
    bot.wait_for(lambda: bot.trips.deliveries)
    bot.settle()
    assert len(bot.trips.deliveries) == 1
    # the event id itself was remembered (not only the message)
    assert bot.run(bot.registry.mark_event("event:Ev0RETRY", 60)) is False


def test_mention_in_a_trip_thread_is_one_answer_with_the_mention_stripped(bot) -> None:
    trip = start_trip(bot)
    mention = app_mention(
        CHANNEL, f"<@{BOT_USER_ID}> we prefer trains", thread_ts=trip.thread["thread_ts"], user="U0BOB"
    )
    post_event(bot, mention)  # Slack sends both events for one message
    post_event(bot, as_message_event(mention))

    bot.wait_for(lambda: bot.trips.deliveries)
    bot.settle()
    [delivered] = bot.trips.deliveries
    assert delivered.reply.key == f"{CHANNEL}:{mention['ts']}"
    assert delivered.reply.text == "we prefer trains"


def test_message_then_mention_order_also_delivers_once(bot) -> None:
    trip = start_trip(bot)
    mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}>  2 adults", thread_ts=trip.thread["thread_ts"])
    post_event(bot, as_message_event(mention))
    post_event(bot, mention)
    bot.wait_for(lambda: bot.trips.deliveries)
    bot.settle()
    assert [d.reply.text for d in bot.trips.deliveries] == ["2 adults"]


def test_top_level_mention_starts_a_trip_in_its_own_thread(bot) -> None:
    mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}> Rome in June, 2 people", user="U0ANA")
    post_event(bot, mention)
    post_event(bot, as_message_event(mention))

    [record] = bot.wait_for(lambda: bot.trips.started)
    assert record.trip_id == trip_id_for_thread(TEAM_ID, CHANNEL, mention["ts"])
    assert record.thread == slack_thread_ref(TEAM_ID, CHANNEL, mention["ts"])
    assert record.request == "Rome in June, 2 people"
    assert record.starter == "U0ANA"
    bot.settle()
    assert len(bot.trips.started) == 1
    assert bot.trips.deliveries == []  # the request is the trip's, not an answer


def test_mention_in_a_thread_that_is_not_a_trip_starts_one_there(bot) -> None:
    root = bot.api.add_message(CHANNEL, "thinking about a team offsite", user="U0BOB")
    mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}> plan this: Berlin, 10 people", thread_ts=root)
    post_event(bot, mention)
    [record] = bot.wait_for(lambda: bot.trips.started)
    assert record.trip_id == trip_id_for_thread(TEAM_ID, CHANNEL, root)
    assert record.request == "plan this: Berlin, 10 people"


def test_app_home_opened_publishes_the_home_tab(bot) -> None:
    trip = start_trip(bot)
    post_event(bot, app_home_opened("U0ANA"))
    view = bot.wait_for(lambda: bot.api.views.get("U0ANA"))
    assert view["type"] == "home"
    texts = " ".join(str(b.get("text", {}).get("text", "")) for b in view["blocks"])
    assert "/plan-trip" in texts
    assert trip.request in texts
