"""A trip's whole life through a real `travel-planner run` process: signed
Slack requests in, the fake Slack Web API out, the scripted LLM, the
`travel-planner trips` command beside the running process, and a SIGKILL
that must not change the budget ledger."""

from __future__ import annotations

import asyncio
import json


from bot.threads import trip_id_for_thread
from testing.bot_process import (
    CHANNEL,
    DEADLINE,
    SIGNING_SECRET,
    SlackPlayer,
    bot_env,
    duplicate_posts,
    running_bot,
)
from testing.loopback import free_port
from testing.research_fakes import research_env, research_fakes
from testing.fakes.llm_server import Fault
from testing.fakes.scenario import QUESTIONS, lisbon_script
from testing.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackWebAPI
from testing.fakes.slack_requests import app_mention, as_message_event, block_actions, event_envelope, send_signed
from tests.slack.planner_harness import slack_planner
from travel_planner.cli import main
from travel_planner.trip_store import open_store

PRICES = "input=0.15,output=0.60"


def _kind(message: dict) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))


def _posts(slack: FakeSlackWebAPI, root_ts: str, kind: str) -> list[dict]:
    return [slack.message(CHANNEL, m["ts"]) for m in slack.posts(CHANNEL, thread_ts=root_ts) if _kind(m) == kind]


def _trips(monkeypatch, capsys, env: dict[str, str], *argv: str) -> tuple[int, str]:
    """`travel-planner trips ...`, run here while the bot process owns the store."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("REDIS_URL", "RESONATE_URL"):  # CI exports REDIS_URL; this is embedded mode
        monkeypatch.delenv(name, raising=False)
    code = main(["trips", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _record(env: dict[str, str], trip_id: str):  # type: ignore[no-untyped-def]
    """The trip's registry record, read beside the running process."""

    async def read():  # type: ignore[no-untyped-def]
        async with open_store(env) as store:
            return await store.registry.get_trip(trip_id)

    return asyncio.run(read())


def _mention(player: SlackPlayer, root_ts: str, text: str, user: str) -> None:
    event = app_mention(CHANNEL, f"<@{BOT_USER_ID}> {text}", user=user, thread_ts=root_ts)
    assert player.post(json.dumps(event_envelope(event))) == 200
    assert player.post(json.dumps(event_envelope(as_message_event(event)))) == 200


def test_a_trip_from_start_to_plan_with_controls_status_and_the_trips_command(slack, tmp_path, monkeypatch, capsys):
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = bot_env(slack, llm, serper, tmp_path / "state", free_port())
        env["TRAVEL_PLANNER_PRICE_PER_MTOK"] = PRICES
        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(slack, bot.events_url)
            root = player.plan_trip("Lisbon in May, 4 people")
            root_ts = root["ts"]
            trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)
            [controls] = [b for b in root["blocks"] if b["type"] == "actions"]
            assert [e["action_id"] for e in controls["elements"]] == ["trip_finish", "trip_cancel"]

            player.wait_questions(root_ts, 1)
            player.reply(root_ts, "May 1-4", "U0ANA")
            player.wait_questions(root_ts, 2)
            # (the question is posted a moment before the registry records it)
            slack.wait_for(lambda: _record(env, trip_id).last_question == QUESTIONS[1], timeout=DEADLINE)

            # `@bot status` (Ben): ephemeral, from the registry, no LLM call.
            calls = len(llm.calls)
            _mention(player, root_ts, "status", "U0BEN")
            [status] = slack.wait_for(lambda: [e for e in slack.ephemerals if "Trip status" in e["text"]], timeout=DEADLINE)
            assert status["user"] == "U0BEN" and status["thread_ts"] == root_ts
            assert QUESTIONS[1] in status["text"] and "4 AI calls, 480 tokens, 2 web lookups" in status["text"]
            # Ben may not cancel Ana's trip.
            body = block_actions(action_id="trip_cancel", user_id="U0BEN", channel_id=CHANNEL, message_ts=root_ts)
            status_code, _, elapsed = send_signed(bot.events_url, body, signing_secret=SIGNING_SECRET)
            assert status_code == 200 and elapsed < 1.0
            slack.wait_for(lambda: [e for e in slack.ephemerals if "can cancel" in e["text"]], timeout=DEADLINE)
            assert len(llm.calls) == calls

            # The trips command, beside the running process.
            code, out = _trips(monkeypatch, capsys, env)
            assert code == 0
            [row] = [line for line in out.splitlines() if line.startswith(trip_id)]
            assert "waiting" in row and "4 AI calls, 480 tokens, 2 web lookups" in row

            player.mention_reply(root_ts, "2000 EUR", "U0BEN")
            player.wait_questions(root_ts, 3)
            player.reply(root_ts, "vegetarian", "U0ANA")
            slack.wait_for(lambda: "Plan ready" in slack.message(CHANNEL, root_ts)["text"], timeout=DEADLINE)

            code, out = _trips(monkeypatch, capsys, env, "show", trip_id)
            assert code == 0 and "state:         done" in out and "Segments and steps:" in out
            assert "Ana: vegetarian" in out and "Ben: 2000 EUR" in out and "## Day 2" in out  # who said what

            # A second trip, cancelled by its starter in the thread: no LLM call after it.
            second = player.plan_trip("Porto in June")["ts"]
            player.wait_questions(second, 1)
            calls = len(llm.calls)
            _mention(player, second, "cancel", "U0ANA")
            slack.wait_for(lambda: "Cancelled" in slack.message(CHANNEL, second)["text"], timeout=DEADLINE)
            assert len(llm.calls) == calls

            # A third one, cancelled from the command line while `run` owns the store.
            third = player.plan_trip("Faro in July")["ts"]
            player.wait_questions(third, 1)
            calls = len(llm.calls)
            code, out = _trips(monkeypatch, capsys, env, "cancel", trip_id_for_thread(TEAM_ID, CHANNEL, third))
            assert code == 0 and "stopped it and told its thread" in out, out
            # Told: the notice is in the thread before the state turns cancelled;
            # the root message is edited just after (a post of its own).
            assert any("I've stopped planning" in m["text"] for m in _posts(slack, third, "notice"))
            slack.wait_for(lambda: "Cancelled" in slack.message(CHANNEL, third)["text"], timeout=DEADLINE)
            assert len(llm.calls) == calls

    # What people saw in the first trip's thread.
    lines = _posts(slack, root_ts, "progress")
    assert len(lines) == 3 and all(m["text"].startswith("✅") for m in lines)  # one line per round...
    updated = {c.params["ts"] for c in slack.calls_to("chat.update")}
    assert {m["ts"] for m in lines} <= updated  # ...rewritten in place
    statuses = {s["status"] for s in slack.statuses if s["thread_ts"] == root_ts}
    assert {"is thinking…", "is searching the web…", ""} <= statuses
    [plan] = _posts(slack, root_ts, "plan")
    assert plan["blocks"][0]["type"] == "header" and plan["blocks"][0]["text"]["text"] == "Lisbon trip"
    assert plan["blocks"][-1]["type"] == "context_actions"  # 👍/👎 under the plan
    footer = plan["blocks"][-2]["elements"][0]["text"]
    assert "7 AI calls, 840 tokens and 4 web lookups (under $0.01)" in footer
    [shared] = slack.thread_files(CHANNEL, root_ts)
    assert shared["name"] == "lisbon-trip.md" and b"## Day 1" in shared["content"]
    root_now = slack.message(CHANNEL, root_ts)
    assert f"p{plan['ts'].replace('.', '')}" in str(root_now["blocks"])  # "Plan ready" links to the plan
    second_notice = _posts(slack, second, "notice")[-1]["text"]
    third_notice = _posts(slack, third, "notice")[-1]["text"]
    assert "Trip cancelled by Ana" in second_notice and "(command line)" in third_notice
    assert duplicate_posts(slack) == []
    assert max(player.acks) < 1.0


def _plan_trip(player: SlackPlayer, slack: FakeSlackWebAPI, llm, *, kill=None) -> str:  # type: ignore[no-untyped-def]
    root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
    for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
        player.wait_questions(root_ts, n)
        if kill is not None and n == 2:
            llm.inject(Fault(delay=30))  # the LLM call after this answer hangs...
            player.reply(root_ts, answer, "U0ANA")
            slack.wait_for(llm.in_flight.is_set, timeout=DEADLINE)
            kill()  # ...and the process dies during it
            return root_ts
        player.reply(root_ts, answer, "U0ANA")
    return root_ts


def test_the_budget_ledger_survives_a_sigkill(slack, tmp_path):
    """The crash-free run and a run SIGKILLed mid-call (across segment
    hand-overs: one turn per segment) end with the same usage, to the token."""
    with research_fakes(lisbon_script) as (llm, serper, site):
        # Prices high enough that a token counted twice would show in the cost.
        extra = {"TRAVEL_PLANNER_TURNS_PER_SEGMENT": "1", "TRAVEL_PLANNER_PRICE_PER_MTOK": "input=150,output=600"}
        # Crash-free: the same planner in this process.
        with slack_planner(slack, research_env(llm, serper, tmp_path / "calm", **extra)) as sp:
            player = SlackPlayer(slack, sp.events_url)
            calm_ts = _plan_trip(player, slack, llm)
            calm = sp.outcome(calm_ts)
        calm_calls = len(llm.calls)

        env = {**bot_env(slack, llm, serper, tmp_path / "state", free_port()), **extra}
        with running_bot(env, tmp_path / "bot.log") as bot:
            player = SlackPlayer(slack, bot.events_url)
            root_ts = _plan_trip(player, slack, llm, kill=bot.kill)
        llm.faults.clear()
        with running_bot(env, tmp_path / "bot.log") as bot:
            player.events_url = bot.events_url
            player.wait_questions(root_ts, 3)
            player.reply(root_ts, "vegetarian", "U0ANA")
            slack.wait_for(lambda: _posts(slack, root_ts, "plan"), timeout=DEADLINE)
        crashed_calls = len(llm.calls) - calm_calls

    calm_footer = _posts(slack, calm_ts, "plan")[0]["blocks"][-2]["elements"][0]["text"]
    crashed_footer = _posts(slack, root_ts, "plan")[0]["blocks"][-2]["elements"][0]["text"]
    assert calm["usage"] == {"llm_calls": 7, "prompt_tokens": 700, "completion_tokens": 140, "tool_calls": 4}
    assert crashed_footer == calm_footer == "Planning used 7 AI calls, 840 tokens and 4 web lookups (about $0.19)."
    assert crashed_calls == 8  # the provider saw the call in flight at the kill twice; the ledger counts it once
    assert duplicate_posts(slack) == []
