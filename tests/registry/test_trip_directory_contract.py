"""The `TripDirectory` contract, run against both stores (SQLite, Redis).

`forget_trip` drops what every part keeps for a trip, so its tests also use
the inbox and the ledger.
"""

from __future__ import annotations

import pytest

from testing.clock import ManualClock
from tests.registry.conftest import Backend, START
from tests.registry.records import T, assert_implements, edit, reply, trip
from workflows.ports import AmendOutcome, Delivery, PostRecord, TripDirectory, TripRecord
from workflows.registry import RedisThreadRegistry, SqliteThreadRegistry, UnknownTripError


@pytest.mark.parametrize("cls", [SqliteThreadRegistry, RedisThreadRegistry])
def test_implements_every_trip_directory_method_with_its_signature(cls: type) -> None:
    assert_implements(TripDirectory, cls, methods=6)


async def test_register_then_get_round_trips_the_record(backend: Backend) -> None:
    record = trip(
        request="Lisboa em maio — 4 pessoas ✈",
        usage={"tokens": {"in": 1234, "out": 56}, "calls": [1, 2], "cost": 0.0123, "none": None},
        created_at=1_700_000_123.456789,
        updated_at=1_700_000_124.000001,
        last_question="Which dates?",
        state="waiting",
    )
    async with backend.registry() as reg:
        assert await reg.register_trip(record) is True
        got = await reg.get_trip(T)
        assert got == record
        assert TripRecord.from_dict(got.to_dict()) == record
        assert await reg.get_trip("nope") is None


async def test_register_existing_trip_returns_false_and_changes_nothing(backend: Backend) -> None:
    async with backend.registry() as reg:
        first = trip(created_at=10.0)
        assert await reg.register_trip(first)
        clash = trip(thread_key="other-thread", starter="U-bob", request="Porto", created_at=20.0)
        assert await reg.register_trip(clash) is False
        assert await reg.get_trip(T) == trip(created_at=10.0, updated_at=10.0)
        assert await reg.trip_for_thread(f"thread:{T}") == T
        assert await reg.trip_for_thread("other-thread") is None
        assert [r.trip_id for r in await reg.list_trips("U-bob")] == []


async def test_register_stamps_missing_timestamps_from_the_clock(backend: Backend) -> None:
    clock = ManualClock(1_800_000_000.5)
    async with backend.registry(clock) as reg:
        await reg.register_trip(trip())
        got = await reg.get_trip(T)
        assert got is not None
        assert (got.created_at, got.updated_at) == (1_800_000_000.5, 1_800_000_000.5)


async def test_trip_for_thread_maps_each_thread_to_its_trip(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("A"))
        await reg.register_trip(trip("B"))
        assert await reg.trip_for_thread("thread:A") == "A"
        assert await reg.trip_for_thread("thread:B") == "B"
        assert await reg.trip_for_thread("thread:C") is None


async def test_update_trip_sets_given_fields_and_updated_at(backend: Backend) -> None:
    clock = ManualClock(100.0)
    async with backend.registry(clock) as reg:
        await reg.register_trip(trip())
        clock.advance(seconds=42.5)
        await reg.update_trip(T, state="waiting", last_question="Budget?", usage={"tokens": 7})
        got = await reg.get_trip(T)
        assert got == trip(
            state="waiting",
            last_question="Budget?",
            usage={"tokens": 7},
            created_at=100.0,
            updated_at=142.5,
        )
        clock.advance(seconds=1.0)
        await reg.update_trip(T, thread={"team": "T9", "channel": "C9", "thread_ts": "1.2"})
        got = await reg.get_trip(T)
        assert got is not None
        assert got.thread == {"team": "T9", "channel": "C9", "thread_ts": "1.2"}
        assert (got.state, got.last_question, got.updated_at) == ("waiting", "Budget?", 143.5)


async def test_update_trip_thread_key_moves_the_thread_mapping(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.update_trip(T, thread_key="thread:new")
        assert await reg.trip_for_thread("thread:new") == T
        assert await reg.trip_for_thread(f"thread:{T}") is None
        got = await reg.get_trip(T)
        assert got is not None and got.thread_key == "thread:new"


async def test_update_trip_rejects_unknown_fields_bad_values_and_unknown_trips(
    backend: Backend,
) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        with pytest.raises(ValueError):
            await reg.update_trip(T, colour="blue")
        with pytest.raises(ValueError):
            await reg.update_trip(T, state="exploded")
        with pytest.raises(TypeError):
            await reg.update_trip(T, usage={"bad": object()})
        with pytest.raises(UnknownTripError):
            await reg.update_trip("nope", state="done")
        assert await reg.get_trip(T) == trip(created_at=START, updated_at=START)
        assert await reg.get_trip("nope") is None


async def test_list_trips_is_newest_first_and_filters_by_starter(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("old", starter="U-ana", created_at=100.0))
        await reg.register_trip(trip("new", starter="U-bob", created_at=300.0))
        await reg.register_trip(trip("mid", starter="U-ana", created_at=200.0))
        await reg.register_trip(trip("mid2", starter="U-bob", created_at=200.0))
        assert [r.trip_id for r in await reg.list_trips()] == ["new", "mid2", "mid", "old"]
        assert [r.trip_id for r in await reg.list_trips("U-ana")] == ["mid", "old"]
        assert [r.trip_id for r in await reg.list_trips(starter="U-bob")] == ["new", "mid2"]
        assert await reg.list_trips("U-nobody") == []
        full = await reg.list_trips("U-ana")
        assert full[0] == trip("mid", starter="U-ana", created_at=200.0, updated_at=200.0)


async def test_list_trips_follows_updates_to_starter_and_created_at(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("a", starter="U-ana", created_at=100.0))
        await reg.register_trip(trip("b", starter="U-ana", created_at=200.0))
        await reg.update_trip("a", created_at=300.0)
        assert [r.trip_id for r in await reg.list_trips()] == ["a", "b"]
        assert [r.trip_id for r in await reg.list_trips("U-ana")] == ["a", "b"]
        await reg.update_trip("b", starter="U-bob")
        assert [r.trip_id for r in await reg.list_trips("U-ana")] == ["a"]
        assert [r.trip_id for r in await reg.list_trips("U-bob")] == ["b"]


async def test_forget_trip_drops_everything_kept_for_it_and_nothing_else(
    backend: Backend,
) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("T1", starter="U-ana"))
        await reg.register_trip(trip("T10", starter="U-ana"))
        await reg.deliver("T1", reply(1))
        await reg.claim_replies("T1", "c1")
        await reg.deliver("T1", reply(2))
        await reg.publish_waiter("T1", "T1:4")
        await reg.deliver("T1", reply(5))
        await reg.revise("T1", *edit(5, "edited", 10.0))
        await reg.revise("T1", *edit(1, "edited after reading", 10.0))
        await reg.withdraw("T1", reply(6).key)
        await reg.deliver("T10", reply(1))
        await reg.publish_waiter("T10", "T10:2")
        for key in ("T1", "T1:ask:1", "T1/final", "T10:ask:1", "T10/final", "T1-x:1", "T"):
            await reg.record_post_done(key, f"ts-{key}")
        await reg.record_post_intent("T1:ask:2")

        await reg.forget_trip("T1")

        assert await reg.get_trip("T1") is None
        assert await reg.trip_for_thread("thread:T1") is None
        assert [r.trip_id for r in await reg.list_trips()] == ["T10"]
        assert [r.trip_id for r in await reg.list_trips("U-ana")] == ["T10"]
        assert await reg.stranded_waiters() == [("T10", "T10:2")]
        for gone in ("T1", "T1:ask:1", "T1:ask:2", "T1/final"):
            assert await reg.post_record(gone) is None, gone
        for kept in ("T10:ask:1", "T10/final", "T1-x:1", "T"):
            assert await reg.post_record(kept) == PostRecord("done", f"ts-{kept}"), kept
        assert await reg.deliver("T1", reply(3)) == Delivery(accepted=False, waiter=None)
        assert await reg.claim_replies("T1", "c1") == []

        assert (await reg.withdraw("T1", reply(5).key)).outcome == AmendOutcome.IGNORED
        assert (await reg.revise("T1", *edit(5, "x", 20.0))).outcome == AmendOutcome.IGNORED

        # A trip registered again under the same id starts from nothing:
        # no tombstones, no edit history.
        assert await reg.register_trip(trip("T1"))
        assert await reg.deliver("T1", reply(1)) == Delivery(accepted=True, waiter=None)
        assert (await reg.deliver("T1", reply(6))).accepted is True
        assert (await reg.revise("T1", *edit(1, "edited", 10.0))).outcome == AmendOutcome.REVISED
        assert await reg.claim_replies("T1", "c1") == [edit(1, "edited", 10.0)[0], reply(6)]
        assert await reg.trip_for_thread("thread:T10") == "T10"
        assert await reg.claim_replies("T10", "c1") == [reply(1)]
        await reg.forget_trip("never-existed")  # harmless


async def test_forget_trip_leaves_a_thread_mapping_that_moved_to_another_trip(
    backend: Backend,
) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("A", thread_key="shared"))
        await reg.register_trip(trip("B", thread_key="shared"))
        assert await reg.trip_for_thread("shared") == "B"
        await reg.forget_trip("A")
        assert await reg.trip_for_thread("shared") == "B"
        await reg.forget_trip("B")
        assert await reg.trip_for_thread("shared") is None


async def test_plan_versions_is_a_count_kept_as_an_int(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("T1"))
        assert (await reg.get_trip("T1")).plan_versions == 0
        await reg.update_trip("T1", plan_versions=3, state="closed")
        record = await reg.get_trip("T1")
        assert record.plan_versions == 3 and record.state == "closed"
        for bad in ("3", -1, True, 2.0):
            with pytest.raises(TypeError, match="plan_versions"):
                await reg.update_trip("T1", plan_versions=bad)
        assert (await reg.get_trip("T1")).plan_versions == 3
