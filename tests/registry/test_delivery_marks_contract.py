"""The `DeliveryMarks` contract, run against both stores (SQLite, Redis)."""

from __future__ import annotations

import asyncio

import pytest

from testing.clock import ManualClock
from tests.registry.conftest import Backend, START
from tests.registry.records import assert_implements
from workflows.ports import DeliveryMarks
from workflows.registry import RedisThreadRegistry, SqliteThreadRegistry


@pytest.mark.parametrize("cls", [SqliteThreadRegistry, RedisThreadRegistry])
def test_implements_every_delivery_marks_method_with_its_signature(cls: type) -> None:
    assert_implements(DeliveryMarks, cls, methods=1)


async def test_first_time_is_true_only_the_first_time(backend: Backend) -> None:
    async with backend.registry() as reg:
        assert await reg.first_time("Ev123", 300) is True
        assert await reg.first_time("Ev123", 300) is False
        assert await reg.first_time("C1:1700000000.0001", 300) is True
        assert await reg.first_time("Ev123", 300) is False


async def test_first_time_forgets_after_its_ttl(backend: Backend) -> None:
    clock = ManualClock(START)
    async with backend.registry(clock) as reg:
        if backend.kind == "sqlite":
            assert await reg.first_time("Ev1", 60) is True
            clock.advance(seconds=59.5)
            assert await reg.first_time("Ev1", 60) is False
            clock.advance(seconds=1.0)
            assert await reg.first_time("Ev1", 60) is True
            assert await reg.first_time("Ev1", 60) is False
        else:  # TTLs run on the Redis server's own clock
            assert await reg.first_time("Ev1", 1) is True
            assert await reg.first_time("Ev1", 1) is False
            await asyncio.sleep(1.1)
            assert await reg.first_time("Ev1", 1) is True
            assert await reg.first_time("Ev1", 1) is False
