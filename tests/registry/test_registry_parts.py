"""`ThreadRegistry` is the four port Protocols and the feedback book, and
nothing more, and each store class is that whole (the per-part contracts
test what each part does)."""

from __future__ import annotations

import inspect

import pytest

from tests.registry.records import assert_implements
from workflows.feedback import FeedbackBook
from workflows.ports import DeliveryMarks, Inbox, PostLedger, ThreadRegistry, TripDirectory
from workflows.registry import RedisThreadRegistry, SqliteThreadRegistry

PARTS = (TripDirectory, DeliveryMarks, Inbox, PostLedger, FeedbackBook)


def _methods(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol, inspect.isfunction) if not name.startswith("_")}


def test_the_parts_share_no_method_and_the_whole_adds_none() -> None:
    seen: set[str] = set()
    for part in PARTS:
        assert not (_methods(part) & seen), part.__name__
        seen |= _methods(part)
    assert _methods(ThreadRegistry) == seen
    assert len(seen) == 19


@pytest.mark.parametrize("cls", [SqliteThreadRegistry, RedisThreadRegistry])
def test_each_store_implements_the_whole_registry(cls: type) -> None:
    assert_implements(ThreadRegistry, cls, methods=19)
