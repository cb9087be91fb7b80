"""Events API: answers in trip threads, mentions, dedupe, over signed HTTP."""

from __future__ import annotations

import uuid

from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread
from testing.fakes.slack_api import BOT_USER_ID, TEAM_ID
from testing.fakes.slack_bot import RunningSlackBot, start_slack_bot
from testing.fakes.slack_requests import (
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
from workflows.ports import AmendOutcome, Reply, TripRecord
from workflows.registry import RedisThreadRegistry, open_redis_client

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
    bot.wait_idle()  # the answer reaches the bot a moment after the fake records it: its lookup has ended
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
        message_changed(CHANNEL, reply_ts, "edited answer", thread_ts=root),  # never an answer: no reply
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
    bot.wait_idle()  # every event handled: none of the others will arrive later
    assert [d.reply.text for d in bot.trips.deliveries] == ["the one real answer"]


def test_slack_retries_of_one_event_deliver_once(bot) -> None:
    trip = start_trip(bot)
    event = thread_reply(CHANNEL, trip.thread["thread_ts"], "4 people")
    body = json_body(event_envelope(event, event_id="Ev0RETRY"))
    for retry_num in (None, 1, 2):  # the original, then Slack's retries
        status, _, _ = send_signed(bot.events_url, body, retry_num=retry_num)
        assert status == 200
    bot.wait_for(lambda: bot.trips.deliveries)
    bot.wait_idle()  # the retries handled too
    assert len(bot.trips.deliveries) == 1
    # the event id itself was remembered (not only the message)
    assert bot.run(bot.registry.first_time("event:Ev0RETRY", 60)) is False


def test_mention_in_a_trip_thread_is_one_answer_with_the_mention_stripped(bot) -> None:
    trip = start_trip(bot)
    mention = app_mention(
        CHANNEL, f"<@{BOT_USER_ID}> we prefer trains", thread_ts=trip.thread["thread_ts"], user="U0BOB"
    )
    post_event(bot, mention)  # Slack sends both events for one message
    post_event(bot, as_message_event(mention))

    bot.wait_for(lambda: bot.trips.deliveries)
    bot.wait_idle()  # the twin handled too
    [delivered] = bot.trips.deliveries
    assert delivered.reply.key == f"{CHANNEL}:{mention['ts']}"
    assert delivered.reply.text == "we prefer trains"


def test_message_then_mention_order_also_delivers_once(bot) -> None:
    trip = start_trip(bot)
    mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}>  2 adults", thread_ts=trip.thread["thread_ts"])
    post_event(bot, as_message_event(mention))
    post_event(bot, mention)
    bot.wait_for(lambda: bot.trips.deliveries)
    bot.wait_idle()  # the twin handled too
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
    bot.wait_idle()  # the message twin handled too
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


# -- edits and deletions ---------------------------------------------------


def _inbox(bot: RunningSlackBot, trip: TripRecord) -> list[Reply]:
    return bot.run(bot.registry.unclaimed_replies(trip.trip_id))


def _answer(bot: RunningSlackBot, trip: TripRecord, text: str, user: str = "U0BOB") -> dict:
    event = thread_reply(CHANNEL, trip.thread["thread_ts"], text, user=user)
    post_event(bot, event)
    bot.wait_for(lambda: any(d.reply.key == f"{CHANNEL}:{event['ts']}" for d in bot.trips.deliveries))
    return event


def test_an_edit_of_an_unread_answer_replaces_it_in_place(bot) -> None:
    bot.api.add_user("U0BOB", display_name="Bob")
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    first = _answer(bot, trip, "May 1-4")
    second = _answer(bot, trip, "4 people")
    post_event(bot, message_changed(CHANNEL, first["ts"], "May 2-5", thread_ts=root, previous_text="May 1-4"))

    bot.wait_for(lambda: bot.trips.amendments)
    assert [a.outcome for a in bot.trips.amendments] == [AmendOutcome.REVISED]
    assert _inbox(bot, trip) == [
        Reply(key=f"{CHANNEL}:{first['ts']}", author="Bob", text="May 2-5", ts=first["ts"]),
        Reply(key=f"{CHANNEL}:{second['ts']}", author="Bob", text="4 people", ts=second["ts"]),
    ]


def test_an_edit_of_a_read_answer_is_one_correction_whatever_slack_repeats(bot) -> None:
    bot.api.add_user("U0BOB", display_name="Bob")
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    answer = _answer(bot, trip, "3 people")
    assert len(bot.run(bot.registry.claim_replies(trip.trip_id, "turn-1"))) == 1  # the planner read it
    edit = message_changed(CHANNEL, answer["ts"], "4 people, one of them vegan", thread_ts=root,
                           previous_text="3 people")
    body = json_body(event_envelope(edit, event_id="Ev0EDIT"))
    for retry_num in (None, 1, 2):  # the original, then Slack's retries
        status, _, elapsed = send_signed(bot.events_url, body, retry_num=retry_num)
        assert status == 200 and elapsed < 0.5
    post_event(bot, edit)  # the same edit once more, under another event id

    bot.wait_for(lambda: len(bot.trips.amendments) == 4)
    assert [a.outcome for a in bot.trips.amendments] == [AmendOutcome.CORRECTED] + [AmendOutcome.STALE] * 3
    assert _inbox(bot, trip) == [
        Reply(
            key=f"{CHANNEL}:{answer['ts']}:edited:{edit['event_ts']}",
            author="Bob",
            text="Bob edited their answer: 4 people, one of them vegan",
            ts=edit["event_ts"],
        )
    ]
    assert bot.run(bot.registry.first_time("event:Ev0EDIT", 60)) is False  # remembered once stored


def test_two_edits_within_one_second_both_count(bot) -> None:
    """`edited.ts` has whole seconds only: the change event's own ts orders edits."""
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    answer = _answer(bot, trip, "Lisbon")
    bot.run(bot.registry.claim_replies(trip.trip_id, "turn-1"))
    first = message_changed(CHANNEL, answer["ts"], "Porto", thread_ts=root, previous_text="Lisbon")
    second = message_changed(CHANNEL, answer["ts"], "Porto and Braga", thread_ts=root, previous_text="Porto")
    second["message"]["edited"] = dict(first["message"]["edited"])  # the same second
    post_event(bot, first)
    post_event(bot, second)
    bot.wait_for(lambda: len(bot.trips.amendments) == 2)
    assert [r.text.split(": ", 1)[1] for r in _inbox(bot, trip)] == ["Porto and Braga"]


def test_changes_that_are_not_a_persons_edit_of_an_answer_are_ignored(bot) -> None:
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    answer = _answer(bot, trip, "we like trains")
    question_ts = bot.api.add_message(CHANNEL, "Which dates?", bot=True, thread_ts=root)
    other_root = bot.api.add_message(CHANNEL, "lunch?", user="U0BOB")
    status = app_mention(CHANNEL, f"<@{BOT_USER_ID}> status", thread_ts=root, user="U0BOB")
    post_event(bot, status)
    another_app_edit = message_changed(CHANNEL, answer["ts"], "an app's rewrite", thread_ts=root,
                                       previous_text="we like trains")
    another_app_edit["message"]["bot_id"] = "B0OTHER"
    changes = [
        # our own chat.update coming back, and another app's
        message_changed(CHANNEL, question_ts, "✅ Which dates?", thread_ts=root, previous_text="Which dates?", bot=True),
        another_app_edit,
        # an unfurl, and an "edit" that left the text as it was
        message_changed(CHANNEL, answer["ts"], "we like trains", thread_ts=root, previous_text="we like trains",
                        edited=False),
        message_changed(CHANNEL, answer["ts"], "we like trains", thread_ts=root, previous_text="we like trains"),
        # messages the inbox never held as answers: a command, the root, elsewhere
        message_changed(CHANNEL, status["ts"], f"<@{BOT_USER_ID}> status please", thread_ts=root,
                        previous_text=status["text"]),
        message_changed(CHANNEL, root, "Trip planning started: Porto", previous_text="Trip planning started: Rome"),
        message_changed(CHANNEL, unique_ts(), "in another thread", thread_ts=other_root),
        message_changed(CHANNEL, unique_ts(), "top level", previous_text="top"),
    ]
    for change in changes:
        post_event(bot, change)
    sentinel = message_changed(CHANNEL, answer["ts"], "we like night trains", thread_ts=root,
                               previous_text="we like trains")
    post_event(bot, sentinel)

    bot.wait_for(lambda: any(a.outcome is AmendOutcome.REVISED for a in bot.trips.amendments))
    bot.wait_idle()  # every change handled: none of the others will arrive later
    assert [(a.key, a.outcome) for a in bot.trips.amendments] == [
        (f"{CHANNEL}:{status['ts']}", AmendOutcome.IGNORED),  # reached the inbox, which never held it
        (f"{CHANNEL}:{answer['ts']}", AmendOutcome.REVISED),
    ]
    assert [r.text for r in _inbox(bot, trip)] == ["we like night trains"]


def test_a_deleted_unread_answer_is_dropped_and_a_read_one_stays(bot) -> None:
    trip = start_trip(bot)
    root = trip.thread["thread_ts"]
    read = _answer(bot, trip, "2 adults")
    bot.run(bot.registry.claim_replies(trip.trip_id, "turn-1"))
    unread = _answer(bot, trip, "and a dog")
    _answer(bot, trip, "budget 2000 EUR")  # stays: nobody deletes it
    post_event(bot, message_deleted(CHANNEL, unread["ts"], thread_ts=root, previous_text="and a dog"))
    post_event(bot, message_deleted(CHANNEL, read["ts"], thread_ts=root, previous_text="2 adults"))
    post_event(bot, message_deleted(CHANNEL, unique_ts(), thread_ts=root, bot=True))  # an app's deletion

    bot.wait_for(lambda: len(bot.trips.amendments) == 2)
    bot.wait_idle()  # the app's deletion handled too
    assert [a.outcome for a in bot.trips.amendments] == [AmendOutcome.WITHDRAWN, AmendOutcome.READ]
    assert [r.text for r in _inbox(bot, trip)] == ["budget 2000 EUR"]
    assert bot.run(bot.registry.claim_replies(trip.trip_id, "turn-1"))[0].text == "2 adults"


def test_a_late_retry_of_a_deleted_answer_stays_out_in_another_process(api, redis_url) -> None:
    """Two `web` processes on one Redis: the answer reaches one, its deletion
    too, and Slack's late retry of the answer reaches the other, which has
    never seen it. The inbox's tombstone keeps it out."""
    namespace = f"t-{uuid.uuid4().hex[:12]}"
    clients = []

    def registry() -> RedisThreadRegistry:
        clients.append(open_redis_client(redis_url))
        return RedisThreadRegistry(clients[-1], namespace=namespace)

    with start_slack_bot(api, registry_factory=registry) as one, start_slack_bot(api, registry_factory=registry) as two:
        try:
            trip = start_trip(one)
            root = trip.thread["thread_ts"]
            answer = thread_reply(CHANNEL, root, "a reply I regret")
            body = json_body(event_envelope(answer))
            assert send_signed(one.events_url, body)[0] == 200
            one.wait_for(lambda: one.trips.deliveries)
            post_event(one, message_deleted(CHANNEL, answer["ts"], thread_ts=root, previous_text=answer["text"]))
            one.wait_for(lambda: one.trips.amendments)
            assert send_signed(two.events_url, body, retry_num=3)[0] == 200  # 5 minutes later, elsewhere
            two.wait_for(lambda: two.trips.deliveries)
            assert [d.accepted for d in two.trips.deliveries] == [False]
            assert _inbox(two, trip) == []
        finally:
            one.run(clients[0].aclose())
            two.run(clients[1].aclose())
