"""A trip's life in Slack, with the real engine in this process: research
lines rewritten in place, setStatus while thinking, the buttons (Finish,
Cancel, Continue) reaching the workflow, the plan as a structured message
plus a Markdown file, and the root message showing the outcome."""

from __future__ import annotations

import pytest

from testing.bot_process import CHANNEL, SlackPlayer, duplicate_posts
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import call_tools, say
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_api import FakeSlackWebAPI
from tests.slack.planner_harness import SlackPlanner, slack_planner




def _kind(message: dict) -> str:
    step = str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))
    return step


def _of(slack: FakeSlackWebAPI, root_ts: str, kind: str) -> list[dict]:
    """The thread's posts of one kind, as they are now (after chat.update)."""
    return [slack.message(CHANNEL, m["ts"]) for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == kind]


def _plan_lisbon(slack: FakeSlackWebAPI, sp: SlackPlanner) -> str:
    """/plan-trip, then Ana answers the three questions as they come; the root's ts."""
    player = SlackPlayer(slack, sp.events_url)
    root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
    for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
        player.wait_questions(root_ts, n, timeout=15)
        player.reply(root_ts, answer, "U0ANA")
    return str(root_ts)


def test_research_lines_are_rewritten_in_place_and_the_plan_is_shared_once(slack, tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            root_ts = _plan_lisbon(slack, sp)
            outcome = sp.outcome(root_ts)
            sp.wait(lambda: "Plan ready" in (slack.message(CHANNEL, root_ts) or {}).get("text", ""))

    assert outcome["status"] == "done"
    # One line per research round (3 rounds), each posted once then rewritten
    # in place with chat.update: never a new message per step.
    lines = _of(slack, root_ts, "progress")
    assert len(lines) == 3
    updates = [c.params for c in slack.calls_to("chat.update") if c.params.get("ts") in {m["ts"] for m in lines}]
    assert sorted(u["ts"] for u in updates) == sorted(m["ts"] for m in lines)  # each line once
    assert all(m["text"].startswith("✅") for m in lines)
    assert "Searched: “Lisbon hotels”" in lines[0]["text"]
    assert "Searched: “Lisbon day trips”" in lines[2]["text"] and "Read:" in lines[2]["text"]
    # setStatus while it thinks and searches, cleared when it asks or posts.
    statuses = [s["status"] for s in slack.statuses if s["thread_ts"] == root_ts]
    assert "is thinking…" in statuses and "is searching the web…" in statuses and "" in statuses

    # The plan: a header from its `# ` heading, days as sections, the usage footer.
    [plan] = _of(slack, root_ts, "plan")
    blocks = plan["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Lisbon trip", "emoji": True}}
    days = [b["text"] for b in blocks if b["type"] == "markdown"]
    assert any(d.startswith("## Day 1") for d in days) and any(d.startswith("## Day 2") for d in days)
    assert {"type": "divider"} in blocks
    assert blocks[-2]["type"] == "context" and blocks[-1]["type"] == "context_actions"  # footer, then 👍/👎
    assert "7 AI calls" in blocks[-2]["elements"][0]["text"] and "4 web lookups" in blocks[-2]["elements"][0]["text"]
    # ...and the whole plan as a Markdown file in the thread, once.
    [shared] = slack.thread_files(CHANNEL, root_ts)
    assert shared["name"] == "lisbon-trip.md"
    content = shared["content"].decode()
    assert content.startswith("# Lisbon trip") and "## Day 2" in content and "7 AI calls" in content
    # The root message: "Plan ready" with a link to the plan, no buttons left.
    root = slack.message(CHANNEL, root_ts)
    assert "Plan ready" in root["text"]
    link = f"https://test.slack.com/archives/{CHANNEL}/p{plan['ts'].replace('.', '')}"
    assert link in str(root["blocks"])
    assert not [b for b in root["blocks"] if b["type"] == "actions"]
    assert slack.calls_to("chat.getPermalink")
    assert duplicate_posts(slack) == []


def test_the_starter_cancels_with_the_root_button_and_no_llm_call_follows(slack, tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            player = SlackPlayer(slack, sp.events_url)
            root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
            player.wait_questions(root_ts, 1, timeout=15)
            calls = len(llm.calls)
            status, elapsed = sp.click("trip_cancel", user="U0BEN", message_ts=root_ts)  # not the starter
            assert status == 200 and elapsed < 0.5
            sp.wait(lambda: slack.ephemerals)
            status, elapsed = sp.click("trip_cancel", user="U0ANA", message_ts=root_ts)  # the starter
            assert status == 200 and elapsed < 0.5
            outcome = sp.outcome(root_ts)
            sp.wait(lambda: "Cancelled" in (slack.message(CHANNEL, root_ts) or {}).get("text", ""))
            record = sp.trip(root_ts)

    assert outcome["status"] == "cancelled" and outcome["by"] == "Ana"
    assert len(llm.calls) == calls  # stopped without paying for another LLM call
    [refusal] = slack.ephemerals
    assert refusal["user"] == "U0BEN" and refusal["thread_ts"] == root_ts and "<@U0ANA>" in refusal["text"]
    notices = _of(slack, root_ts, "notice")
    assert "Trip cancelled by Ana" in notices[-1]["text"]
    root = slack.message(CHANNEL, root_ts)
    assert not [b for b in root["blocks"] if b["type"] == "actions"]  # no buttons on a cancelled trip
    assert record.state == "cancelled"


def test_finish_with_what_you_have_from_the_root_button(slack, tmp_path):
    def script(messages):  # type: ignore[no-untyped-def]
        if any("finish now" in (m.get("content") or "") for m in messages):
            return call_tools(("finish_trip", {"plan": "# Lisbon, quickly\n\n## Day 1\nAlfama."}))
        return say("Which dates?")

    with research_fakes(lambda url: script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            player = SlackPlayer(slack, sp.events_url)
            root_ts = player.plan_trip("Lisbon")["ts"]
            player.wait_questions(root_ts, 1, timeout=15)
            sp.click("trip_finish", user="U0BEN", message_ts=root_ts)  # anyone may finish
            outcome = sp.outcome(root_ts)

    assert outcome["status"] == "done" and outcome["plan"].startswith("# Lisbon, quickly")
    assert llm.calls[-1].tools == ["finish_trip"]
    [plan] = _of(slack, root_ts, "plan")
    assert plan["blocks"][0]["text"]["text"] == "Lisbon, quickly"
    assert [e["text"] for e in slack.ephemerals if e["user"] == "U0BEN"] == [
        "Got it: I'll finish the plan with what I have and post it in this thread."
    ]


def test_at_the_budget_cap_the_continue_button_carries_on(slack, tmp_path):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_MAX_LLM_CALLS="4")
        with slack_planner(slack, env) as sp:
            player = SlackPlayer(slack, sp.events_url)
            root_ts = player.plan_trip("Lisbon")["ts"]
            player.wait_questions(root_ts, 1, timeout=15)
            player.reply(root_ts, "May 1-4", "U0ANA")
            player.wait_questions(root_ts, 2, timeout=15)
            player.reply(root_ts, "2000 EUR", "U0ANA")
            budget = sp.wait(lambda: [m for m in _of(slack, root_ts, "ask") if "planning budget" in m["text"]])[0]
            [buttons] = [b for b in budget["blocks"] if b["type"] == "actions"]
            assert [e["action_id"] for e in buttons["elements"]] == ["trip_continue", "trip_finish"]
            calls = len(llm.calls)
            sp.click("trip_continue", user="U0BEN", message_ts=budget["ts"], thread_ts=root_ts,
                     message_blocks=budget["blocks"])
            player.wait_questions(root_ts, 4, timeout=15)  # QUESTIONS[2], after more research

    assert len(llm.calls) > calls  # planning went on
    assert QUESTIONS[2] in player.questions(root_ts)[-1]
    closed = slack.message(CHANNEL, budget["ts"])
    assert not [b for b in closed["blocks"] if b["type"] == "actions"]  # answered: its buttons are gone
    assert "<@U0BEN> chose *Continue*" in str(closed["blocks"])


@pytest.mark.parametrize("refusal", ["message_not_found", "invalid_blocks"])
def test_refused_edits_never_stall_or_end_a_trip(slack, tmp_path, refusal):
    """Slack refuses every chat.update (the research lines and the root were
    deleted, or it rejects the blocks): the trip still asks each question at
    once, finishes, and posts each round's done line afresh, once."""
    slack.error("chat.update", refusal, times=None)
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        with slack_planner(slack, env) as sp:
            root_ts = _plan_lisbon(slack, sp)
            outcome = sp.outcome(root_ts)
            record = sp.trip(root_ts)

    assert outcome["status"] == "done" and record.state == "done"
    lines = _of(slack, root_ts, "progress")
    assert len([m for m in lines if m["text"].startswith("🔎")]) == 3  # the originals, unchanged
    assert len([m for m in lines if m["text"].startswith("✅")]) == 3  # each done line posted afresh
    assert len(_of(slack, root_ts, "plan")) == 1
    assert duplicate_posts(slack) == []
