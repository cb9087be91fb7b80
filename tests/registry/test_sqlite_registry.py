"""What only the SQLite registry promises: durability in the store's file,
coexistence with the durable store's connection, indexes, purging."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from testing.clock import ManualClock
from tests.registry.conftest import open_sqlite
from workflows.ports import Delivery, PostRecord, Reply, TripRecord
from workflows.registry import SqliteThreadRegistry

T = "T1-C1-1700000000.000100"


def trip(trip_id: str = T, **kw: object) -> TripRecord:
    return TripRecord(trip_id=trip_id, thread_key=f"thread:{trip_id}", starter="U-ana", **kw)  # type: ignore[arg-type]


def reply(n: int) -> Reply:
    return Reply(key=f"C1:{n}", author=f"U{n}", text=f"answer {n}", ts=str(n))


async def test_everything_survives_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    clock = ManualClock(1000.0)
    conn = open_sqlite(path)
    reg = SqliteThreadRegistry(conn, clock=clock)
    await reg.register_trip(trip(usage={"tokens": 5}))
    await reg.update_trip(T, state="waiting", last_question="When?")
    await reg.deliver(T, reply(1))
    await reg.deliver(T, reply(2))
    assert await reg.claim_replies(T, "c1") == [reply(1), reply(2)]
    await reg.deliver(T, reply(3))
    await reg.publish_waiter(T, f"{T}:9")
    assert await reg.first_time("Ev1", 60) is True
    await reg.record_post_intent(f"{T}:1")
    await reg.record_post_done(f"{T}:2", "ts-2")
    conn.close()

    # Reopened the way another part of the app might: with a row factory set.
    conn = open_sqlite(path)
    conn.row_factory = sqlite3.Row
    reg = SqliteThreadRegistry(conn, clock=clock)  # schema creation is idempotent
    assert await reg.get_trip(T) == trip(
        usage={"tokens": 5},
        state="waiting",
        last_question="When?",
        created_at=1000.0,
        updated_at=1000.0,
    )
    assert await reg.trip_for_thread(f"thread:{T}") == T
    assert await reg.stranded_waiters() == [(T, f"{T}:9")]
    assert await reg.claim_replies(T, "c1") == [reply(1), reply(2)]  # still idempotent
    assert await reg.deliver(T, reply(1)) == Delivery(accepted=False, waiter=f"{T}:9")
    assert await reg.first_time("Ev1", 60) is False
    assert await reg.post_record(f"{T}:1") == PostRecord("intent")
    assert await reg.post_record(f"{T}:2") == PostRecord("done", "ts-2")
    assert await reg.claim_replies(T, "c2") == [reply(3)]
    conn.close()


async def test_writes_are_committed_per_operation(tmp_path: Path) -> None:
    """Another connection sees each write at once: nothing waits for a later COMMIT."""
    path = tmp_path / "store.db"
    writer = open_sqlite(path)
    reader = open_sqlite(path)
    w = SqliteThreadRegistry(writer)
    r = SqliteThreadRegistry(reader)
    await w.register_trip(trip())
    await w.deliver(T, reply(1))
    assert not writer.in_transaction
    assert await r.claim_replies(T, "c") == [reply(1)]
    writer.close()
    reader.close()


async def test_inside_a_callers_transaction_it_commits_or_rolls_back_with_it(
    tmp_path: Path,
) -> None:
    conn = open_sqlite(tmp_path / "store.db")
    reg = SqliteThreadRegistry(conn)
    await reg.register_trip(trip())
    conn.execute("BEGIN")
    await reg.deliver(T, reply(1))
    assert conn.in_transaction  # the caller's transaction is still open
    conn.execute("ROLLBACK")
    assert await reg.claim_replies(T, "c1") == []
    conn.execute("BEGIN")
    await reg.deliver(T, reply(2))
    conn.execute("COMMIT")
    assert await reg.claim_replies(T, "c2") == [reply(2)]
    conn.close()


async def test_a_failed_operation_leaves_no_partial_write(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "store.db")
    reg = SqliteThreadRegistry(conn)
    await reg.register_trip(trip())
    await reg.deliver(T, reply(1))

    class Boom(Exception):
        pass

    try:
        with reg._tx() as cur:
            cur.execute("UPDATE registry_inbox SET claim_id = 'half' WHERE trip_id = ?", (T,))
            raise Boom
    except Boom:
        pass
    assert not conn.in_transaction
    assert await reg.claim_replies(T, "c") == [reply(1)]
    conn.close()


async def test_expired_event_marks_are_purged_and_count_as_absent(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "store.db")
    clock = ManualClock(0.0)
    reg = SqliteThreadRegistry(conn, clock=clock)
    for i in range(150):  # more than one purge batch
        assert await reg.first_time(f"old-{i}", 10)
    assert await reg.first_time("late", 20)
    assert await reg.first_time("long", 1000)
    clock.advance(seconds=25)
    # Not yet purged (it expires after 150 others), yet already counts as absent.
    assert await reg.first_time("late", 20) is True
    assert await reg.first_time("late", 20) is False
    for _ in range(3):
        await reg.first_time("tick", 1000)
    keys = {k for (k,) in conn.execute("SELECT key FROM registry_events")}
    assert keys == {"late", "long", "tick"}
    conn.close()


async def test_every_statement_it_runs_uses_an_index(tmp_path: Path) -> None:
    """Trace the SQL a full workload runs, then ask SQLite how it plans each one."""
    conn = open_sqlite(tmp_path / "store.db")
    reg = SqliteThreadRegistry(conn)
    statements: set[str] = set()
    conn.set_trace_callback(statements.add)
    for t in ("A", "B"):
        await reg.register_trip(trip(t))
        await reg.update_trip(t, state="waiting", thread_key=f"moved:{t}", starter="U-bob")
        await reg.deliver(t, reply(1))
        await reg.publish_waiter(t, f"{t}:1")
        await reg.claim_replies(t, "c1")
        await reg.claim_replies(t, "c1")
        await reg.deliver(t, reply(2))
        await reg.revise(t, Reply("C1:2", "U2", "edited", ts="2"), Reply("C1:2:e3", "U2", "x", ts="3"))
        await reg.revise(t, Reply("C1:1", "U1", "edited", ts="1"), Reply("C1:1:e3", "U1", "x", ts="3"))
        await reg.revise(t, Reply("C1:1", "U1", "again", ts="1"), Reply("C1:1:e4", "U1", "y", ts="4"))
        await reg.withdraw(t, "C1:2")
        await reg.withdraw(t, "C1:1")
        await reg.withdraw(t, "C1:9")
        await reg.deliver(t, reply(9))
        await reg.record_post_intent(f"{t}:1")
        await reg.record_post_done(f"{t}:1", "ts")
        await reg.post_record(f"{t}:1")
    await reg.get_trip("A")
    await reg.trip_for_thread("moved:A")
    await reg.list_trips()
    await reg.list_trips("U-bob")
    await reg.stranded_waiters()
    await reg.first_time("Ev1", 60)
    await reg.forget_trip("A")
    conn.set_trace_callback(None)

    planned = 0
    for sql in sorted(statements):
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT")):
            continue
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        planned += 1
        assert not any("TEMP B-TREE" in step for step in plan), (sql, plan)
        for step in plan:
            assert not step.startswith("SCAN") or "INDEX" in step, (sql, plan)
        if "t.waiter IS NOT NULL" in sql:  # stranded_waiters visits waiting trips only
            assert any("registry_trips_waiting" in step for step in plan), plan
    assert planned >= 20
    conn.close()
