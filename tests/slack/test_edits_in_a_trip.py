"""Edits, deletions and mentions through a running trip: the real engine, the
Bolt app over signed HTTP and the scripted LLM. What the LLM reads is the
spec: edited text (in place, or as a correction once it had read the answer),
never a deleted reply, and names instead of Slack's `<@U...>` markup."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from testing.bot_process import CHANNEL, SlackPlayer
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import Script, say
from testing.fakes.slack_requests import event_envelope, message_changed, message_deleted
from tests.slack.planner_harness import slack_planner

WHO = "Who is coming?"
BUDGET = "What is your budget per person?"
FOOD = "Any food preferences?"


@pytest.fixture
def slack(slack):  # the suite's, plus a #general to mention
    slack.add_channel("C0GEN", name="general")
    return slack


def _script(busy: threading.Event, go_on: threading.Event) -> Script:
    """Ask who comes, then (held busy until the test says so) the budget, then
    about food, then plan."""

    def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(messages)
        if n == 1:
            return say(WHO)
        if n == 3:
            busy.set()
            assert go_on.wait(20), "the test never let the planner go on"
            return say(BUDGET)
        if n == 5:
            return say(FOOD)
        return say("# Porto\n\nDay 1: Ribeira.\n\nTRIP PLANNING COMPLETE")

    return script


def _user_messages(call: Any) -> list[str]:
    return [m["content"] for m in call.messages if m["role"] == "user"]


def test_the_llm_reads_edits_and_corrections_never_deleted_replies_and_names(slack, tmp_path, monkeypatch):
    # Only the edit itself may wake the waiting trip, not the stranded-trip safety net.
    monkeypatch.setattr("workflows.runtime.KICK_INTERVAL_SECONDS", 3600.0)
    busy, go_on = threading.Event(), threading.Event()
    with research_fakes(lambda _site: _script(busy, go_on)) as (llm, serper, _site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            player = SlackPlayer(slack, sp.events_url)

            def send(event: dict[str, Any]) -> None:
                assert player.post(json.dumps(event_envelope(event))) == 200

            root_ts = player.plan_trip("Porto with <@U0BEN>, ideas in <#C0GEN>")["ts"]
            player.wait_questions(root_ts, 1, timeout=15)
            first_ts = player.reply(root_ts, "me and <@U0BEN>", "U0ANA")
            assert busy.wait(15)  # the planner read the first answer and is thinking

            # While it thinks: one answer edited, one deleted, both unread;
            # and the first answer, already read, edited.
            budget_ts = player.reply(root_ts, "1500 EUR", "U0ANA")
            wrong_ts = player.reply(root_ts, "oops, wrong thread: <!here> lunch?", "U0BEN")
            send(message_changed(CHANNEL, budget_ts, "2000 EUR each", thread_ts=root_ts, user="U0ANA",
                                 previous_text="1500 EUR"))
            send(message_deleted(CHANNEL, wrong_ts, thread_ts=root_ts, user="U0BEN",
                                 previous_text="oops, wrong thread: <!here> lunch?"))
            send(message_changed(CHANNEL, first_ts, "me, <@U0BEN> and his sister", thread_ts=root_ts,
                                 user="U0ANA", previous_text="me and <@U0BEN>"))
            go_on.set()

            # Waiting for people now: a correction wakes the trip like a reply.
            player.wait_questions(root_ts, 3, timeout=15)
            send(message_changed(CHANNEL, budget_ts, "2500 EUR each", thread_ts=root_ts, user="U0ANA",
                                 previous_text="2000 EUR each"))
            outcome = sp.outcome(root_ts)

    assert outcome["status"] == "done"
    first, second, third, last = (_user_messages(c) for c in llm.answered())
    assert first == ["Trip request from U0ANA: Porto with @Ben, ideas in #general"]
    assert second[1:] == ["[Ana] me and @Ben"]
    assert third[1:] == [
        "[Ana] me and @Ben",
        "[Ana] 2000 EUR each\n[Ana] Ana edited their answer: me, @Ben and his sister",
    ]
    assert last[1:] == [*third[1:], "[Ana] Ana edited their answer: 2500 EUR each"]
    everything = json.dumps([c.messages for c in llm.calls])
    assert "1500 EUR" not in everything  # replaced before it was read
    assert "wrong thread" not in everything  # deleted before it was read
    assert "<@" not in everything and "<#" not in everything and "<!" not in everything
