"""`travel-planner trips` in Postgres mode (DATABASE_URL + REDIS_URL): the list
from the registry in Redis, `show` with the durable history read from
`resonate.promises`, and `cancel` through the inbox and the engine, beside a
real `web` + 2 `worker`s."""

from __future__ import annotations

import asyncio

import psycopg

from bot.threads import trip_id_for_thread
from testing.bot_process import CHANNEL, SIGNING_SECRET
from testing.fakes.scenario import QUESTIONS
from testing.fakes.slack_api import TEAM_ID
from testing.fakes.slack_requests import block_actions, send_signed
from testing.cluster import running_cluster
from testing.redis_server import RedisServer
from travel_planner.cli import main
from workflows.ports import TripRecord
from workflows.postgres.schema import apply_schema
from workflows.registry import RedisThreadRegistry, open_redis_client


def _trips(monkeypatch, capsys, env: dict[str, str], *argv: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """`travel-planner trips ARGS...` with exactly these variables (in this process: no import cost)."""
    for name in ("REDIS_URL", "RESONATE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["trips", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _record(redis_url: str, trip_id: str) -> TripRecord | None:
    async def read() -> TripRecord | None:
        client = open_redis_client(redis_url)
        try:
            return await RedisThreadRegistry(client).get_trip(trip_id)
        finally:
            await client.aclose()

    return asyncio.run(read())


def _kind(message: dict) -> str:
    return str(((message.get("metadata") or {}).get("event_payload") or {}).get("kind", ""))


def _segment_ids(dsn: str, trip_id: str) -> list[str]:
    """The trip's workflow promises in Postgres: the root and its successors."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id FROM resonate.promises WHERE (id = %(t)s OR origin_id = %(t)s) AND target IS NOT NULL"
            " AND NOT is_timer ORDER BY created_at", {"t": trip_id}
        ).fetchall()
    return [r[0] for r in rows]


def test_a_segmented_trip_with_status_budget_and_plan_file_then_trips_list_show_and_cancel(
    tmp_path, resonate_db, private_redis_server: RedisServer, monkeypatch, capsys
):
    redis_url = private_redis_server.url
    # One turn per segment: every answer hands over to a successor segment on Postgres.
    with running_cluster(tmp_path, resonate_db, redis_url, workers=2,
                         TRAVEL_PLANNER_TURNS_PER_SEGMENT="1", TRAVEL_PLANNER_MAX_LLM_CALLS="4") as c:
        player, slack = c.player, c.slack
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)
        player.wait_questions(root_ts, 1)
        player.reply(root_ts, "May 1-4", "U0ANA")
        player.wait_questions(root_ts, 2)
        slack.wait_for(lambda: getattr(_record(redis_url, trip_id), "last_question", "") == QUESTIONS[1], timeout=60)

        # `@bot status`: only Ben sees it, from the registry, no LLM call.
        calls = len(c.llm.calls)
        player.mention_reply(root_ts, "status", "U0BEN")
        [status] = slack.wait_for(lambda: [e for e in slack.ephemerals if "Trip status" in e["text"]], timeout=60)
        assert status["user"] == "U0BEN" and status["thread_ts"] == root_ts
        assert QUESTIONS[1] in status["text"] and "4 AI calls, 480 tokens, 2 web lookups" in status["text"]
        assert len(c.llm.calls) == calls

        # The budget cap (4 AI calls): the planner asks, Ben presses Continue.
        player.reply(root_ts, "2000 EUR", "U0ANA")
        budget = slack.wait_for(
            lambda: [m for m in player.thread(root_ts) if _kind(m) == "ask" and "planning budget" in m["text"]],
            timeout=60)[0]
        [buttons] = [b for b in budget["blocks"] if b["type"] == "actions"]
        assert [e["action_id"] for e in buttons["elements"]] == ["trip_continue", "trip_finish"]
        body = block_actions(action_id="trip_continue", user_id="U0BEN", channel_id=CHANNEL,
                             message_ts=budget["ts"], thread_ts=root_ts, message_blocks=budget["blocks"])
        assert send_signed(c.web.events_url, body, signing_secret=SIGNING_SECRET)[0] == 200
        questions = player.wait_questions(root_ts, 4)  # QUESTIONS[2], after more research
        player.reply(root_ts, "vegetarian", "U0ANA")
        slack.wait_for(lambda: "Plan ready" in slack.message(CHANNEL, root_ts)["text"], timeout=60)
        slack.wait_for(lambda: getattr(_record(redis_url, trip_id), "state", "") == "done", timeout=60)

        listed_code, listed = _trips(monkeypatch, capsys, c.env)
        show_code, shown = _trips(monkeypatch, capsys, c.env, "show", trip_id)
        segments = _segment_ids(resonate_db, trip_id)
        llm_calls = len(c.llm.calls)

        # A second trip, cancelled from the command line.
        second_ts = player.plan_trip("Porto in June")["ts"]
        second = trip_id_for_thread(TEAM_ID, CHANNEL, second_ts)
        player.wait_questions(second_ts, 1)
        slack.wait_for(lambda: getattr(_record(redis_url, second), "state", "") == "waiting", timeout=60)
        calls = len(c.llm.calls)
        cancel_code, cancelled = _trips(monkeypatch, capsys, c.env, "cancel", second)
        notices = [m["text"] for m in player.thread(second_ts) if _kind(m) == "notice"]
        second_root = slack.message(CHANNEL, second_ts)["text"]
        again_code, again = _trips(monkeypatch, capsys, c.env, "cancel", second)
        after_code, after = _trips(monkeypatch, capsys, c.env)
        cancel_calls = len(c.llm.calls) - calls
        unknown = [_trips(monkeypatch, capsys, c.env, action, "nope")[0] for action in ("show", "cancel")]

        # The history is Postgres's: without the trip's rows, the same registry record shows none.
        with psycopg.connect(resonate_db) as conn:
            conn.execute("DELETE FROM resonate.promises WHERE id = %(t)s OR origin_id = %(t)s", {"t": trip_id})
        gone_code, gone = _trips(monkeypatch, capsys, c.env, "show", trip_id)

    # What people saw.
    assert QUESTIONS[2] in questions[-1]
    assert len(slack.thread_files(CHANNEL, root_ts)) == 1  # the plan file, shared once
    assert len([m for m in player.thread(root_ts) if _kind(m) == "plan"]) == 1

    # `trips`: the registry's list.
    assert listed_code == 0, listed
    [row] = [line for line in listed.splitlines() if line.startswith(trip_id)]
    assert "done" in row and f"{llm_calls} AI calls" in row and "Lisbon in May" in row
    assert f"postgres store: {resonate_db.rsplit('@', 1)[-1]}" in listed and "registry in Redis" in listed

    # `trips show`: the record, then every segment and its named steps from resonate.promises.
    assert show_code == 0, shown
    assert "state:         done" in shown
    history = shown.split("Segments and steps: (from Postgres, resonate.promises)")[1].split("Transcript:")[0]
    assert len(segments) >= 2  # the trip handed over on Postgres
    *ended, waiting = segments  # the last one waits for changes after the plan (v3)
    for n, segment_id in enumerate(ended):
        assert f"segment {n} ({segment_id}) resolved: " in history
    assert f"segment 0 ({trip_id}) resolved: continued" in history
    assert f"segment {len(ended) - 1} ({ended[-1]}) resolved: done" in history
    assert f"segment {len(ended)} ({waiting}) " in history and f"({waiting}) resolved" not in history
    assert history.count("hand-over") == len(segments) - 1
    for before, after_id in zip(segments, segments[1:], strict=False):  # each hand-over under its own segment
        block = history.split(f"({before})")[1].split("  segment ")[0]
        assert f"next segment {after_id}" in block
    steps = [line.split() for line in history.splitlines() if line.startswith("    ") and line.split()[0].isdigit()]
    llm_steps = [s for s in steps if s[1] == "llm_step"]
    assert len(llm_steps) == llm_calls and all(s[2] == "✓" for s in llm_steps)  # one per LLM call, all settled
    assert {"post_step", "tool_step", "claim_step", "publish_waiter_step", "wait"} <= {s[1] for s in steps}
    assert f"said: {QUESTIONS[0]}" in history and "called internet_search(Lisbon hotels)" in history
    assert "[Ana] May 1-4" in history and "Ben pressed continue" in history
    transcript = shown.split("Transcript:")[1]
    assert "Ana: May 1-4" in transcript and "Ana: vegetarian" in transcript and "## Day 2" in shown

    # `trips cancel`: the thread is told, the state is cancelled, no AI call after it.
    assert cancel_code == 0, cancelled
    assert f"Cancelled trip {second}: a worker stopped it and told its thread." in cancelled
    assert any("Trip cancelled by" in text and "(command line)" in text for text in notices), notices
    assert "Cancelled" in second_root
    assert cancel_calls == 0
    assert again_code == 0 and "already ended (cancelled)" in again
    [second_row] = [line for line in after.splitlines() if line.startswith(second)]
    assert "cancelled" in second_row
    assert unknown == [1, 1]

    assert gone_code == 0 and "No durable history for this trip" in gone and "state:         done" in gone


def test_configuration_errors_name_the_variable(tmp_path, postgres_db, resonate_schema, redis_url, monkeypatch, capsys):
    """A bad DSN, a database without the schema, an unreachable Redis: exit 2,
    a message naming the variable, no traceback; for every action."""
    free = {"TRAVEL_PLANNER_STATE_DIR": str(tmp_path)}
    cases = {
        "cannot connect to Postgres": {**free, "REDIS_URL": redis_url, "DATABASE_URL": "postgresql://127.0.0.1:1/none"},
        "the Resonate schema is not applied": {**free, "REDIS_URL": redis_url, "DATABASE_URL": postgres_db},
    }
    for problem, env in cases.items():
        for argv in ((), ("show", "some-trip"), ("cancel", "some-trip")):
            code, out = _trips(monkeypatch, capsys, env, *argv)
            assert code == 2, (argv, out)
            assert f"configuration error: DATABASE_URL: {problem}" in out, out
            assert "Traceback" not in out
    apply_schema(postgres_db, resonate_schema)  # the database is fine now; Redis is not
    code, out = _trips(monkeypatch, capsys, {**free, "REDIS_URL": "redis://127.0.0.1:1/0", "DATABASE_URL": postgres_db})
    assert code == 2 and "configuration error: REDIS_URL: cannot connect to Redis" in out, out
    assert "Traceback" not in out
