"""Feedback on a plan as OpenTelemetry (issue 12): `travel-planner run` as a
real process exporting to an OTLP/HTTP receiver; each 👍/👎 click that
changes a vote is one `gen_ai.evaluation.result` event on the trip's trace,
a repeated click none."""

from __future__ import annotations

from testing.bot_process import DEADLINE, SIGNING_SECRET, SlackPlayer, bot_env, running_bot
from testing.fakes.otlp_receiver import OTLPReceiver
from testing.fakes.scenario import lisbon_script
from testing.fakes.slack_api import TEAM_ID, FakeSlackWebAPI
from testing.fakes.slack_requests import block_actions, send_signed
from testing.loopback import free_port
from testing.research_fakes import research_fakes
from bot.plan_feedback import FEEDBACK_ACTION
from bot.threads import trip_id_for_thread
from testing.bot_process import CHANNEL
from tests.slack.test_plan_changes import plans
from workflows.tracing import EVALUATION_EVENT, trip_trace_id


def feedback_click(plan: dict, label: str, user: str, action_ts: str) -> dict:
    """The `block_actions` body of a click on the plan's 👍 ("positive") or 👎 ("negative")."""
    [block] = [b for b in plan["blocks"] if b["type"] == "context_actions"]
    return block_actions(action_id=FEEDBACK_ACTION, user_id=user, channel_id=CHANNEL, message_ts=plan["ts"],
                         thread_ts=plan["thread_ts"], value=block["elements"][0][f"{label}_button"]["value"],
                         action_ts=action_ts)


def planned_lisbon_trip(api: FakeSlackWebAPI, events_url: str) -> tuple[str, dict]:
    """The scripted Lisbon trip answered to its plan: (root ts, the plan message)."""
    player = SlackPlayer(api, events_url)
    root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
    for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
        player.wait_questions(root_ts, n)
        player.reply(root_ts, answer, "U0ANA")
    [plan] = api.wait_for(lambda: plans(api, root_ts), timeout=DEADLINE)
    return root_ts, plan


def _click(url: str, plan: dict, label: str, user: str, action_ts: str) -> None:
    assert send_signed(url, feedback_click(plan, label, user, action_ts), signing_secret=SIGNING_SECRET)[0] == 200


def test_feedback_clicks_are_evaluation_events_on_the_trips_trace(tmp_path):
    api = FakeSlackWebAPI()
    with api, OTLPReceiver() as receiver, research_fakes(lisbon_script) as (llm, serper, site):
        env = {
            **bot_env(api, llm, serper, tmp_path / "state", free_port()),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_BLRP_SCHEDULE_DELAY": "50",
        }
        with running_bot(env, tmp_path / "bot.log") as bot:
            root_ts, plan = planned_lisbon_trip(api, bot.events_url)

            def evaluations() -> list:
                return [r for r in receiver.received_logs() if r.event_name == EVALUATION_EVENT]

            _click(bot.events_url, plan, "positive", "U0ANA", "5.1")
            _click(bot.events_url, plan, "positive", "U0ANA", "5.1")  # Slack's retry of the request
            _click(bot.events_url, plan, "positive", "U0ANA", "5.2")  # a double click
            api.wait_for(lambda: len(evaluations()) == 1, timeout=DEADLINE)
            _click(bot.events_url, plan, "negative", "U0ANA", "5.3")  # changed her mind
            api.wait_for(lambda: len(evaluations()) == 2, timeout=DEADLINE)
            bot.stop()  # flushes what is batched
            events = evaluations()

    trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)
    assert [e.trace_id for e in events] == [f"{trip_trace_id(trip_id):032x}"] * 2
    assert [(e.attributes["gen_ai.evaluation.score.label"], e.attributes["gen_ai.evaluation.score.value"])
            for e in events] == [("positive", 1.0), ("negative", 0.0)]
    assert {e.attributes["gen_ai.evaluation.name"] for e in events} == {"plan_feedback"}
    assert {e.attributes["gen_ai.conversation.id"] for e in events} == {trip_id}
