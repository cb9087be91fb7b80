"""The Home tab's "Plan a trip" button and its modal (issue 13 item 5): the
button opens the form with the click's trigger_id, a bad submission is
answered with `response_action: errors` naming the block, a good one starts
the trip in the chosen channel as /plan-trip does."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs

import pytest

from bot.trip_form import (
    CHANNEL,
    DESTINATION,
    END,
    OPEN_TRIP_FORM_ACTION,
    START,
    TRAVELLERS,
    TRIP_FORM_CALLBACK,
    TripFormAnswers,
    form_errors,
    trip_request,
)
from testing.bot_process import SIGNING_SECRET as PLANNER_SECRET
from testing.fakes.llm_server import say
from testing.fakes.slack_api import BOT_USER_ID, FakeSlackWebAPI
from testing.fakes.slack_bot import RunningSlackBot
from testing.fakes.slack_requests import (
    SIGNING_SECRET,
    app_home_opened,
    event_envelope,
    home_block_actions,
    json_body,
    send_signed,
)
from testing.fakes.slack_views import ViewError, check_input_block, check_modal
from testing.research_fakes import research_env, research_fakes
from tests.slack.planner_harness import slack_planner

TRIPS = "C0TRIPS"
FUTURE = dt.date.today() + dt.timedelta(days=200)
GOOD = {
    DESTINATION: "Porto",
    START: FUTURE.isoformat(),
    END: (FUTURE + dt.timedelta(days=4)).isoformat(),
    TRAVELLERS: "4",
    "budget": "800 EUR per person",
    CHANNEL: TRIPS,
}


def _press_plan_a_trip(api: FakeSlackWebAPI, events_url: str, secret: str, *, age: float = 0.0) -> int:
    body = home_block_actions(action_id=OPEN_TRIP_FORM_ACTION, trigger_id=api.issue_trigger("U0ANA", age=age))
    status, _, _ = send_signed(events_url, body, signing_secret=secret)
    return status


def _open_form(bot: RunningSlackBot) -> str:
    """Ana presses Plan a trip; the id of the modal it opened."""
    assert _press_plan_a_trip(bot.api, bot.events_url, SIGNING_SECRET) == 200
    [call] = bot.wait_for(lambda: bot.api.calls_to("views.open"))
    assert call.response["ok"] is True, call.response
    return str(call.response["view"]["id"])


def _submit(bot: RunningSlackBot, view_id: str, answers: dict[str, str]) -> tuple[int, dict, float]:
    status, text, elapsed = send_signed(bot.events_url, bot.api.submission(view_id, answers),
                                        signing_secret=SIGNING_SECRET)
    return status, (json.loads(text) if text.strip() else {}), elapsed


def test_the_home_tab_has_a_plan_a_trip_button(bot) -> None:
    send_signed(bot.events_url, json_body(event_envelope(app_home_opened("U0ANA"))), signing_secret=SIGNING_SECRET)
    view = bot.wait_for(lambda: bot.api.views.get("U0ANA"))  # the fake checked its blocks
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [(OPEN_TRIP_FORM_ACTION, "Plan a trip")]


def test_pressing_it_opens_the_form_with_the_clicks_trigger_id(bot) -> None:
    view_id = _open_form(bot)
    view = bot.api.opened_views[view_id]["view"]

    assert view["type"] == "modal" and view["callback_id"] == TRIP_FORM_CALLBACK
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == [DESTINATION, START, END, TRAVELLERS, "budget", CHANNEL]
    assert [inputs[k]["element"]["type"] for k in inputs] == [
        "plain_text_input", "datepicker", "datepicker", "number_input", "plain_text_input", "conversations_select",
    ]
    assert inputs[DESTINATION]["optional"] is False and inputs[CHANNEL]["optional"] is False
    assert inputs[CHANNEL]["element"]["filter"]["include"] == ["public", "private"]
    assert "default_to_current_conversation" not in inputs[CHANNEL]["element"]  # no conversation on the Home tab


def test_a_last_day_before_the_first_is_refused_naming_the_block(bot) -> None:
    view_id = _open_form(bot)
    status, answer, elapsed = _submit(bot, view_id, {**GOOD, END: (FUTURE - dt.timedelta(days=1)).isoformat()})

    assert status == 200 and elapsed < 3.0
    assert answer == {"response_action": "errors", "errors": {END: "The last day is before the first day."}}
    assert bot.trips.started == [] and bot.api.posts() == []


def test_a_blank_destination_is_refused_naming_the_block(bot) -> None:
    view_id = _open_form(bot)
    status, answer, _ = _submit(bot, view_id, {**GOOD, DESTINATION: "   "})

    assert status == 200 and answer["response_action"] == "errors"
    assert set(answer["errors"]) == {DESTINATION}
    assert bot.trips.started == []


def test_a_good_submission_starts_the_trip_in_the_chosen_channel_as_plan_trip_does(bot) -> None:
    bot.api.add_channel(TRIPS, name="trips")  # public, the bot not in it yet: it joins, as on /plan-trip
    view_id = _open_form(bot)
    status, answer, _ = _submit(bot, view_id, GOOD)
    [record] = bot.wait_for(lambda: bot.trips.started)

    assert status == 200 and answer == {}  # an empty ack closes the modal
    request = f"Porto, {GOOD[START]} to {GOOD[END]}, 4 travellers, budget 800 EUR per person"
    assert record.request == request and record.starter == "U0ANA"
    [root] = bot.api.posts(channel=TRIPS)
    assert record.thread == {**record.thread, "channel": TRIPS, "thread_ts": root["ts"]}
    assert root["text"].startswith(f"Trip planning started by <@U0ANA>: {request}")
    assert [b["type"] for b in root["blocks"]][-1] == "actions"  # Finish / Cancel, as on /plan-trip
    assert [c.params["channel"] for c in bot.api.calls_to("conversations.join")] == [TRIPS]
    # The Home tab is published again with the new trip on it.
    view = bot.wait_for(lambda: "Porto" in json.dumps(bot.api.views.get("U0ANA") or {}) and bot.api.views["U0ANA"])
    assert request in json.dumps(view)


def test_a_private_channel_without_the_bot_is_explained_in_a_dm(bot) -> None:
    bot.api.add_channel("G0PRIV", is_private=True, is_member=False)
    view_id = _open_form(bot)
    status, answer, _ = _submit(bot, view_id, {**GOOD, CHANNEL: "G0PRIV"})
    [told] = bot.wait_for(lambda: bot.api.posts(channel=bot.api.dm_channel("U0ANA")))

    assert status == 200 and answer == {}
    assert f"/invite <@{BOT_USER_ID}>" in told["text"] and "<#G0PRIV>" in told["text"]
    assert "Plan a trip" in told["text"]
    assert bot.trips.started == [] and bot.api.posts(channel="G0PRIV") == []


def test_an_expired_trigger_id_is_refused_and_the_person_is_told(bot) -> None:
    assert _press_plan_a_trip(bot.api, bot.events_url, SIGNING_SECRET, age=3.5) == 200
    [call] = bot.wait_for(lambda: bot.api.calls_to("views.open"))
    [told] = bot.wait_for(lambda: bot.api.posts(channel=bot.api.dm_channel("U0ANA")))

    assert call.response == {"ok": False, "error": "expired_trigger_id"}
    assert bot.api.opened_views == {}
    assert "expired_trigger_id" in told["text"] and "press *Plan a trip*" in told["text"]


def test_the_fake_takes_a_trigger_id_once_and_within_3_seconds(api: FakeSlackWebAPI) -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.trip_form import trip_form_view

    client = WebClient(token=api.token, base_url=api.api_url)
    fresh = api.issue_trigger("U0ANA")
    assert client.views_open(trigger_id=fresh, view=trip_form_view())["ok"]
    for trigger, error in ((fresh, "exchanged_trigger_id"), (api.issue_trigger("U0ANA", age=3.1), "expired_trigger_id"),
                           ("123.456.made-up", "invalid_trigger_id")):
        with pytest.raises(SlackApiError) as refused:
            client.views_open(trigger_id=trigger, view=trip_form_view())
        assert refused.value.response["error"] == error


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda v: v.update(title={"type": "plain_text", "text": "Plan a trip with your team now"}), "title > 24"),
        (lambda v: v.update(submit={"type": "plain_text", "text": "Start planning this trip now"}), "submit > 24"),
        (lambda v: v.pop("submit"), "inputs without submit"),
        (lambda v: v.update(type="home"), "not a modal"),
        (lambda v: v.update(blocks=[]), "no blocks"),
        (lambda v: v.update(blocks=v["blocks"] * 17), "over 100 blocks"),
    ],
)
def test_the_fake_refuses_a_modal_slack_refuses(change, why) -> None:
    from bot.trip_form import trip_form_view

    view = trip_form_view()
    change(view)
    with pytest.raises(ViewError):
        check_modal(view)


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.update(label={"type": "plain_text", "text": "x" * 2001}),
        lambda b: b.pop("element"),
        lambda b: b["element"].update(type="text_box"),
        lambda b: b["element"].update(action_id="a" * 256),
        lambda b: b["element"].update(placeholder={"type": "plain_text", "text": "p" * 151}),
    ],
)
def test_the_fake_refuses_an_input_block_slack_refuses(change) -> None:
    from bot.trip_form import trip_form_view

    block = trip_form_view()["blocks"][0]
    change(block)
    with pytest.raises(ViewError):
        check_input_block(block)


def test_the_fake_submits_only_what_slacks_client_would_send(bot) -> None:
    view_id = _open_form(bot)
    with pytest.raises(ValueError, match="required"):
        bot.api.submission(view_id, {**GOOD, CHANNEL: ""})
    with pytest.raises(ValueError, match="outside"):
        bot.api.submission(view_id, {**GOOD, TRAVELLERS: "0"})
    with pytest.raises(ValueError, match="no input blocks"):
        bot.api.submission(view_id, {**GOOD, "notes": "x"})
    payload = json.loads(parse_qs(bot.api.submission(view_id, GOOD))["payload"][0])
    values = payload["view"]["state"]["values"]
    assert values[START][START] == {"type": "datepicker", "selected_date": GOOD[START]}
    assert values[CHANNEL][CHANNEL] == {"type": "conversations_select", "selected_conversation": TRIPS}
    assert values["budget"]["budget"] == {"type": "plain_text_input", "value": "800 EUR per person"}


def test_form_errors_and_the_request_they_compose() -> None:
    today = dt.date(2027, 4, 1)
    good = TripFormAnswers("Porto", "2027-05-01", "2027-05-05", "4", "800 EUR per person", "C1")
    assert form_errors(good, today=today) == {}
    assert trip_request(good) == "Porto, 2027-05-01 to 2027-05-05, 4 travellers, budget 800 EUR per person"
    assert trip_request(TripFormAnswers("Oslo", travellers="1", channel="C1")) == "Oslo, 1 traveller"
    assert trip_request(TripFormAnswers("Oslo", "2027-05-01", "2027-05-01", channel="C1")) == "Oslo, 2027-05-01"
    assert set(form_errors(TripFormAnswers("Porto", "2027-05-01", "", channel="C1"), today=today)) == {END}
    assert set(form_errors(TripFormAnswers("Porto", "", "2027-05-01", channel="C1"), today=today)) == {START}
    assert set(form_errors(TripFormAnswers("Porto", "2027-03-01", "2027-03-02", channel="C1"), today=today)) == {START}
    assert set(form_errors(TripFormAnswers("Porto"), today=today)) == {CHANNEL}
    assert set(form_errors(TripFormAnswers("", travellers="2.5", channel="C1"), today=today)) == {DESTINATION, TRAVELLERS}


def test_the_llm_reads_the_forms_answers_as_the_trip_request(slack, tmp_path) -> None:
    """End to end with the real engine: the root in the chosen channel, the
    LLM's first request holds the answers."""
    with research_fakes(lambda url: lambda messages: say("Which neighbourhood?")) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            slack.add_channel(TRIPS, name="trips")
            assert _press_plan_a_trip(slack, sp.events_url, PLANNER_SECRET) == 200
            [call] = sp.wait(lambda: slack.calls_to("views.open"))
            status, _, _ = send_signed(sp.events_url, slack.submission(call.response["view"]["id"], GOOD),
                                       signing_secret=PLANNER_SECRET)
            [root] = sp.wait(lambda: [m for m in slack.posts(TRIPS) if not m.get("thread_ts")])
            [question] = sp.wait(lambda: slack.posts(TRIPS, thread_ts=root["ts"]))

    assert status == 200
    request = f"Porto, {GOOD[START]} to {GOOD[END]}, 4 travellers, budget 800 EUR per person"
    assert request in llm.calls[0].messages[1]["content"]
    assert question["text"].startswith("Which neighbourhood?")
