"""`@bot close` in a trip's thread: a control once (twins and retries) for a
planned trip that takes changes; refused with a hint before any plan, and
answered as for a finished trip once it is closed. `status` names the plan
versions and how to change or close."""

from __future__ import annotations

from tests.slack.test_controls import kinds, mention, start_trip


def test_at_bot_close_after_a_plan_is_a_control_once(bot) -> None:
    bot.api.add_user("U0BEN", display_name="Ben")
    trip = start_trip(bot, state="done")
    bot.run(bot.registry.update_trip(trip.trip_id, plan_versions=2))
    mention(bot, trip, "Close", user="U0BEN")
    bot.wait_for(lambda: bot.trips.deliveries)
    bot.wait_idle()  # both twins handled
    assert [(k, a) for k, a, accepted in kinds(bot, trip) if accepted] == [("close", "Ben")]
    assert bot.api.ephemerals == []  # the trip itself posts the notice


def test_at_bot_close_before_a_plan_or_after_close_delivers_nothing_and_says_why(bot) -> None:
    planning = start_trip(bot, state="waiting")
    mention(bot, planning, "close", user="U0ANA")
    [told] = bot.wait_for(lambda: bot.api.ephemerals)
    assert "no plan to close yet" in told["text"] and "`finish`" in told["text"]

    closed = start_trip(bot, state="closed")
    bot.run(bot.registry.update_trip(closed.trip_id, plan_versions=1))
    mention(bot, closed, "close", user="U0ANA")
    _, again = bot.wait_for(lambda: bot.api.ephemerals[1:] and bot.api.ephemerals)
    assert "no longer running" in again["text"] and "closed for changes" in again["text"]
    bot.wait_idle()
    assert bot.trips.deliveries == []


def test_at_bot_status_of_a_planned_trip_names_its_versions_and_how_to_change_it(bot) -> None:
    trip = start_trip(bot, state="done")
    bot.run(bot.registry.update_trip(trip.trip_id, plan_versions=3))
    mention(bot, trip, "status", user="U0BEN")
    [status] = bot.wait_for(lambda: bot.api.ephemerals)
    assert "*Plan versions:* 3" in status["text"]
    assert "Reply in the thread to change the plan" in status["text"] and "`close`" in status["text"]


def test_finish_on_a_posted_plan_that_takes_changes_says_how_to_change_or_close_it(bot) -> None:
    trip = start_trip(bot, state="done")
    bot.run(bot.registry.update_trip(trip.trip_id, plan_versions=1))
    mention(bot, trip, "finish", user="U0BEN")
    [told] = bot.wait_for(lambda: bot.api.ephemerals)
    assert "Reply in the thread to change it" in told["text"] and "`close`" in told["text"]
    bot.wait_idle()
    assert bot.trips.deliveries == []
