"""Controls from Slack reach the trip's inbox as `Reply(kind=...)`: the
Finish / Cancel / Continue buttons (block_actions) and `@bot cancel | finish |
status` in a trip thread. Who may cancel, refusals, dedupe, ack speed."""

from __future__ import annotations

import time

from bot.threads import slack_thread_ref, thread_key, trip_id_for_thread
from testing.fakes.slack_api import BOT_USER_ID, TEAM_ID
from testing.fakes.slack_bot import RunningSlackBot
from testing.fakes.slack_requests import (
    app_mention,
    as_message_event,
    block_actions,
    event_envelope,
    json_body,
    send_signed,
    unique_ts,
)
from workflows.ports import TripRecord

CHANNEL = "C0CTRL"


def start_trip(bot: RunningSlackBot, *, starter: str = "U0ANA", state: str = "waiting") -> TripRecord:
    root_ts = bot.api.add_message(CHANNEL, "Trip planning started by <@U0ANA>: Rome", bot=True)
    record = TripRecord(
        trip_id=trip_id_for_thread(TEAM_ID, CHANNEL, root_ts),
        thread_key=thread_key(TEAM_ID, CHANNEL, root_ts),
        thread=slack_thread_ref(TEAM_ID, CHANNEL, root_ts),
        starter=starter,
        request="Rome in June",
    )
    assert bot.run(bot.trips.start_trip(record))
    bot.run(bot.registry.update_trip(
        record.trip_id, state=state, last_question="Which dates work for everyone?",
        usage={"llm_calls": 3, "prompt_tokens": 300, "completion_tokens": 60, "tool_calls": 2},
    ))
    bot.trips.started.clear()
    return record


def click(bot: RunningSlackBot, action_id: str, trip: TripRecord, *, user: str, **kwargs) -> float:
    body = block_actions(action_id=action_id, user_id=user, channel_id=CHANNEL,
                         message_ts=kwargs.pop("message_ts", trip.thread["thread_ts"]), **kwargs)
    status, text, elapsed = send_signed(bot.events_url, body)
    assert status == 200, text
    return elapsed


def mention(bot: RunningSlackBot, trip: TripRecord, text: str, *, user: str, message_first: bool = False) -> str:
    """`@bot text` in the trip's thread: Slack sends app_mention and a message
    event for it, in either order."""
    event = app_mention(CHANNEL, f"<@{BOT_USER_ID}> {text}", user=user, thread_ts=trip.thread["thread_ts"])
    twins = [event, as_message_event(event)]
    for e in reversed(twins) if message_first else twins:
        status, body, elapsed = send_signed(bot.events_url, json_body(event_envelope(e)))
        assert status == 200, body
        assert elapsed < 1.0
    return str(event["ts"])


def kinds(bot: RunningSlackBot, trip: TripRecord) -> list[tuple[str, str, bool]]:
    return [(d.reply.kind, d.reply.author, d.accepted) for d in bot.trips.deliveries if d.trip_id == trip.trip_id]


# -- buttons ----------------------------------------------------------------


def test_anyone_can_finish_from_the_root_message_and_the_ack_is_immediate(bot) -> None:
    bot.api.add_user("U0BEN", display_name="Ben")
    bot.api.method_latency["users.info"] = 0.3  # slow Slack: the ack must not wait for it
    trip = start_trip(bot)
    elapsed = click(bot, "trip_finish", trip, user="U0BEN", action_ts="1700000100.000001")

    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert elapsed < 0.2
    assert delivered.trip_id == trip.trip_id
    assert delivered.reply.kind == "finish" and delivered.reply.text == "finish"
    assert delivered.reply.author == "Ben"
    assert delivered.reply.key == "action:U0BEN:1700000100.000001"
    bot.wait_for(lambda: bot.api.ephemerals)
    assert bot.api.ephemerals[0]["user"] == "U0BEN" and bot.api.ephemerals[0]["thread_ts"] == trip.thread["thread_ts"]


def test_a_retried_click_is_delivered_once(bot) -> None:
    trip = start_trip(bot)
    for _ in range(2):  # the same request twice: same action_ts
        click(bot, "trip_finish", trip, user="U0ANA", action_ts="1700000200.000001")
    bot.wait_for(lambda: len(bot.trips.deliveries) == 2)
    assert [d.accepted for d in bot.trips.deliveries] == [True, False]
    assert len(bot.run(bot.registry.unclaimed_replies(trip.trip_id))) == 1


def test_only_the_starter_or_an_admin_can_cancel(bot) -> None:
    bot.api.add_user("U0BEN", display_name="Ben")
    bot.api.add_user("U0ADA", display_name="Ada", is_admin=True)
    bot.api.add_user("U0ANA", display_name="Ana")
    trip = start_trip(bot)

    click(bot, "trip_cancel", trip, user="U0BEN")
    [refusal] = bot.wait_for(lambda: bot.api.ephemerals)
    bot.wait_idle()  # the click's listener has finished
    assert bot.trips.deliveries == []
    assert refusal["user"] == "U0BEN" and refusal["channel"] == CHANNEL
    assert refusal["thread_ts"] == trip.thread["thread_ts"]
    assert "<@U0ANA>" in refusal["text"] and "admin" in refusal["text"]

    click(bot, "trip_cancel", trip, user="U0ADA")  # a workspace admin
    click(bot, "trip_cancel", trip, user="U0ANA")  # the starter
    bot.wait_for(lambda: len(bot.trips.deliveries) == 2)
    assert kinds(bot, trip) == [("cancel", "Ada", True), ("cancel", "Ana", True)]


def test_a_button_on_a_question_in_the_thread_finds_the_trip_and_closes_the_question(bot) -> None:
    trip = start_trip(bot)
    root_ts = trip.thread["thread_ts"]
    question_ts = bot.api.add_message(CHANNEL, "Budget reached. Continue?", bot=True, thread_ts=root_ts)
    blocks = [
        {"type": "markdown", "text": "Budget reached. Continue?"},
        {"type": "actions", "block_id": "trip_controls", "elements": [
            {"type": "button", "action_id": "trip_continue", "text": {"type": "plain_text", "text": "Continue"}},
            {"type": "button", "action_id": "trip_finish", "text": {"type": "plain_text", "text": "Finish"}},
        ]},
    ]
    click(bot, "trip_continue", trip, user="U0BEN", message_ts=question_ts, thread_ts=root_ts, message_blocks=blocks)

    [delivered] = bot.wait_for(lambda: bot.trips.deliveries)
    assert delivered.trip_id == trip.trip_id and delivered.reply.kind == "continue"
    closed = bot.wait_for(lambda: [c for c in bot.api.calls_to("chat.update") if c.params.get("ts") == question_ts])
    message = bot.api.message(CHANNEL, question_ts)
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert "<@U0BEN> chose *Continue*" in str(message["blocks"]) and closed


def test_buttons_of_a_finished_trip_or_of_no_trip_deliver_nothing(bot) -> None:
    done = start_trip(bot, state="done")
    click(bot, "trip_finish", done, user="U0ANA")
    [told] = bot.wait_for(lambda: bot.api.ephemerals)
    assert "no longer running" in told["text"]

    stranger = bot.api.add_message(CHANNEL, "not a trip", bot=True)
    body = block_actions(action_id="trip_cancel", user_id="U0ANA", channel_id=CHANNEL, message_ts=stranger)
    status, _, _ = send_signed(bot.events_url, body)
    assert status == 200
    _, unknown = bot.wait_for(lambda: bot.api.ephemerals[1:] and bot.api.ephemerals)  # the click was handled
    assert "don't know this trip" in unknown["text"]
    bot.wait_idle()
    assert bot.trips.deliveries == []


# -- @bot commands in the thread ---------------------------------------------


def test_at_bot_cancel_by_the_starter_is_a_control_once_and_never_an_answer(bot) -> None:
    bot.api.add_user("U0ANA", display_name="Ana")
    trip = start_trip(bot)
    for message_first in (False, True):  # app_mention + its message twin, in either order
        ts = mention(bot, trip, "Cancel", user="U0ANA", message_first=message_first)
        bot.wait_for(lambda: bot.trips.deliveries)
        bot.wait_idle()  # both twins handled
        assert [(k, a) for k, a, accepted in kinds(bot, trip) if accepted] == [("cancel", "Ana")]
        [reply] = bot.run(bot.registry.unclaimed_replies(trip.trip_id))
        assert reply.key == f"{CHANNEL}:{ts}" and reply.kind == "cancel"
        bot.run(bot.registry.claim_replies(trip.trip_id, f"claim-{message_first}"))
        bot.trips.deliveries.clear()


def test_at_bot_cancel_by_someone_else_is_refused_once(bot) -> None:
    bot.api.add_user("U0BEN", display_name="Ben")
    trip = start_trip(bot)
    mention(bot, trip, "cancel", user="U0BEN")
    bot.wait_for(lambda: bot.api.ephemerals)
    bot.wait_idle()  # both twins handled, every refusal they sent is posted
    assert bot.trips.deliveries == []
    assert len(bot.api.ephemerals) == 1 and bot.api.ephemerals[0]["user"] == "U0BEN"


def test_at_bot_finish_and_longer_texts(bot) -> None:
    trip = start_trip(bot)
    mention(bot, trip, "finish!", user="U0BEN")
    mention(bot, trip, "cancel the museum day please", user="U0BEN")  # an answer, not a command
    bot.wait_for(lambda: len(bot.trips.deliveries) >= 2)
    bot.wait_idle()  # all four events handled
    assert [(k, a) for k, _, a in kinds(bot, trip) if a] == [("finish", True), ("message", True)]
    answer = [d.reply for d in bot.trips.deliveries if d.reply.kind == "message"][0]
    assert answer.text == "cancel the museum day please"


def test_at_bot_status_answers_ephemerally_from_the_registry(bot) -> None:
    trip = start_trip(bot)
    mention(bot, trip, "status", user="U0BEN")
    [status] = bot.wait_for(lambda: bot.api.ephemerals)
    bot.wait_idle()  # both twins handled, every answer they sent is posted
    assert len(bot.api.ephemerals) == 1  # once for the app_mention / message twins
    assert bot.trips.deliveries == []  # not an answer
    assert status["user"] == "U0BEN" and status["thread_ts"] == trip.thread["thread_ts"]
    text = status["text"]
    assert "Waiting for an answer" in text and "Which dates work for everyone?" in text
    assert "3 AI calls, 360 tokens, 2 web lookups" in text
    assert "<@U0ANA>" in text


# -- App Home --------------------------------------------------------------


def test_home_tab_lists_my_trips_by_state_with_links_without_slowing_the_ack(bot) -> None:
    now = time.time()
    states = ["active", "waiting", "parked", "done", "cancelled", "expired"]
    for n, state in enumerate(states):
        trip = start_trip(bot)
        bot.run(bot.registry.update_trip(trip.trip_id, state=state, created_at=now - 3600 * (10 - n)))
    other = start_trip(bot, starter="U0BEN")
    bot.api.method_latency["views.publish"] = 0.5

    event = {"type": "app_home_opened", "user": "U0ANA", "channel": "D0ANA", "tab": "home", "event_ts": unique_ts()}
    status, _, elapsed = send_signed(bot.events_url, json_body(event_envelope(event)))
    assert status == 200 and elapsed < 0.3
    view = bot.wait_for(lambda: bot.api.views.get("U0ANA"), timeout=5)
    text = str(view["blocks"])
    order = [text.index(title) for title in ("Planning now", "Waiting for answers", "Parked", "Plan ready", "Closed")]
    assert order == sorted(order)
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and "archives" in b["text"]["text"]]
    assert len(sections) == 6  # Ana's trips only
    assert other.thread["thread_ts"].replace(".", "") not in text
    # newest first within a group: the two closed trips
    closed = [s for s in sections if "cancelled" in s or "closed:" in s]
    assert "closed:" in closed[0] and "cancelled" in closed[1]
    assert f"https://test.slack.com/archives/{CHANNEL}/p" in sections[0]


def test_home_tab_stays_within_100_blocks(bot) -> None:
    for n in range(130):
        trip = start_trip(bot, state=("waiting", "done", "cancelled")[n % 3])
        bot.run(bot.registry.update_trip(trip.trip_id, created_at=1_700_000_000 + n))
    event = {"type": "app_home_opened", "user": "U0ANA", "channel": "D0ANA", "tab": "home", "event_ts": unique_ts()}
    send_signed(bot.events_url, json_body(event_envelope(event)))
    view = bot.wait_for(lambda: bot.api.views.get("U0ANA"), timeout=5)
    assert len(view["blocks"]) <= 100
    assert "older trips not shown" in str(view["blocks"][-1])
    assert "Waiting for answers* (44)" in str(view["blocks"])
