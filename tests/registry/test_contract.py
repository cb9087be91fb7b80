"""The ThreadRegistry contract, run against both implementations.

The invariants: nothing lost, nothing applied twice (DESIGN.md section 6).
"""

from __future__ import annotations

import asyncio
import inspect
import random

import pytest

from tests.registry.conftest import Backend, FakeClock
from workflows.ports import AmendOutcome, Amendment, Delivery, PostRecord, Reply, ThreadRegistry, TripRecord
from workflows.registry import (
    RedisThreadRegistry,
    SqliteThreadRegistry,
    UnknownTripError,
)

T = "T1-C1-1700000000.000100"


def trip(trip_id: str = T, **overrides: object) -> TripRecord:
    data: dict[str, object] = {
        "trip_id": trip_id,
        "thread_key": f"thread:{trip_id}",
        "thread": {"team": "T1", "channel": "C1", "thread_ts": "1700000000.000100"},
        "starter": "U-ana",
        "request": "Lisbon in May, 4 people",
    }
    data.update(overrides)
    return TripRecord(**data)  # type: ignore[arg-type]


def reply(n: int, author: str = "ana", text: str | None = None) -> Reply:
    return Reply(
        key=f"C1:17000000{n:02d}.0001", author=author, text=text or f"answer {n}", ts=f"{n}"
    )


# -- shape ---------------------------------------------------------------


@pytest.mark.parametrize("cls", [SqliteThreadRegistry, RedisThreadRegistry])
def test_implements_every_protocol_method_with_its_signature(cls: type) -> None:
    members = {
        name: fn
        for name, fn in inspect.getmembers(ThreadRegistry, inspect.isfunction)
        if not name.startswith("_")
    }
    assert len(members) == 17
    for name, proto in members.items():
        impl = getattr(cls, name)
        assert inspect.iscoroutinefunction(impl), name
        want = list(inspect.signature(proto).parameters)
        got = list(inspect.signature(impl).parameters)
        assert got[: len(want)] == want, name


# -- trips ---------------------------------------------------------------


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
    clock = FakeClock(1_800_000_000.5)
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
    clock = FakeClock(100.0)
    async with backend.registry(clock) as reg:
        await reg.register_trip(trip())
        clock.advance(42.5)
        await reg.update_trip(T, state="waiting", last_question="Budget?", usage={"tokens": 7})
        got = await reg.get_trip(T)
        assert got == trip(
            state="waiting",
            last_question="Budget?",
            usage={"tokens": 7},
            created_at=100.0,
            updated_at=142.5,
        )
        clock.advance(1.0)
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
        assert await reg.get_trip(T) == trip(created_at=FakeClock().now, updated_at=FakeClock().now)
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


# -- inbox ---------------------------------------------------------------


async def test_claim_returns_replies_in_arrival_order_with_authors(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        sent = [reply(3, "zoe"), reply(1, "ana", 'ünïcødé, "quotes", [brackets]'), reply(2, "bob")]
        for r in sent:
            assert await reg.deliver(T, r) == Delivery(accepted=True, waiter=None)
        assert await reg.claim_replies(T, "c1") == sent
        assert await reg.claim_replies(T, "c2") == []


async def test_unclaimed_replies_peek_without_claiming_and_keep_controls(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        answer = reply(1, "ana")
        cancel = Reply("C:cancel:1", "bob", "cancel", ts="2", kind="cancel")
        await reg.deliver(T, answer)
        await reg.deliver(T, cancel)
        assert await reg.unclaimed_replies(T) == [answer, cancel]
        assert await reg.unclaimed_replies(T) == [answer, cancel]  # a peek claims nothing
        assert await reg.claim_replies(T, "c1") == [answer, cancel]
        assert await reg.unclaimed_replies(T) == []
        assert await reg.unclaimed_replies("no-such-trip") == []


async def test_duplicate_key_is_rejected_but_accepted_on_another_trip(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("A"))
        await reg.register_trip(trip("B"))
        first = reply(1, "ana", "May 3-7")
        assert (await reg.deliver("A", first)).accepted is True
        assert (await reg.deliver("A", first)).accepted is False
        assert (await reg.deliver("A", Reply(first.key, "bob", "different text"))).accepted is False
        assert (await reg.deliver("B", first)).accepted is True
        assert await reg.claim_replies("A", "c") == [first]
        # still a duplicate after it was claimed
        assert (await reg.deliver("A", first)).accepted is False
        assert await reg.claim_replies("A", "c2") == []
        assert await reg.claim_replies("B", "c") == [first]


async def test_deliver_to_an_unknown_trip_is_refused(backend: Backend) -> None:
    async with backend.registry() as reg:
        assert await reg.deliver("nope", reply(1)) == Delivery(accepted=False, waiter=None)
        await reg.register_trip(trip("nope"))
        assert await reg.claim_replies("nope", "c") == []
        # the refused delivery left no dedupe trace behind
        assert (await reg.deliver("nope", reply(1))).accepted is True


async def test_deliver_reports_the_current_waiter_also_for_duplicates(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        assert await reg.publish_waiter(T, f"{T}:3") is False
        assert await reg.deliver(T, reply(1)) == Delivery(accepted=True, waiter=f"{T}:3")
        assert await reg.deliver(T, reply(1)) == Delivery(accepted=False, waiter=f"{T}:3")
        assert await reg.publish_waiter(T, f"{T}:9") is True
        assert await reg.deliver(T, reply(2)) == Delivery(accepted=True, waiter=f"{T}:9")


async def test_publish_waiter_reports_unclaimed_replies(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        assert await reg.publish_waiter(T, "p1") is False
        await reg.deliver(T, reply(1))
        assert await reg.publish_waiter(T, "p2") is True
        assert await reg.claim_replies(T, "c1") == [reply(1)]
        assert await reg.publish_waiter(T, "p3") is False
        with pytest.raises(UnknownTripError):
            await reg.publish_waiter("nope", "p")


async def test_reply_between_claim_and_publish_is_seen_by_publish(backend: Backend) -> None:
    """THE race: the planner checked its inbox, then a reply landed, then it publishes."""
    async with backend.registry() as planner, backend.registry() as bot:
        await planner.register_trip(trip())
        await bot.deliver(T, reply(1))
        assert await planner.publish_waiter(T, "p1") is True
        assert await planner.claim_replies(T, "c1") == [reply(1)]  # planner is busy now
        late = await bot.deliver(T, reply(2))  # lands while the planner is busy
        assert late.accepted is True
        assert await planner.publish_waiter(T, "p2") is True  # ...so publish sees it
        assert await planner.claim_replies(T, "c2") == [reply(2)]
        # the other order: the promise is out first, the reply sees it
        assert await planner.publish_waiter(T, "p3") is False
        assert await bot.deliver(T, reply(3)) == Delivery(accepted=True, waiter="p3")
        assert await planner.claim_replies(T, "c3") == [reply(3)]


async def test_claim_is_idempotent_and_later_replies_wait_for_the_next_claim(
    backend: Backend,
) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1, "ana"))
        await reg.deliver(T, reply(2, "bob"))
        first = await reg.claim_replies(T, "turn-1")
        assert first == [reply(1, "ana"), reply(2, "bob")]
        await reg.deliver(T, reply(3, "cy"))
        assert await reg.claim_replies(T, "turn-1") == first  # a replayed step
        assert await reg.publish_waiter(T, "p") is True  # reply 3 is still unclaimed
        assert await reg.claim_replies(T, "turn-2") == [reply(3, "cy")]
        assert await reg.claim_replies(T, "turn-1") == first
        assert await reg.claim_replies(T, "turn-2") == [reply(3, "cy")]


async def test_an_empty_claim_stays_empty_when_repeated(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        assert await reg.claim_replies(T, "turn-1") == []
        await reg.deliver(T, reply(1))
        assert await reg.claim_replies(T, "turn-1") == []
        assert await reg.claim_replies(T, "turn-2") == [reply(1)]


async def test_claims_are_per_trip(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("A"))
        await reg.register_trip(trip("B"))
        await reg.deliver("A", reply(1))
        await reg.deliver("B", reply(2))
        assert await reg.claim_replies("A", "same-claim") == [reply(1)]
        assert await reg.claim_replies("B", "same-claim") == [reply(2)]


async def test_concurrent_deliveries_lose_nothing_and_apply_nothing_twice(
    backend: Backend,
) -> None:
    """Many people answer at once, every event arrives twice (two bot
    connections), while a planner on a third connection loops
    claim -> busy -> publish_waiter -> wait for a wake-up.

    Replies come in waves, so the planner both waits (it is woken only by a
    deliverer that saw its waiter) and is caught busy (publish_waiter must
    report replies that landed meanwhile). A reply that neither path catches
    leaves the planner waiting for good: the wait times out and the test fails.
    """
    rng = random.Random(1234)
    n, waves = 50, 5
    trips = ["A", "B"]
    async with (
        backend.registry() as planner_reg,
        backend.registry() as bot_one,
        backend.registry() as bot_two,
    ):
        for t in trips:
            await planner_reg.register_trip(trip(t))
        # Open the connections first, so that set-up time does not merge the waves.
        regs = (planner_reg, bot_one, bot_two)
        await asyncio.gather(*(reg.stranded_waiters() for reg in regs for _ in range(25)))
        wakeups: dict[str, asyncio.Event] = {}
        outcomes: list[tuple[str, Reply, Delivery]] = []
        paths = {"publish saw replies": 0, "woken by a deliverer": 0}

        # A wave starts 20 ms after the previous one is fully delivered.
        wave_left = [4 * n // waves] * waves
        wave_done = [asyncio.Event() for _ in range(waves)]

        async def deliverer(t: str, i: int, r: Reply, reg: object) -> None:
            wave = i * waves // n
            if wave:
                await wave_done[wave - 1].wait()
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.random() * 0.004)
            d = await reg.deliver(t, r)  # type: ignore[attr-defined]
            outcomes.append((t, r, d))
            if d.waiter is not None:
                wakeups[d.waiter].set()  # resolving twice is harmless
            wave_left[wave] -= 1
            if not wave_left[wave]:
                wave_done[wave].set()

        async def planner(t: str) -> list[Reply]:
            claimed: list[Reply] = []
            turn = 0
            while len(claimed) < n:
                turn += 1
                claimed += await planner_reg.claim_replies(t, f"{t}-claim-{turn}")
                if len(claimed) >= n:
                    break
                await asyncio.sleep(rng.random() * 0.005)  # busy: replies may land now
                promise = f"{t}:{turn}"
                woken = wakeups.setdefault(promise, asyncio.Event())
                if await planner_reg.publish_waiter(t, promise):
                    paths["publish saw replies"] += 1
                    continue
                try:
                    await asyncio.wait_for(woken.wait(), 3)
                except TimeoutError:
                    pytest.fail(f"{t}: a reply was lost (claimed {len(claimed)} of {n})")
                paths["woken by a deliverer"] += 1
            return claimed

        sent = {t: [reply(i, f"U{i % 7}", f"{t} answer {i}") for i in range(n)] for t in trips}
        jobs = [planner(t) for t in trips]
        for t in trips:
            for i, r in enumerate(sent[t]):
                jobs.append(deliverer(t, i, r, bot_one))
                jobs.append(deliverer(t, i, r, bot_two))
        rng.shuffle(jobs)
        results = await asyncio.gather(*jobs)

    claimed_by_trip: dict[str, list[Reply]] = {}
    for res in results:
        if isinstance(res, list):
            claimed_by_trip[res[0].text.split()[0]] = res
    assert sorted(claimed_by_trip) == trips
    for t, claimed in claimed_by_trip.items():
        assert sorted(claimed, key=lambda r: r.key) == sorted(sent[t], key=lambda r: r.key)
        assert len({r.key for r in claimed}) == n  # nothing twice
        accepted = [r for tt, r, d in outcomes if tt == t and d.accepted]
        assert sorted(accepted, key=lambda r: r.key) == sorted(sent[t], key=lambda r: r.key)
    assert len(outcomes) == 4 * n
    assert all(paths.values()), (backend.kind, paths)  # both wake-up paths were exercised


async def test_a_reply_racing_the_planners_publish_is_never_lost(backend: Backend) -> None:
    """Per trip, one reply lands at a random moment around the planner's
    claim -> publish_waiter, while the trip still shows an older (already
    resolved) waiter. No later reply can cover for a lost wake-up here, so a
    non-atomic deliver/publish pair loses some of these trips."""
    rng = random.Random(99)
    trips = [f"race-{i}" for i in range(60)]
    async with (
        backend.registry() as planner_reg,
        backend.registry() as bot_one,
        backend.registry() as bot_two,
    ):
        for t in trips:
            await planner_reg.register_trip(trip(t))
            assert await planner_reg.publish_waiter(t, f"{t}:old") is False
        wakeups = {t: asyncio.Event() for t in trips}

        async def deliverer(t: str, reg: object) -> None:
            await asyncio.sleep(rng.random() * 0.004)
            d = await reg.deliver(t, reply(1, t))  # type: ignore[attr-defined]
            assert d.accepted
            if d.waiter == f"{t}:new":
                wakeups[t].set()

        async def planner(t: str) -> None:
            claimed = await planner_reg.claim_replies(t, "c1")
            await asyncio.sleep(rng.random() * 0.004)
            if not claimed and not await planner_reg.publish_waiter(t, f"{t}:new"):
                try:
                    await asyncio.wait_for(wakeups[t].wait(), 2)
                except TimeoutError:
                    pytest.fail(f"{t}: the reply was lost")
            claimed += await planner_reg.claim_replies(t, "c2")
            assert claimed == [reply(1, t)]

        jobs = [planner(t) for t in trips]
        jobs += [deliverer(t, bot_one if i % 2 else bot_two) for i, t in enumerate(trips)]
        rng.shuffle(jobs)
        await asyncio.gather(*jobs)


async def test_stranded_waiters_lists_waiting_trips_with_unclaimed_replies(
    backend: Backend,
) -> None:
    async with backend.registry() as reg:
        for t in ("A", "B", "C", "D"):
            await reg.register_trip(trip(t))
        await reg.publish_waiter("A", "A:5")
        await reg.deliver("A", reply(1))  # waiter + unclaimed: stranded
        await reg.publish_waiter("B", "B:2")  # waiter, nothing to read
        await reg.deliver("C", reply(1))  # reply, no waiter
        await reg.publish_waiter("D", "D:1")
        await reg.deliver("D", reply(1))
        await reg.claim_replies("D", "d1")  # claimed already
        assert await reg.stranded_waiters() == [("A", "A:5")]
        await reg.publish_waiter("C", "C:7")
        assert await reg.stranded_waiters() == [("A", "A:5"), ("C", "C:7")]
        await reg.claim_replies("A", "a1")
        assert await reg.stranded_waiters() == [("C", "C:7")]


# -- edits and deletions ------------------------------------------------


def edit(n: int, text: str, at: float, author: str = "ana") -> tuple[Reply, Reply]:
    """(revision, correction) of reply(n) edited at time `at`, as the Slack edge builds them."""
    original = reply(n, author)
    revision = Reply(original.key, author, text, ts=original.ts)
    correction = Reply(f"{original.key}:edited:{at}", author, f"{author} edited their answer: {text}", ts=f"{at}")
    return revision, correction


async def test_an_edit_of_an_unread_answer_replaces_it_in_place(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        for n in (1, 2, 3):
            await reg.deliver(T, reply(n))
        await reg.publish_waiter(T, "p1")
        revision, correction = edit(2, "May 2-5 instead", 1_700_000_100.000200)
        assert await reg.revise(T, revision, correction) == Amendment(AmendOutcome.REVISED, "p1")
        assert await reg.unclaimed_replies(T) == [reply(1), revision, reply(3)]
        assert await reg.claim_replies(T, "c1") == [reply(1), revision, reply(3)]
        assert await reg.claim_replies(T, "c2") == []  # no correction as well
        assert (await reg.deliver(T, reply(2))).accepted is False  # still the same key


async def test_an_edit_of_a_read_answer_arrives_as_a_correction_that_wakes_the_trip(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1))
        assert await reg.claim_replies(T, "c1") == [reply(1)]
        assert await reg.publish_waiter(T, "p1") is False
        revision, correction = edit(1, "actually 5 people", 1_700_000_100.5)
        assert await reg.revise(T, revision, correction) == Amendment(AmendOutcome.CORRECTED, "p1")
        assert await reg.stranded_waiters() == [(T, "p1")]  # like a reply nobody woke the trip for
        assert await reg.publish_waiter(T, "p2") is True
        assert await reg.claim_replies(T, "c2") == [correction]
        assert await reg.claim_replies(T, "c1") == [reply(1)]  # what was read stays as it was read


async def test_edits_apply_once_and_in_the_order_they_were_made(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1))
        await reg.deliver(T, reply(2))
        first, second = edit(1, "first edit", 100.25), edit(1, "second edit", 200.5)
        assert (await reg.revise(T, *second)).outcome == AmendOutcome.REVISED
        assert (await reg.revise(T, *second)).outcome == AmendOutcome.STALE  # a retry
        assert (await reg.revise(T, *first)).outcome == AmendOutcome.STALE  # older, arriving late
        assert await reg.claim_replies(T, "c1") == [second[0], reply(2)]
        assert (await reg.revise(T, *second)).outcome == AmendOutcome.STALE  # read now: still no correction
        later = edit(2, "read, then edited", 300.0)
        assert (await reg.revise(T, *later)).outcome == AmendOutcome.CORRECTED
        assert (await reg.revise(T, *later)).outcome == AmendOutcome.STALE
        assert (await reg.revise(T, *edit(2, "older", 250.0))).outcome == AmendOutcome.STALE
        assert await reg.claim_replies(T, "c2") == [later[1]]


async def test_a_later_edit_replaces_a_correction_that_is_still_unread(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1))
        await reg.claim_replies(T, "c1")
        await reg.deliver(T, reply(2))
        one, two, three = edit(1, "one", 10.0), edit(1, "two", 20.0), edit(1, "three", 30.0)
        assert (await reg.revise(T, *one)).outcome == AmendOutcome.CORRECTED
        assert (await reg.revise(T, *two)).outcome == AmendOutcome.CORRECTED
        assert await reg.unclaimed_replies(T) == [reply(2), two[1]]  # in place of "one"
        assert await reg.claim_replies(T, "c2") == [reply(2), two[1]]
        assert (await reg.revise(T, *one)).outcome == AmendOutcome.STALE
        assert (await reg.revise(T, *three)).outcome == AmendOutcome.CORRECTED  # "two" was read: a new one
        assert await reg.claim_replies(T, "c3") == [three[1]]


async def test_edits_of_what_the_inbox_never_held_as_an_answer_are_ignored(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        cancel = Reply("C1:cancel-msg", "bob", "cancel", ts="5", kind="cancel")
        await reg.deliver(T, cancel)
        await reg.publish_waiter(T, "p1")
        assert await reg.revise(T, *edit(7, "never delivered", 10.0)) == Amendment(AmendOutcome.IGNORED, "p1")
        control_edit = (Reply(cancel.key, "bob", "cancel it all"), Reply(cancel.key + ":e", "bob", "x", ts="11"))
        assert (await reg.revise(T, *control_edit)).outcome == AmendOutcome.IGNORED
        assert await reg.revise("no-such-trip", *edit(1, "x", 10.0)) == Amendment(AmendOutcome.IGNORED, None)
        assert await reg.unclaimed_replies(T) == [cancel]
        # a message that arrives after its edit was ignored is an ordinary reply
        assert (await reg.deliver(T, reply(7))).accepted is True


async def test_revise_refuses_a_malformed_edit(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1))
        revision, correction = edit(1, "x", 10.0)
        for bad in (
            Reply(correction.key, "ana", "x", ts="yesterday"),
            Reply(correction.key, "ana", "x", ts="nan"),
            Reply(revision.key, "ana", "x", ts="11"),
        ):
            with pytest.raises(ValueError):
                await reg.revise(T, revision, bad)
        assert await reg.unclaimed_replies(T) == [reply(1)]


async def test_deleting_an_unread_answer_drops_it_and_keeps_its_retries_out(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1))
        await reg.deliver(T, reply(2))
        await reg.publish_waiter(T, "p1")
        assert await reg.withdraw(T, reply(1).key) == Amendment(AmendOutcome.WITHDRAWN, "p1")
        assert await reg.unclaimed_replies(T) == [reply(2)]
        assert await reg.deliver(T, reply(1)) == Delivery(accepted=False, waiter="p1")  # a late Slack retry
        assert (await reg.withdraw(T, reply(1).key)).outcome == AmendOutcome.WITHDRAWN  # repeated
        assert (await reg.revise(T, *edit(1, "edited after deletion", 10.0))).outcome == AmendOutcome.WITHDRAWN
        assert await reg.claim_replies(T, "c1") == [reply(2)]
        assert (await reg.deliver(T, reply(1))).accepted is False


async def test_a_deleted_only_answer_leaves_nothing_to_wake_for(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1))
        assert (await reg.withdraw(T, reply(1).key)).outcome == AmendOutcome.WITHDRAWN
        assert await reg.publish_waiter(T, "p1") is False
        assert await reg.stranded_waiters() == []
        assert await reg.claim_replies(T, "c1") == []


async def test_a_deletion_that_overtakes_its_message_keeps_the_message_out(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        assert (await reg.withdraw(T, reply(1).key)).outcome == AmendOutcome.WITHDRAWN
        assert (await reg.deliver(T, reply(1))).accepted is False
        assert await reg.unclaimed_replies(T) == []


async def test_deleting_a_read_answer_keeps_it_read_and_drops_its_unread_correction(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        await reg.deliver(T, reply(1))
        await reg.claim_replies(T, "c1")
        await reg.revise(T, *edit(1, "corrected", 10.0))
        await reg.deliver(T, reply(2))
        assert (await reg.withdraw(T, reply(1).key)).outcome == AmendOutcome.READ
        assert await reg.unclaimed_replies(T) == [reply(2)]
        assert (await reg.withdraw(T, reply(1).key)).outcome == AmendOutcome.READ  # repeated
        assert (await reg.revise(T, *edit(1, "again", 20.0))).outcome == AmendOutcome.WITHDRAWN
        assert await reg.claim_replies(T, "c1") == [reply(1)]
        assert await reg.claim_replies(T, "c2") == [reply(2)]


async def test_a_control_is_never_withdrawn(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip())
        cancel = Reply("C1:cancel-msg", "bob", "cancel", ts="5", kind="cancel")
        await reg.deliver(T, cancel)
        assert (await reg.withdraw(T, cancel.key)).outcome == AmendOutcome.IGNORED
        assert await reg.withdraw("no-such-trip", cancel.key) == Amendment(AmendOutcome.IGNORED, None)
        assert await reg.unclaimed_replies(T) == [cancel]


async def _warm_up(*regs: ThreadRegistry) -> None:
    """Open each registry's connections first, so that opening one does not
    put all of one side of a race ahead of the other."""
    await asyncio.gather(*(reg.stranded_waiters() for reg in regs for _ in range(10)))


async def test_an_edit_racing_the_planners_claim_is_read_exactly_once(backend: Backend) -> None:
    """The planner claims while the edit lands: it reads the new text either
    in place of the answer or as a correction, never neither, never both."""
    rng = random.Random(7)
    trips = [f"edit-race-{i}" for i in range(40)]
    async with backend.registry() as planner_reg, backend.registry() as bot:
        for t in trips:
            await planner_reg.register_trip(trip(t))
            await planner_reg.deliver(t, reply(1))
        await _warm_up(planner_reg, bot)
        revision, correction = edit(1, "edited", 50.0)
        outcomes: dict[str, AmendOutcome] = {}

        async def editor(t: str) -> None:
            await asyncio.sleep(rng.random() * 0.004)
            outcomes[t] = (await bot.revise(t, revision, correction)).outcome

        async def planner(t: str) -> list[Reply]:
            await asyncio.sleep(rng.random() * 0.004)
            return await planner_reg.claim_replies(t, "c1")

        jobs = [editor(t) for t in trips] + [planner(t) for t in trips]
        results = await asyncio.gather(*jobs)
        for t, first in zip(trips, results[len(trips):], strict=True):
            rest = await planner_reg.claim_replies(t, "c2")
            if outcomes[t] == AmendOutcome.REVISED:
                assert (first, rest) == ([revision], []), t
            else:
                assert outcomes[t] == AmendOutcome.CORRECTED, t
                assert (first, rest) == ([reply(1)], [correction]), t
        assert set(outcomes.values()) == {AmendOutcome.REVISED, AmendOutcome.CORRECTED}, backend.kind


async def test_a_deletion_racing_the_planners_claim_is_read_all_or_not_at_all(backend: Backend) -> None:
    rng = random.Random(8)
    trips = [f"delete-race-{i}" for i in range(40)]
    async with backend.registry() as planner_reg, backend.registry() as bot:
        for t in trips:
            await planner_reg.register_trip(trip(t))
            await planner_reg.deliver(t, reply(1))
        await _warm_up(planner_reg, bot)
        outcomes: dict[str, AmendOutcome] = {}

        async def deleter(t: str) -> None:
            await asyncio.sleep(rng.random() * 0.004)
            outcomes[t] = (await bot.withdraw(t, reply(1).key)).outcome

        async def planner(t: str) -> list[Reply]:
            await asyncio.sleep(rng.random() * 0.004)
            return await planner_reg.claim_replies(t, "c1")

        results = await asyncio.gather(*[deleter(t) for t in trips], *[planner(t) for t in trips])
        for t, claimed in zip(trips, results[len(trips):], strict=True):
            expected = [] if outcomes[t] == AmendOutcome.WITHDRAWN else [reply(1)]
            assert outcomes[t] in (AmendOutcome.WITHDRAWN, AmendOutcome.READ), t
            assert claimed == expected, t
            assert await planner_reg.claim_replies(t, "c2") == []
        assert set(outcomes.values()) == {AmendOutcome.WITHDRAWN, AmendOutcome.READ}, backend.kind


# -- dedupe marks --------------------------------------------------------


async def test_mark_event_is_true_only_the_first_time(backend: Backend) -> None:
    async with backend.registry() as reg:
        assert await reg.mark_event("Ev123", 300) is True
        assert await reg.mark_event("Ev123", 300) is False
        assert await reg.mark_event("C1:1700000000.0001", 300) is True
        assert await reg.mark_event("Ev123", 300) is False


async def test_mark_event_forgets_after_its_ttl(backend: Backend) -> None:
    clock = FakeClock()
    async with backend.registry(clock) as reg:
        if backend.kind == "sqlite":
            assert await reg.mark_event("Ev1", 60) is True
            clock.advance(59.5)
            assert await reg.mark_event("Ev1", 60) is False
            clock.advance(1.0)
            assert await reg.mark_event("Ev1", 60) is True
            assert await reg.mark_event("Ev1", 60) is False
        else:  # TTLs run on the Redis server's own clock
            assert await reg.mark_event("Ev1", 1) is True
            assert await reg.mark_event("Ev1", 1) is False
            await asyncio.sleep(1.1)
            assert await reg.mark_event("Ev1", 1) is True
            assert await reg.mark_event("Ev1", 1) is False


# -- posting ledger ------------------------------------------------------


async def test_posting_ledger_intent_then_done_never_downgraded(backend: Backend) -> None:
    key = f"{T}:7"
    async with backend.registry() as reg:
        assert await reg.post_record(key) is None
        await reg.record_post_intent(key)
        assert await reg.post_record(key) == PostRecord("intent", "")
        await reg.record_post_intent(key)
        assert await reg.post_record(key) == PostRecord("intent", "")
        await reg.record_post_done(key, "1700000001.000200")
        assert await reg.post_record(key) == PostRecord("done", "1700000001.000200")
        await reg.record_post_intent(key)  # a replayed step must not forget the post
        assert await reg.post_record(key) == PostRecord("done", "1700000001.000200")
        await reg.record_post_done(f"{T}/final", "ts-2")  # done without an intent
        assert await reg.post_record(f"{T}/final") == PostRecord("done", "ts-2")
        assert await reg.post_record(f"{T}:8") is None


# -- forgetting ----------------------------------------------------------


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
