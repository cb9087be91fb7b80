"""The embedded store's journal: snapshots, compaction, pruning, fail-stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from resonate.resonate import Resonate
from resonate.types import Value

from workflows.durable.connection import JournaledConnection
from workflows.durable.journal import DurableJournal, StoreWriteError
from workflows.durable.server_state import JournaledServerState
from workflows.durable.state_dir import SYNCHRONOUS, StateDir, open_database

from tests.durable.replaying import comparable


async def _step(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
    return n + 1


async def _chain(ctx, n: int) -> dict:  # type: ignore[no-untyped-def]
    """A segment: a few steps, a wait, then a successor (like a trip)."""
    total = 0
    for i in range(3):
        total += await ctx.run(_step, i)
    reply = await ctx.promise(timeout=timedelta(days=30))
    if n < 3:
        nxt = await ctx.options(timeout=timedelta(days=30)).detached("chain", n + 1)
        return {"next": nxt, "reply": reply}
    return {"done": total, "reply": reply}



async def _drive_chain(conn: JournaledConnection, r: Resonate) -> dict:
    r.register(_chain, name="chain", version=1)
    r.start()
    r.options(timeout=timedelta(days=30)).run("trip", "chain", 1)
    current = "trip"
    for _ in range(500):
        await asyncio.sleep(0.01)
        for p in [p for p in conn.state.promises.values()
                  if p.state == "pending" and p.tags.get("resonate:external") == "true"]:
            await r.promises.resolve(p.id, Value(data="ok"))
        handle = await r.get(current)
        if handle.done():
            result = await handle.result()
            if "done" in result:
                return result
            current = result["next"]
    raise AssertionError("the chain did not finish")


def test_snapshots_and_compaction_replay_to_the_same_state(tmp_path):
    async def scenario():
        sd = StateDir(tmp_path)
        conn = JournaledConnection(DurableJournal(sd.db), snapshot_every=7)
        r = Resonate(network=conn, env={}, autostart=False)
        result = await _drive_chain(conn, r)
        await asyncio.sleep(0.1)
        conn.checkpoint()
        live = comparable(conn.state)
        ids = set(conn.state.promises)
        await asyncio.wait_for(r.stop(), 2)
        sd.close()
        sd2 = StateDir(tmp_path)
        loaded = DurableJournal(sd2.db).load()
        sd2.close()
        return result, live, ids, loaded

    result, live, ids, loaded = asyncio.run(scenario())
    assert result == {"done": 6, "reply": "ok"}
    assert loaded.snapshot_bytes > 0  # a snapshot was written and then replayed onto
    assert comparable(loaded.state) == live
    # Finished segments kept their result but lost their history.
    segments = sorted(i for i in ids if i == "trip" or (":d" in i and "." not in i))
    assert len(segments) == 3
    finished = [s for s in segments if loaded.state.promises[s].state == "resolved"]
    for seg in finished:
        assert loaded.state.promises[seg].param == {}
        assert not any(i.startswith(seg + ".") for i in ids if seg != "trip")


def test_compaction_keeps_results_and_drops_steps():
    state = JournaledServerState()
    target = {"resonate:target": "local://any@default", "resonate:branch": "w"}
    state.apply(0, {"kind": "task.create", "pid": "p", "ttl": 60_000, "action": {"kind": "promise.create", "data": {
        "id": "w", "timeoutAt": 10**12, "param": {"data": "YmlnIGFyZ3M="}, "tags": target}}})
    for i in range(1, 4):
        state.apply(0, {"kind": "task.fence", "id": "w", "version": 0, "action": {"kind": "promise.create", "data": {
            "id": f"w:{i}", "timeoutAt": 10**12, "tags": {"resonate:branch": "w", "resonate:parent": "w"}}}})
        state.apply(0, {"kind": "task.fence", "id": "w", "version": 0, "action": {"kind": "promise.settle", "data": {
            "id": f"w:{i}", "state": "resolved", "value": {"data": "MQ=="}}}})
    assert state.compactable() == []  # still running
    state.apply(1, {"kind": "task.fulfill", "id": "w", "version": 0, "action": {"kind": "promise.settle", "data": {
        "id": "w", "state": "resolved", "value": {"data": "ZG9uZQ=="}}}})
    assert state.compactable() == ["w"]
    assert state.compact(["w"]) == 3
    assert list(state.promises) == ["w"] and state.promises["w"].value == {"data": "ZG9uZQ=="}
    assert state.compactable() == []


def test_pruning_forgets_finished_trips_after_retention():
    state = JournaledServerState()
    for trip_id, settled in (("old", True), ("live", False)):
        state.apply(0, {"kind": "promise.create", "id": trip_id, "timeoutAt": 10**12, "tags": {}})
        state.apply(0, {"kind": "promise.create", "id": f"{trip_id}:1", "timeoutAt": 10**12, "tags": {}})
        if settled:
            for pid in (trip_id, f"{trip_id}:1"):
                state.apply(100, {"kind": "promise.settle", "id": pid, "state": "resolved"})
    assert state.finished_trips(settled_before=50) == []  # not old enough
    assert state.finished_trips(settled_before=1_000) == ["old"]
    assert state.prune(["old"]) == 2
    assert sorted(state.promises) == ["live", "live:1"]


def test_a_journal_that_cannot_be_written_stops_the_store_and_corrupts_nothing(tmp_path):
    failures: list[StoreWriteError] = []

    async def scenario():
        sd = StateDir(tmp_path)
        conn = JournaledConnection(DurableJournal(sd.db), on_write_error=failures.append)
        await conn.start()
        create = '{"kind":"promise.create","head":{"corrId":"c1"},"data":{"id":"a","timeoutAt":99999999999999,"tags":{}}}'
        await conn.send(create)
        sd.db.execute("PRAGMA query_only = ON")  # the disk turns read-only
        second = create.replace('"c1"', '"c2"').replace('"id":"a"', '"id":"b"')
        with pytest.raises(StoreWriteError):
            await conn.send(second)
        assert "b" not in conn.state.promises  # journal first: nothing applied
        with pytest.raises(StoreWriteError):  # and it stays stopped
            await conn.send(create)
        await conn.stop()
        sd.close()
        sd2 = StateDir(tmp_path)
        loaded = DurableJournal(sd2.db).load()
        sd2.close()
        return loaded

    loaded = asyncio.run(scenario())
    assert len(failures) == 1 and "TRAVEL_PLANNER_STATE_DIR" in str(failures[0])
    assert sorted(loaded.state.promises) == ["a"]


def test_the_store_opens_in_wal_mode_with_the_synchronous_setting_the_readme_promises(tmp_path):
    """NORMAL (see README, "The embedded durable store"): a power loss may roll
    back the last commits, never corrupt; FULL measured 6.7 ms more per step."""
    sd = StateDir(tmp_path)
    try:
        journal_mode = sd.db.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = sd.db.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        sd.close()
    assert (journal_mode, synchronous) == ("wal", 1)  # 1 = NORMAL, 2 = FULL
    assert SYNCHRONOUS == "NORMAL"


def test_an_unknown_synchronous_setting_is_refused(tmp_path):
    with pytest.raises(ValueError, match="synchronous must be one of"):
        open_database(tmp_path / "x.sqlite3", synchronous="SOMETIMES")
