"""`ExactlyOnce`, the intent/done marks every chat port posts through, on
both stores."""

from __future__ import annotations

import asyncio

import pytest

from tests.registry.conftest import Backend
from tests.registry.records import T
from workflows.exactly_once import ExactlyOnce
from workflows.ports import PostRecord


class Surface:
    """Where posts land: counts sends, can fail one, can be searched."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail_next = False

    async def send(self) -> str:
        await asyncio.sleep(0)  # a real send yields: a concurrent call gets its turn
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("the surface is down")
        self.sent.append(f"ts-{len(self.sent) + 1}")
        return self.sent[-1]


async def test_a_key_done_is_never_sent_again(backend: Backend) -> None:
    surface = Surface()
    async with backend.registry() as reg:
        once = ExactlyOnce(reg)
        assert await once.posted(f"{T}/ask1") is None
        assert await once.post(f"{T}/ask1", surface.send) == "ts-1"
        assert await once.post(f"{T}/ask1", surface.send) == "ts-1"
        assert await ExactlyOnce(reg).post(f"{T}/ask1", surface.send) == "ts-1"  # another process
        assert surface.sent == ["ts-1"] and await once.posted(f"{T}/ask1") == "ts-1"
        assert await reg.post_record(f"{T}/ask1") == PostRecord("done", "ts-1")


async def test_a_failed_send_leaves_an_intent_and_the_next_call_sends(backend: Backend) -> None:
    surface = Surface()
    surface.fail_next = True
    async with backend.registry() as reg:
        once = ExactlyOnce(reg)
        with pytest.raises(ConnectionError):
            await once.post(f"{T}/notice1", surface.send)
        assert await reg.post_record(f"{T}/notice1") == PostRecord("intent", "")
        assert await once.posted(f"{T}/notice1") is None
        assert await once.post(f"{T}/notice1", surface.send) == "ts-1"
        assert surface.sent == ["ts-1"]


async def test_after_an_intent_what_find_finds_is_recorded_and_nothing_is_sent(backend: Backend) -> None:
    surface = Surface()
    searched: list[str] = []

    async def find() -> str | None:
        searched.append("looked")
        return "ts-found"

    async with backend.registry() as reg:
        await reg.record_post_intent(f"{T}/plan3#0")  # a process died after posting, before recording
        once = ExactlyOnce(reg)
        assert await once.post(f"{T}/plan3#0", surface.send, find=find) == "ts-found"
        assert await once.post(f"{T}/plan3#0", surface.send, find=find) == "ts-found"
        assert surface.sent == [] and searched == ["looked"]
        assert await reg.post_record(f"{T}/plan3#0") == PostRecord("done", "ts-found")


async def test_after_an_intent_a_post_find_misses_is_sent(backend: Backend) -> None:
    surface = Surface()

    async def find() -> str | None:
        return None

    async with backend.registry() as reg:
        await reg.record_post_intent(f"{T}/ask2#0")
        assert await ExactlyOnce(reg).post(f"{T}/ask2#0", surface.send, find=find) == "ts-1"
        await reg.record_post_intent(f"{T}/ask3")
        assert await ExactlyOnce(reg).post(f"{T}/ask3", surface.send) == "ts-2"  # nothing to search: sent
        assert surface.sent == ["ts-1", "ts-2"]


async def test_concurrent_calls_for_one_key_send_once(backend: Backend) -> None:
    surface = Surface()
    async with backend.registry() as reg:
        once = ExactlyOnce(reg)
        refs = await asyncio.gather(*(once.post(f"{T}/progress4", surface.send) for _ in range(5)))
        assert refs == ["ts-1"] * 5 and surface.sent == ["ts-1"]
