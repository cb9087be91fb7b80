"""The `PostLedger` contract, run against both stores (SQLite, Redis)."""

from __future__ import annotations

import pytest

from tests.registry.conftest import Backend
from tests.registry.records import T, assert_implements
from workflows.ports import PostLedger, PostRecord
from workflows.registry import RedisThreadRegistry, SqliteThreadRegistry


@pytest.mark.parametrize("cls", [SqliteThreadRegistry, RedisThreadRegistry])
def test_implements_every_post_ledger_method_with_its_signature(cls: type) -> None:
    assert_implements(PostLedger, cls, methods=3)


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
