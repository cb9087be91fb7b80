"""The `Inbox` contract, run against both stores (SQLite, Redis).

The invariants: nothing lost, nothing applied twice.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.registry.conftest import Backend
from tests.registry.records import T, assert_implements, edit, reply, trip
from workflows.ports import AmendOutcome, Amendment, Delivery, Inbox, Reply
from workflows.registry import RedisThreadRegistry, SqliteThreadRegistry, UnknownTripError


@pytest.mark.parametrize("cls", [SqliteThreadRegistry, RedisThreadRegistry])
def test_implements_every_inbox_method_with_its_signature(cls: type) -> None:
    assert_implements(Inbox, cls, methods=7)


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


async def _warm_up(*regs: Inbox) -> None:
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
