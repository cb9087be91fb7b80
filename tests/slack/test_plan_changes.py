"""Changes after the plan in Slack (issue 13 items 1 and 4), with the real
engine, the fake Slack, the scripted LLM and the fake web in this process: a
reply after the plan gets exactly one revised plan ("Plan v2"), a second one
v3; each version has its file and its 👍/👎; the root links the newest;
`@bot close` ends it; `trips` shows the versions and the votes."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from testing.bot_process import CHANNEL, SIGNING_SECRET, SlackPlayer, duplicate_posts
from testing.fakes.llm_server import say
from testing.fakes.scenario import lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import block_actions, send_signed
from testing.research_fakes import research_env, research_fakes
from tests.slack.planner_harness import SlackPlanner, slack_planner
from bot.plan_feedback import FEEDBACK_ACTION
from bot.threads import trip_id_for_thread
from testing.fakes.slack_api import TEAM_ID
from travel_planner.trip_report import list_trips, show_trip
from workflows.feedback import Feedback

SWAP = "swap day 1 and 2"
FADO = "add a fado night on day 2"


def revision(title_day1: str, title_day2: str) -> dict[str, Any]:
    return say(f"# Lisbon trip\n\n## Day 1\n{title_day1}\n\n## Day 2\n{title_day2}\n\nTRIP PLANNING COMPLETE")


def changes_script(site_url: str) -> Any:
    base = lisbon_script(site_url)

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        last = str(messages[-1].get("content") or "") if messages[-1]["role"] == "user" else ""
        if SWAP in last:
            return revision("Train to Sintra, Pena Palace.", "Alfama walk and fado.")
        if FADO in last:
            return revision("Train to Sintra, Pena Palace.", "Alfama walk, then a fado night.")
        return base(messages)

    return script


def _kind(message: dict[str, Any]) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))


def plans(slack: FakeSlackWebAPI, root_ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "plan"]


def click_feedback(sp: SlackPlanner, plan: dict[str, Any], label: str, user: str, action_ts: str) -> None:
    """A click on the 👍 or 👎 Slack drew from the plan message's own block."""
    [block] = [b for b in plan["blocks"] if b["type"] == "context_actions"]
    value = block["elements"][0][f"{label}_button"]["value"]
    body = block_actions(action_id=FEEDBACK_ACTION, user_id=user, channel_id=CHANNEL, message_ts=plan["ts"],
                         thread_ts=plan["thread_ts"], value=value, action_ts=action_ts)
    status, _, _ = send_signed(sp.events_url, body, signing_secret=SIGNING_SECRET)
    assert status == 200


def answer_the_questions(player: SlackPlayer, root_ts: str) -> None:
    """Ana answers the scripted trip's three questions, each once it is asked."""
    for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
        player.wait_questions(root_ts, n, timeout=15)
        player.reply(root_ts, answer, "U0ANA")


def read_once(calls: list[Any], text: str) -> int:
    """How many LLM requests answered `text` as the newest message; and no
    request may hold it twice."""
    assert all(sum(text in str(m.get("content")) for m in c.messages) <= 1 for c in calls)
    return sum(1 for c in calls if c.messages[-1]["role"] == "user" and text in str(c.messages[-1]["content"]))


def test_replies_after_the_plan_get_plan_v2_then_v3_each_once_then_close(slack, tmp_path):
    with research_fakes(changes_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            player = SlackPlayer(slack, sp.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            answer_the_questions(player, root_ts)
            first = sp.outcome(root_ts)
            player.reply(root_ts, SWAP, "U0BEN", retries=1)  # Slack's retry is the same reply
            sp.wait(lambda: len(plans(slack, root_ts)) == 2)
            player.reply(root_ts, FADO, "U0ANA")
            sp.wait(lambda: len(plans(slack, root_ts)) == 3)
            v1, v2, v3 = plans(slack, root_ts)
            link = f"https://test.slack.com/archives/{CHANNEL}/p{v3['ts'].replace('.', '')}"
            sp.wait(lambda: link in str((slack.message(CHANNEL, root_ts) or {}).get("blocks")))
            sp.wait(lambda: len(slack.thread_files(CHANNEL, root_ts)) == 3)
            # Feedback, doubled: a retried request, a double click, a change of mind.
            click_feedback(sp, v1, "positive", "U0ANA", "1.1")
            click_feedback(sp, v1, "positive", "U0ANA", "1.1")
            click_feedback(sp, v1, "positive", "U0ANA", "1.2")
            click_feedback(sp, v3, "negative", "U0BEN", "2.1")
            click_feedback(sp, v3, "positive", "U0BEN", "2.2")
            click_feedback(sp, v3, "positive", "U0ANA", "2.3")
            trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)
            expected = [Feedback(trip_id, 1, "U0ANA", "positive"), Feedback(trip_id, 3, "U0ANA", "positive"),
                        Feedback(trip_id, 3, "U0BEN", "positive")]
            sp.wait(lambda: sp.run(sp.runtime.registry.trip_feedback(trip_id)) == expected)
            calls_before_close = len(llm.calls)
            player.mention_reply(root_ts, "close", "U0BEN")
            sp.wait(lambda: sp.trip(root_ts).state == "closed")
            notices = [m["text"] for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == "notice"]
            player.reply(root_ts, "one more change please", "U0ANA")  # after close: nobody reads it
            sp.wait(lambda: sp.run(sp.runtime.registry.unclaimed_replies(trip_id)))
            record = sp.trip(root_ts)
            # The state is booked first, then the root message is rewritten.
            sp.wait(lambda: "Closed for changes" in str((slack.message(CHANNEL, root_ts) or {}).get("blocks")))
            root = slack.message(CHANNEL, root_ts)

    assert first["status"] == "done" and first["version"] == 1
    # Exactly one revised plan per change, each headed with its version, earlier ones untouched.
    assert [p["blocks"][0]["text"]["text"] for p in (v1, v2, v3)] == ["Lisbon trip", "Plan v2 · Lisbon trip",
                                                                        "Plan v3 · Lisbon trip"]
    assert "Alfama walk and fado" in slack.message(CHANNEL, v1["ts"])["text"].split("Day 2")[0]  # v1 as it was
    assert "fado night" in v3["text"] and "fado night" not in v2["text"]
    # The LLM read each change exactly once, with the plan it wrote in view.
    assert read_once(llm.calls, SWAP) == 1 and read_once(llm.calls, FADO) == 1
    [swap_call] = [c for c in llm.calls if SWAP in str(c.messages[-1].get("content"))]
    assert "The plan you posted (v1)" in swap_call.messages[0]["content"]
    assert llm.repeated_answers() == []
    # One file per version, each once; the root links the newest plan.
    assert [f["name"] for f in slack.thread_files(CHANNEL, root_ts)] == ["lisbon-trip.md", "lisbon-trip-v2.md",
                                                                         "lisbon-trip-v3.md"]
    assert "v3" in root["text"] or "v3" in str(root["blocks"])
    assert duplicate_posts(slack) == []
    # Closed: a short notice, no LLM call, and a later message reaches nobody.
    assert notices[-1] == "⚠️ Trip closed by Ben. The plan (v3) above is final; I'm no longer taking changes."
    assert len(llm.calls) == calls_before_close
    assert record.state == "closed" and record.plan_versions == 3
    assert "Closed for changes" in str(root["blocks"])

    out, shown = io.StringIO(), io.StringIO()
    asyncio.run(list_trips(env, out))
    header, row = out.getvalue().splitlines()[:2]
    assert header.split()[:7] == ["TRIP", "STATE", "LAST", "ACTIVITY", "PLANS", "FEEDBACK", "USAGE"]
    assert "closed" in row and " 3 " in row and "👍 3 👎 0" in row
    asyncio.run(show_trip(env, trip_id, shown))
    assert "plans:         3 (feedback: v1 👍 1 👎 0; v3 👍 2 👎 0)" in shown.getvalue()
    assert "fado night" in shown.getvalue().split("\nPlan:\n")[1]  # the newest plan


def test_votes_show_on_the_home_tab_with_the_plan_versions(slack, tmp_path):
    with research_fakes(changes_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            player = SlackPlayer(slack, sp.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            answer_the_questions(player, root_ts)
            sp.outcome(root_ts)
            player.reply(root_ts, SWAP, "U0BEN")
            sp.wait(lambda: len(plans(slack, root_ts)) == 2)
            # The post step posts, then books the version in the trip record.
            sp.wait(lambda: sp.trip(root_ts).plan_versions == 2)
            v2 = plans(slack, root_ts)[1]
            click_feedback(sp, v2, "negative", "U0BEN", "3.1")
            trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)
            sp.wait(lambda: sp.run(sp.runtime.registry.trip_feedback(trip_id)))
            home = {"type": "event_callback", "team_id": TEAM_ID, "api_app_id": "A0APP", "event_id": "EvHome1",
                    "event": {"type": "app_home_opened", "user": "U0ANA", "channel": "D0ANA", "tab": "home",
                              "event_ts": "1.0"}}
            status, _, _ = send_signed(sp.events_url, json.dumps(home), signing_secret=SIGNING_SECRET)
            assert status == 200
            sp.wait(lambda: slack.calls_to("views.publish"))
            view = slack.calls_to("views.publish")[-1].params["view"]

    view = json.loads(view) if isinstance(view, str) else view
    assert "_Plans:_ 2 plan versions · latest 👍 0 👎 1" in json.dumps(view, ensure_ascii=False)
