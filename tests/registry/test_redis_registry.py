"""What only the Redis registry promises: key layout, TTLs, restarts, errors."""

from __future__ import annotations

import time
import uuid

import pytest

from workflows.feedback import Feedback
from workflows.ports import RegistryUnavailable
import redis.asyncio as aioredis
import redis.exceptions

from testing.loopback import free_port
from testing.redis_server import RedisServer
from workflows.ports import Delivery, PostRecord, Reply, TripRecord
from workflows.registry import RedisThreadRegistry, UnknownTripError, open_redis_client

T = "T1-C1-1700000000.000100"
T2 = "T1-C1-1700000000.000200"


def trip(trip_id: str = T, **kw: object) -> TripRecord:
    kw.setdefault("starter", "U-ana")
    return TripRecord(trip_id=trip_id, thread_key=f"thread:{trip_id}", **kw)  # type: ignore[arg-type]


def reply(n: int) -> Reply:
    return Reply(key=f"C1:{n}", author=f"U{n}", text=f"answer {n}", ts=str(n))


def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


async def exercise(reg: RedisThreadRegistry) -> None:
    """Touch every kind of key the registry writes."""
    await reg.register_trip(trip())
    await reg.deliver(T, reply(1))
    await reg.claim_replies(T, "c1")
    await reg.deliver(T, reply(2))
    await reg.publish_waiter(T, f"{T}:3")
    # edits, deletions and a control, on a trip of their own
    await reg.register_trip(trip(T2, starter="U-bob"))
    await reg.deliver(T2, reply(1))
    await reg.deliver(T2, reply(2))
    await reg.deliver(T2, Reply("C1:cancel", "U1", "cancel", kind="cancel"))
    await reg.claim_replies(T2, "c1")
    await reg.revise(T2, Reply("C1:1", "U1", "edited", ts="1"), Reply("C1:1:e5", "U1", "U1 edited", ts="5"))
    await reg.withdraw(T2, "C1:2")
    await reg.first_time("Ev1", 60)
    await reg.record_post_intent(f"{T}:1")
    await reg.record_post_done(f"{T}:2", "ts")


async def test_all_keys_live_under_the_namespace_and_forget_removes_the_trips(
    private_redis_server: RedisServer,
) -> None:
    client = aioredis.Redis.from_url(private_redis_server.url)
    try:
        reg = RedisThreadRegistry(client, namespace="tp-test")
        await exercise(reg)
        keys = sorted(k.decode() for k in await client.keys("*"))
        assert keys and all(k.startswith("tp-test:") for k in keys), keys
        await reg.forget_trip(T)
        await reg.forget_trip(T2)
        assert sorted(k.decode() for k in await client.keys("*")) == ["tp-test:event:Ev1"]
    finally:
        await client.aclose()


async def test_namespaces_do_not_see_each_other(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        a = RedisThreadRegistry(client, namespace=namespace())
        b = RedisThreadRegistry(client, namespace=namespace())
        await exercise(a)
        assert await b.get_trip(T) is None
        assert await b.list_trips() == []
        assert await b.stranded_waiters() == []
        assert await b.first_time("Ev1", 60) is True
        assert await b.post_record(f"{T}:2") is None
        assert await a.stranded_waiters() == [(T, f"{T}:3")]
    finally:
        await client.aclose()


async def test_event_marks_carry_a_ttl(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        ns = namespace()
        reg = RedisThreadRegistry(client, namespace=ns, event_ttl_seconds=777)
        assert await reg.first_time("Ev1", 300)
        assert 295 <= await client.ttl(f"{ns}:event:Ev1") <= 300
        assert await reg.first_time("Ev2", 0)  # no usable TTL given: the default
        assert 770 <= await client.ttl(f"{ns}:event:Ev2") <= 777
    finally:
        await client.aclose()


async def test_works_with_a_decoding_client(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        reg = RedisThreadRegistry(client, namespace=namespace(), clock=lambda: 5.0)
        await exercise(reg)
        assert await reg.get_trip(T) == trip(created_at=5.0, updated_at=5.0)
        assert [r.trip_id for r in await reg.list_trips("U-ana")] == [T]
        assert await reg.trip_for_thread(f"thread:{T}") == T
        assert await reg.claim_replies(T, "c1") == [reply(1)]
        assert await reg.deliver(T, reply(2)) == Delivery(False, f"{T}:3")
        assert await reg.stranded_waiters() == [(T, f"{T}:3")]
        assert await reg.post_record(f"{T}:2") == PostRecord("done", "ts")
    finally:
        await client.aclose()


async def test_a_restart_with_persistence_keeps_everything(
    private_redis_server: RedisServer,
) -> None:
    client = open_redis_client(private_redis_server.url)
    try:
        reg = RedisThreadRegistry(client, namespace="tp")
        await exercise(reg)
        private_redis_server.restart(keep_data=True)
        # Same client and registry: connections re-open, scripts re-load (NOSCRIPT).
        assert await reg.stranded_waiters() == [(T, f"{T}:3")]
        assert await reg.claim_replies(T, "c1") == [reply(1)]
        assert await reg.deliver(T, reply(2)) == Delivery(False, f"{T}:3")
        assert await reg.deliver(T, reply(4)) == Delivery(True, f"{T}:3")
        assert await reg.claim_replies(T, "c2") == [reply(2), reply(4)]
        assert await reg.first_time("Ev1", 60) is False
        assert await reg.post_record(f"{T}:2") == PostRecord("done", "ts")
    finally:
        await client.aclose()


async def test_a_restart_without_persistence_is_loud_not_silent(
    private_redis_server: RedisServer,
) -> None:
    client = open_redis_client(private_redis_server.url)
    try:
        reg = RedisThreadRegistry(client, namespace="tp")
        await exercise(reg)
        private_redis_server.restart(keep_data=False)
        assert await reg.get_trip(T) is None
        with pytest.raises(UnknownTripError):
            await reg.publish_waiter(T, f"{T}:5")
        assert await reg.deliver(T, reply(9)) == Delivery(accepted=False, waiter=None)
    finally:
        await client.aclose()


async def test_unreachable_redis_raises_registry_unavailable_with_the_cause() -> None:
    port = free_port()  # nothing listens here
    client = open_redis_client(f"redis://127.0.0.1:{port}/0")
    try:
        reg = RedisThreadRegistry(client)
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable) as caught:
            await reg.deliver(T, reply(1))
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
        assert "deliver" in str(caught.value)
        with pytest.raises(redis.exceptions.ConnectionError):
            await reg.ping()
        assert time.monotonic() - started < 5
    finally:
        await client.aclose()


def test_fixture_gives_a_url_to_a_server_of_our_own(
    redis_server: RedisServer, redis_url: str
) -> None:
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.running
    assert str(redis_server.dir).startswith("/") and (redis_server.dir / "redis.log").exists()


#: One call of every registry operation, with arguments it accepts.
_EVERY_OPERATION = {
    "register_trip": lambda reg: reg.register_trip(trip()),
    "get_trip": lambda reg: reg.get_trip(T),
    "trip_for_thread": lambda reg: reg.trip_for_thread(f"thread:{T}"),
    "update_trip": lambda reg: reg.update_trip(T, state="done"),
    "list_trips": lambda reg: reg.list_trips(),
    "forget_trip": lambda reg: reg.forget_trip(T),
    "first_time": lambda reg: reg.first_time("Ev1", 60),
    "deliver": lambda reg: reg.deliver(T, reply(1)),
    "revise": lambda reg: reg.revise(T, reply(1), Reply(key="C1:1/edit", author="U1", text="x", ts="2")),
    "withdraw": lambda reg: reg.withdraw(T, reply(1).key),
    "publish_waiter": lambda reg: reg.publish_waiter(T, f"{T}:3"),
    "claim_replies": lambda reg: reg.claim_replies(T, "c1"),
    "unclaimed_replies": lambda reg: reg.unclaimed_replies(T),
    "stranded_waiters": lambda reg: reg.stranded_waiters(),
    "post_record": lambda reg: reg.post_record(f"{T}:1"),
    "record_post_intent": lambda reg: reg.record_post_intent(f"{T}:1"),
    "record_post_done": lambda reg: reg.record_post_done(f"{T}:1", "ts"),
    "record_feedback": lambda reg: reg.record_feedback(Feedback(T, 1, "U1", "positive")),
    "trip_feedback": lambda reg: reg.trip_feedback(T),
}


def test_the_outage_check_covers_every_registry_operation() -> None:
    import inspect

    from workflows.ports import ThreadRegistry

    operations = {name for name, _ in inspect.getmembers(ThreadRegistry, inspect.isfunction) if not name.startswith("_")}
    assert set(_EVERY_OPERATION) == operations


@pytest.mark.parametrize("operation", sorted(_EVERY_OPERATION))
async def test_every_operation_turns_an_outage_into_registry_unavailable(operation: str) -> None:
    """The wrapping is written out in each method: one forgotten would let a
    raw redis-py error reach callers that retry only RegistryUnavailable."""
    client = open_redis_client(f"redis://127.0.0.1:{free_port()}/0", retry=None)
    try:
        reg = RedisThreadRegistry(client)
        with pytest.raises(RegistryUnavailable) as caught:
            await _EVERY_OPERATION[operation](reg)
        assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
        assert f"during {operation}:" in str(caught.value)
    finally:
        await client.aclose()
