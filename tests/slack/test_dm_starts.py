"""A direct message to the bot plans a personal trip in that message's
thread (issue 13 item 5), with the real engine, the fake Slack, the scripted
LLM and the fake web in this process."""

from __future__ import annotations

import json
from typing import Any

from testing.bot_process import SIGNING_SECRET, duplicate_posts
from testing.fakes.llm_server import say
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_api import BOT_USER_ID, FakeSlackWebAPI
from testing.fakes.slack_requests import direct_message, event_envelope, send_signed
from testing.research_fakes import research_env, research_fakes
from tests.slack.planner_harness import SlackPlanner, slack_planner


class DmPlayer:
    """Ana in her DM with the app: messages go into the fake and, as Slack
    sends them, to the bot as `message.im` events."""

    def __init__(self, slack: FakeSlackWebAPI, sp: SlackPlanner, user: str = "U0ANA") -> None:
        self.slack, self.sp, self.user = slack, sp, user
        self.dm = slack.dm_channel(user)
        slack.deliver_events_to(sp.events_url, SIGNING_SECRET)  # the bot's own DM posts come back too

    def say(self, text: str, *, thread_ts: str | None = None, retries: int = 0) -> str:
        ts = self.slack.add_message(self.dm, text, user=self.user, thread_ts=thread_ts)
        body = json.dumps(event_envelope(direct_message(self.dm, text, user=self.user, ts=ts, thread_ts=thread_ts)))
        for n in range(retries + 1):
            status, _, _ = send_signed(self.sp.events_url, body, signing_secret=SIGNING_SECRET,
                                       retry_num=n or None)
            assert status == 200
        return ts

    def questions(self, root_ts: str) -> list[str]:
        return [m["text"] for m in self.slack.posts(self.dm, thread_ts=root_ts) if _kind(m) == "ask"]

    def wait_questions(self, root_ts: str, n: int) -> list[str]:
        return self.sp.wait(lambda: len(self.questions(root_ts)) >= n and self.questions(root_ts), timeout=20)


def _kind(message: dict[str, Any]) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))


def test_a_dm_plans_a_trip_in_its_own_thread_and_a_second_dm_is_a_second_trip(slack, tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            ana = DmPlayer(slack, sp)
            root_ts = ana.say("<@UBOT0001> Lisbon in May, 4 people", retries=1)  # Slack's retry starts nothing new
            for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
                ana.wait_questions(root_ts, n)
                ana.say(answer, thread_ts=root_ts)
            outcome = sp.outcome(root_ts, channel=ana.dm)
            second_ts = ana.say("A weekend in Porto")
            second = sp.wait(lambda: sp.trip(second_ts, channel=ana.dm))
            sp.wait(lambda: ana.questions(second_ts))
            # The bot's own DM posts (questions, research lines, the plan, the
            # file) come back as message.im events, in order: once the last
            # one is delivered, all were, and they must have started nothing.
            last = slack.posts(ana.dm)[-1]["ts"]
            sp.wait(lambda: any(e["event"].get("ts") == last for e, _ in slack.delivered_events))
            trips = sp.run(sp.runtime.registry.list_trips())

    # The first trip: its thread is Ana's own DM message, the request without the mention.
    first = next(t for t in trips if t.thread.get("thread_ts") == root_ts)
    assert first.request == "Lisbon in May, 4 people" and first.starter == "U0ANA"
    assert first.thread["channel"] == ana.dm
    assert llm.calls[0].messages[1]["content"].endswith("Lisbon in May, 4 people")
    # Every answer reached the planner, in the thread, and the plan is posted there.
    assert outcome["status"] == "done"
    assert "[Ana] May 1-4 | [Ana] 2000 EUR | [Ana] vegetarian" in outcome["plan"]
    assert [q.split("\n")[0] for q in ana.questions(root_ts)] == list(QUESTIONS)
    [plan] = [m for m in slack.posts(ana.dm, thread_ts=root_ts) if _kind(m) == "plan"]
    assert "Lisbon trip" in plan["text"]
    assert [f["name"] for f in slack.thread_files(ana.dm, root_ts)] == ["lisbon-trip.md"]
    # Nothing was posted at the top level of the DM: everything is in the threads.
    assert [m for m in slack.posts(ana.dm) if not m.get("thread_ts")] == []
    # The second DM is a second trip, in its own thread; the bot's own messages are no trips.
    assert second.request == "A weekend in Porto"
    assert sorted(t.thread["thread_ts"] for t in trips) == sorted([root_ts, second_ts])
    assert any(e["event"].get("bot_id") and e["event"]["channel_type"] == "im" for e, _ in slack.delivered_events)
    assert duplicate_posts(slack) == []


def test_a_bare_cancel_in_a_dm_trip_thread_cancels_it(slack, tmp_path):
    """No buttons on a message the person wrote: in the DM the bare word is the command."""
    with research_fakes(lambda url: lambda messages: say("Which dates?")) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            ana = DmPlayer(slack, sp)
            root_ts = ana.say("Oslo in winter")
            ana.wait_questions(root_ts, 1)
            calls = len(llm.calls)
            ana.say("cancel", thread_ts=root_ts)
            outcome = sp.outcome(root_ts, channel=ana.dm)

    assert outcome["status"] == "cancelled"
    assert len(llm.calls) == calls  # never read as an answer
    notices = [m["text"] for m in slack.posts(ana.dm, thread_ts=root_ts) if _kind(m) == "notice"]
    assert any("cancelled" in n.lower() for n in notices)


def test_a_dm_from_an_app_an_edit_or_a_bare_command_starts_nothing(slack, tmp_path):
    with research_fakes(lambda url: lambda messages: say("Which dates?")) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            ana = DmPlayer(slack, sp)
            own = direct_message(ana.dm, "Slack took too long", user=BOT_USER_ID)
            own.update(bot_id="BBOT0001", bot_profile={"id": "BBOT0001", "name": "travel-planner"})
            other_app = direct_message(ana.dm, "Hello from another app", user="U0OTHER")
            other_app["bot_id"] = "BOTHER"
            edit = direct_message(ana.dm, "Rome, edited", user="U0ANA")
            edit.update(subtype="message_changed", message={"type": "message", "text": "Rome, edited", "ts": edit["ts"],
                                                            "user": "U0ANA", "edited": {"user": "U0ANA", "ts": "1.0"}})
            for event in (own, other_app, edit):
                status, _, _ = send_signed(sp.events_url, json.dumps(event_envelope(event)),
                                           signing_secret=SIGNING_SECRET)
                assert status == 200
            bare = ana.say("Status")  # a command word on its own plans no trip "Status"
            [help_] = sp.wait(lambda: slack.posts(ana.dm, thread_ts=bare))
            started = ana.say("Rome")  # and a person's DM still starts one, after all of those
            sp.wait(lambda: ana.questions(started))
            trips = sp.run(sp.runtime.registry.list_trips())

    assert [t.thread["thread_ts"] for t in trips] == [started]
    assert "in that trip's thread" in help_["text"]


def test_the_home_tab_says_a_dm_trip_is_in_the_dm() -> None:
    from bot.home import trip_block
    from workflows.ports import TripRecord

    record = TripRecord(trip_id="slack-T0001-D0ANA-1_1", thread_key="k", starter="U0ANA", request="Rome",
                        thread={"team": "T0001", "channel": "D0ANA", "thread_ts": "1.1"}, state="waiting")
    text = trip_block(record)["text"]["text"]
    assert "direct message" in text and "<#D0ANA>" not in text
