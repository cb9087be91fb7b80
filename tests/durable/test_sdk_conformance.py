"""Guards on the resonate-sdk internals the embedded store is built on.

The store drives `resonate.connections.local.ServerState` and journals its
requests. If an SDK upgrade changes that state machine, its request shapes or
the heartbeat selection, these tests must fail loudly rather than let trips
replay into the wrong state.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from datetime import timedelta

import pytest
from resonate.connections.local import LocalConnection, ServerState
from resonate.heartbeat import AsyncHeartbeat
from resonate.resonate import Resonate
from resonate.types import Value

from workflows.durable.connection import JournaledConnection
from workflows.durable.journal import DurableJournal
from workflows.durable.server_state import JournaledServerState
from workflows.durable.state_dir import StateDir

from tests.durable.replaying import comparable

PINNED = "0.8.1"


def test_the_sdk_is_the_pinned_version():
    assert importlib.metadata.version("resonate-sdk") == PINNED, (
        "resonate-sdk changed: re-run this suite's checks against the new ServerState "
        "before moving the pin (workflows/durable/ depends on its internals)"
    )


def test_the_state_machine_has_the_shape_we_journal():
    state = ServerState()
    for attr in ("promises", "tasks", "schedules", "p_timeouts", "t_timeouts", "outgoing"):
        assert hasattr(state, attr)
    for method in ("apply", "tick", "preload", "set_t_timeout", "send_execute_message"):
        assert callable(getattr(state, method))
    assert not issubclass(JournaledConnection, LocalConnection)


async def _journaled(tmp_path, **kw):  # type: ignore[no-untyped-def]
    sd = StateDir(tmp_path)
    conn = JournaledConnection(DurableJournal(sd.db), **kw)
    r = Resonate(network=conn, env={}, autostart=False)
    return sd, conn, r



async def _workflow(ctx, n: int) -> dict:  # type: ignore[no-untyped-def]
    doubled = await ctx.run(_double, n)
    p = ctx.promise(timeout=timedelta(days=30))
    reply = await p
    child = await ctx.options(timeout=timedelta(days=30)).detached("wf", n + 1) if n < 2 else None
    return {"doubled": doubled, "reply": reply, "child": child}


async def _double(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
    return 2 * n


def test_replaying_the_journal_rebuilds_the_live_state_exactly(tmp_path):
    async def scenario():
        sd, conn, r = await _journaled(tmp_path)
        r.register(_workflow, name="wf", version=1)
        r.start()
        handle = r.options(timeout=timedelta(days=30)).run("root", "wf", 1)
        for _ in range(200):
            await asyncio.sleep(0.01)
            waiting = [p.id for p in conn.state.promises.values()
                       if p.state == "pending" and p.tags.get("resonate:external") == "true"]
            for pid in waiting:
                await r.promises.resolve(pid, Value(data="yes"))
            if handle.done() and len(conn.state.promises) >= 8:
                break
        await asyncio.sleep(0.1)
        live = comparable(conn.state)
        await asyncio.wait_for(r.stop(), 2)
        sd.close()
        sd2 = StateDir(tmp_path)
        replayed = DurableJournal(sd2.db).load()
        sd2.close()
        return live, comparable(replayed.state), replayed.replayed, await handle.result()

    live, replayed, entries, result = asyncio.run(scenario())
    assert result["doubled"] == 2 and result["reply"] == "yes"
    assert entries > 10
    assert replayed == live


def test_an_embedded_connection_gets_the_sdk_heartbeat(tmp_path):
    async def scenario():
        sd, conn, r = await _journaled(tmp_path)
        hb = r._heartbeat  # the SDK picks NoopHeartbeat only for LocalConnection
        sd.close()
        return hb

    assert isinstance(asyncio.run(scenario()), AsyncHeartbeat)


def test_a_long_step_keeps_its_lease_and_runs_once(tmp_path):
    """Without a heartbeat, a step longer than the lease is re-issued (paid twice)."""
    runs: list[int] = []

    async def slow(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
        runs.append(n)
        await asyncio.sleep(2.5)
        return n

    async def wf(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
        return await ctx.run(slow, n)

    async def scenario():
        sd = StateDir(tmp_path)
        conn = JournaledConnection(DurableJournal(sd.db), tick_interval=0.1)
        r = Resonate(network=conn, env={}, autostart=False, ttl=timedelta(seconds=1))
        r.register(wf, name="wf", version=1)
        r.start()
        result = await asyncio.wait_for(r.run("lease", wf, 7).result(), 10)
        await asyncio.wait_for(r.stop(), 2)
        sd.close()
        return result

    assert asyncio.run(scenario()) == 7
    assert runs == [7]


def test_recovery_takes_back_dead_leases_and_redispatches(tmp_path):
    state = JournaledServerState()
    state.apply(0, {
        "kind": "task.create", "pid": "dead", "ttl": 60_000,
        "action": {"kind": "promise.create", "data": {
            "id": "t1", "timeoutAt": 10**12, "param": {}, "tags": {"resonate:target": "local://any@default"}}},
    })
    assert state.tasks["t1"].state == "acquired"
    state.recover(5)
    assert state.tasks["t1"].state == "pending" and state.tasks["t1"].version == 1
    assert [m.message["kind"] for m in state.outgoing] == ["execute"]


def test_preload_index_matches_the_sdk_full_scan():
    ours, theirs = JournaledServerState(), ServerState()
    for state in (ours, theirs):
        state.apply(0, {"kind": "promise.create", "id": "a", "timeoutAt": 10**12,
                        "tags": {"resonate:branch": "a", "resonate:target": "x"}})
        for i in range(5):
            state.apply(0, {"kind": "promise.create", "id": f"a:{i}", "timeoutAt": 10**12,
                            "tags": {"resonate:branch": "a"}})
        state.apply(0, {"kind": "promise.create", "id": "b:1", "timeoutAt": 10**12,
                        "tags": {"resonate:branch": "b"}})
    assert ours.preload("a") == sorted(theirs.preload("a"), key=lambda r: r["id"])
    assert ours.prune(["a"]) == 6 and ours.preload("a") == []


@pytest.mark.parametrize("kind", ["promise.get", "promise.register_listener"])
def test_reads_that_time_out_a_promise_are_journaled(kind):
    state = JournaledServerState()
    state.apply(0, {"kind": "promise.create", "id": "p", "timeoutAt": 100, "tags": {}})
    field = "id" if kind == "promise.get" else "awaited"
    assert not state.mutates(50, {"kind": kind, field: "p"})
    assert state.mutates(150, {"kind": kind, field: "p"})  # would auto-time-out
