"""`web` + 2 `worker`s on Postgres (resonate-pg) and Redis, real processes."""

from __future__ import annotations

import asyncio
import json
import time

import psycopg
import pytest

from bot.threads import trip_id_for_thread
from testing.bot_process import CHANNEL, SIGNING_SECRET, duplicate_posts
from testing.fakes.scenario import QUESTIONS
from testing.fakes.slack_api import TEAM_ID
from testing.fakes.slack_requests import event_envelope, send_signed, thread_reply
from testing.cluster import running_cluster, travel_planner
from testing.fakes.otlp_receiver import OTLPReceiver
from testing.redis_server import RedisServer
from workflows.postgres.schema import apply_schema
from workflows.prompts import EXPIRED_NOTICE
from workflows.tracing import trip_trace_id
from workflows.registry import RedisThreadRegistry
from workflows.registry.redis_registry import open_redis_client


def test_a_whole_slack_trip_through_web_and_two_workers(tmp_path, resonate_db, private_redis_server: RedisServer):
    with running_cluster(tmp_path, resonate_db, private_redis_server.url, workers=2) as c:
        player = c.player
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
            questions = player.wait_questions(root_ts, n, timeout=60)
            player.reply(root_ts, answer, "U0ANA")
        plans = c.slack.wait_for(lambda: _plans(c, root_ts), timeout=60)
        files = c.slack.wait_for(lambda: c.slack.thread_files(CHANNEL, root_ts), timeout=30)
        trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)
        player.mention_reply(root_ts, "close", "U0ANA")  # the plan is final: no segment waits for changes
        c.slack.wait_for(lambda: _trip_rows(resonate_db, trip_id)[1] == 0, timeout=30)  # every segment settled
        rows_before = _trip_rows(resonate_db, trip_id)[0]
        gc = travel_planner("db", "gc", "--older-than-days", "0", env=c.env, tmp_path=tmp_path)
        rows_after = _trip_rows(resonate_db, trip_id)[0]
    assert QUESTIONS[0] in questions[0]
    assert len(plans) == 1 and len(files) == 1  # the plan, and its file, once
    assert duplicate_posts(c.slack) == []
    assert c.llm.repeated_answers() == []
    assert max(player.acks) < 1.0
    assert gc.returncode == 0, gc.stderr
    assert rows_before > 20 and rows_after == 0, (rows_before, rows_after)
    assert "1 finished trip records" in gc.stdout
    # No local disk in this mode (the README's promise for a PaaS dyno): the
    # state directory every process was given was never created.
    assert not (tmp_path / "state").exists()


def _trip_rows(dsn: str, trip_id: str) -> tuple[int, int]:
    """(all promise rows of the trip, the pending ones)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'pending' AND NOT is_timer) FROM resonate.promises"
            " WHERE origin_id = %s OR id = %s", (trip_id, trip_id)
        ).fetchone()
    return int(row[0]), int(row[1])


def _plans(c, root_ts):  # type: ignore[no-untyped-def]
    return [m for m in c.player.thread(root_ts)
            if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "plan"]


def test_sigkill_of_the_worker_inside_an_llm_call_moves_the_trip_to_the_other(
    tmp_path, resonate_db, private_redis_server: RedisServer
):
    calls = {"n": 0}

    def latency() -> float:
        calls["n"] += 1
        return 4.0 if calls["n"] == 3 else 0.0  # the first research decision after the first answer

    with OTLPReceiver() as receiver, running_cluster(
        tmp_path, resonate_db, private_redis_server.url, workers=2, llm_kwargs={"latency": latency},
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="50",
    ) as c:
        player = c.player
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        player.wait_questions(root_ts, 1, timeout=60)
        player.reply(root_ts, "May 1-4", "U0ANA")
        victim = c.slack.wait_for(lambda: c.llm.in_flight.is_set() and c.worker_in_llm_call(), timeout=60)
        in_flight = c.llm.calls[-1].fingerprint
        # The victim's first search span is exported before the kill (a span not
        # exported yet dies with its process: the count below would be a race).
        c.slack.wait_for(lambda: any(s.name.startswith("execute_tool ") for s in receiver.received_spans()), timeout=3)
        victim.kill()
        killed_at = time.monotonic()
        player.wait_questions(root_ts, 2, timeout=60)
        moved_after = time.monotonic() - killed_at
        player.reply(root_ts, "2000 EUR", "U0BEN")
        player.wait_questions(root_ts, 3, timeout=60)
        player.reply(root_ts, "vegetarian", "U0ANA")
        plans = c.slack.wait_for(lambda: _plans(c, root_ts), timeout=60)
        assert all(w.proc.poll() is None for w in c.workers if w is not victim)
        c.slack.wait_for(lambda: any(s.name == "invoke_workflow trip" for s in receiver.received_spans()), timeout=30)

    assert len(plans) == 1 and duplicate_posts(c.slack) == []
    assert c.llm.repeated_answers() == []  # only the call in flight ran again, and it was never answered before
    assert [call.fingerprint for call in c.llm.calls].count(in_flight) == 2
    assert set(c.serper.counts().values()) == {1} and set(c.site.counts().values()) == {1}  # none read twice
    assert moved_after < 15.0, moved_after
    # Traced across processes: one trace, one `chat` span per answered LLM
    # call (the killed call's span never ended; the taken-over steps' results
    # were read from the store, not reported again), each tool once, one span
    # for the segment both workers ran.
    spans = receiver.received_spans()
    trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)
    assert {s.trace_id for s in spans} == {f"{trip_trace_id(trip_id):032x}"}
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert sorted(s.attributes["gen_ai.response.id"] for s in chats) == sorted(
        f"chatcmpl-{call.fingerprint}" for call in c.llm.answered()
    )
    assert len([s for s in spans if s.name.startswith("execute_tool ")]) == 4
    [segment] = [s for s in spans if s.name == "invoke_workflow trip"]
    assert {s.parent_span_id for s in chats} == {segment.span_id}
    assert {s.resource["travel_planner.process"] for s in chats} == {"worker"}
    assert len({s.resource["service.instance.id"] for s in chats}) == 2  # both workers made some


def _answers_seen(c) -> list[str]:  # type: ignore[no-untyped-def]
    """Every answer text as the LLM read it, once per distinct user message."""
    last = c.llm.calls[-1].messages
    return [m["content"] for m in last if m.get("role") == "user"]



@pytest.mark.parametrize("point", ["before:deliver_reply:1", "after:deliver_reply:1"])
def test_sigkill_of_web_between_a_reply_and_its_ack_the_retry_delivers_it_once(
    tmp_path, resonate_db, private_redis_server: RedisServer, point: str
):
    with running_cluster(tmp_path, resonate_db, private_redis_server.url, workers=1,
                         web_env={"TRAVEL_PLANNER_FAILPOINT": point}) as c:
        player = c.player
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        player.wait_questions(root_ts, 1, timeout=60)
        body = json.dumps(event_envelope(thread_reply(CHANNEL, root_ts, "May 1-4", user="U0ANA")))
        with pytest.raises(OSError):  # web dies before Slack hears 200
            send_signed(c.web.events_url, body, signing_secret=SIGNING_SECRET)
        assert c.web.wait_exit() == -9
        c.restart_web()
        status, _, _ = send_signed(c.web.events_url, body, signing_secret=SIGNING_SECRET, retry_num=1)  # Slack retries
        assert status == 200
        c.player.wait_questions(root_ts, 2, timeout=60)
        seen = _answers_seen(c)
    assert sum("May 1-4" in text for text in seen) == 1
    assert duplicate_posts(c.slack) == []


def test_postgres_restarts_mid_trip_then_reminder_and_park_fire_and_the_trip_completes(
    tmp_path, private_postgres, resonate_schema, private_redis_server: RedisServer
):
    apply_schema(private_postgres.url, resonate_schema)
    # 0.001 h = 3.6 s: the reminder and the parking are durable sleeps in this mode too.
    with running_cluster(tmp_path, private_postgres.url, private_redis_server.url, workers=2,
                         TRAVEL_PLANNER_REMIND_AFTER_HOURS="0.001", TRAVEL_PLANNER_PARK_AFTER_HOURS="0.001") as c:
        player = c.player
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        player.wait_questions(root_ts, 1, timeout=60)
        private_postgres.restart()  # under every process, as a crash of the database would

        def notices() -> list[str]:
            return [m["text"] for m in player.thread(root_ts)
                    if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "notice"]

        c.slack.wait_for(lambda: len(notices()) >= 2, timeout=60)  # the reminder, then the parking
        c.slack.wait_for(lambda: "Parked" in (c.slack.message("C0TRIP", root_ts) or {}).get("text", ""), timeout=30)
        player.reply(root_ts, "May 1-4", "U0ANA")  # wakes it
        for n, answer in ((2, "2000 EUR"), (3, "vegetarian")):
            player.wait_questions(root_ts, n, timeout=60)
            player.reply(root_ts, answer, "U0ANA")
        plans = c.slack.wait_for(lambda: _plans(c, root_ts), timeout=60)
        output = c.worker_output()
    assert "waiting for an answer" in notices()[0] and "parked" in notices()[1]
    assert len(notices()) == 2  # one reminder, one parking: nothing doubled by the restart
    assert len(plans) == 1 and duplicate_posts(c.slack) == []
    assert c.llm.repeated_answers() == []
    assert "timers paused: Postgres is unreachable" in output and "timers resume" in output


def test_a_quiet_trip_expires_cleanly_at_its_deadline_on_postgres(
    tmp_path, resonate_db, private_redis_server: RedisServer
):
    """The SDK fails a wait whose promise times out on this engine; the trip
    must still end as `expired`, with the thread told, never with an error."""
    lifetime_days = 12.0 / 86400  # 12 s: the trip expires 5 % of it (0.6 s) before its deadline
    with running_cluster(tmp_path, resonate_db, private_redis_server.url, workers=1,
                         TRAVEL_PLANNER_TRIP_LIFETIME_DAYS=repr(lifetime_days)) as c:
        player = c.player
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        player.wait_questions(root_ts, 1, timeout=60)
        notices = c.slack.wait_for(
            lambda: [m["text"] for m in player.thread(root_ts)
                     if (m.get("metadata") or {}).get("event_payload", {}).get("kind") == "notice"], timeout=60
        )
        c.slack.wait_for(lambda: "Closed" in (c.slack.message(CHANNEL, root_ts) or {}).get("text", ""), timeout=30)
        output = c.worker_output()

    async def state() -> str:
        client = open_redis_client(private_redis_server.url)
        try:
            record = await RedisThreadRegistry(client).get_trip(trip_id_for_thread(TEAM_ID, CHANNEL, root_ts))
            return record.state if record else "?"
        finally:
            await client.aclose()

    assert len(notices) == 1 and EXPIRED_NOTICE in notices[0], notices
    assert asyncio.run(state()) == "expired"
    assert "ApplicationError" not in output and "Traceback" not in output


def test_redis_restarted_mid_trip_every_reply_is_acked_and_the_trip_completes(
    tmp_path, resonate_db, private_redis_server: RedisServer
):
    """A managed Redis restarts (failover, maintenance) under `web` and the
    workers: the first Slack event after it is acked 200, not 500, because
    every process's Redis client reconnects and retries."""
    with running_cluster(tmp_path, resonate_db, private_redis_server.url, workers=2) as c:
        player = c.player
        root_ts = player.plan_trip("Lisbon in May, 4 people")["ts"]
        for n, answer in enumerate(("May 1-4", "2000 EUR", "vegetarian"), start=1):
            player.wait_questions(root_ts, n, timeout=60)
            c.slack.wait_for(lambda: _waiting(private_redis_server.url, resonate_db, root_ts), timeout=30)
            private_redis_server.restart(keep_data=True)  # every pooled connection is closed by the server
            player.reply(root_ts, answer, "U0ANA")  # asserts a 200 at the first attempt
        plans = c.slack.wait_for(lambda: _plans(c, root_ts), timeout=60)
        seen = _answers_seen(c)
    assert len(plans) == 1
    assert [sum(a in text for text in seen) for a in ("May 1-4", "2000 EUR", "vegetarian")] == [1, 1, 1]
    assert duplicate_posts(c.slack) == []


def _waiting(redis_url: str, dsn: str, root_ts: str) -> bool:
    """The trip is parked on its reply promise: the waiter in Redis names the
    promise that is pending now (not the one of an earlier turn), so nothing
    writes to Redis until our next reply and a restart that keeps its data
    (Redis with persistence) loses none."""
    trip_id = trip_id_for_thread(TEAM_ID, CHANNEL, root_ts)

    async def waiter() -> str:
        client = open_redis_client(redis_url)
        try:
            value = await client.get(f"tp:waiter:{trip_id}")
            return value.decode() if value else ""
        finally:
            await client.aclose()

    promise = asyncio.run(waiter())
    if not promise:
        return False
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT state FROM resonate.promises WHERE id = %s", (promise,)).fetchone()
    return row is not None and row[0] == "pending"
