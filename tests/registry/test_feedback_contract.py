"""The `FeedbackBook` contract (votes on plan versions), run against both stores."""

from __future__ import annotations

import pytest

from tests.registry.conftest import Backend
from tests.registry.records import assert_implements, trip
from workflows.feedback import Feedback, FeedbackBook, tally_words
from workflows.registry import RedisThreadRegistry, SqliteThreadRegistry


@pytest.mark.parametrize("cls", [SqliteThreadRegistry, RedisThreadRegistry])
def test_implements_every_feedback_book_method_with_its_signature(cls: type) -> None:
    assert_implements(FeedbackBook, cls, methods=2)


async def test_one_vote_per_person_and_version_and_a_second_click_replaces_it(backend: Backend) -> None:
    async with backend.registry() as reg:
        assert await reg.record_feedback(Feedback("T1", 1, "U1", "positive")) is True
        assert await reg.record_feedback(Feedback("T1", 1, "U1", "positive")) is False  # the same click again
        assert await reg.record_feedback(Feedback("T1", 1, "U2", "negative")) is True
        assert await reg.record_feedback(Feedback("T1", 2, "U1", "negative")) is True  # another version
        assert await reg.record_feedback(Feedback("T1", 1, "U2", "positive")) is True  # changed their mind
        assert await reg.record_feedback(Feedback("T2", 1, "U1", "negative")) is True  # another trip
        votes = await reg.trip_feedback("T1")
    assert votes == [
        Feedback("T1", 1, "U1", "positive"),
        Feedback("T1", 1, "U2", "positive"),
        Feedback("T1", 2, "U1", "negative"),
    ]
    assert tally_words(v for v in votes if v.version == 1) == "👍 2 👎 0"
    assert tally_words([]) == ""


@pytest.mark.parametrize(
    "bad",
    [
        Feedback("T1", 0, "U1", "positive"),
        Feedback("T1", 1, "U1", "meh"),
        Feedback("T1", 1, "", "positive"),
        Feedback("", 1, "U1", "positive"),
    ],
)
async def test_what_cannot_be_a_vote_is_refused_and_nothing_is_stored(backend: Backend, bad: Feedback) -> None:
    async with backend.registry() as reg:
        with pytest.raises(ValueError, match="feedback"):
            await reg.record_feedback(bad)
        assert await reg.trip_feedback(bad.trip_id or "T1") == []


async def test_forgetting_a_trip_drops_its_votes(backend: Backend) -> None:
    async with backend.registry() as reg:
        await reg.register_trip(trip("T1"))
        await reg.record_feedback(Feedback("T1", 1, "U1", "positive"))
        await reg.record_feedback(Feedback("T10", 1, "U1", "positive"))
        await reg.forget_trip("T1")
        assert await reg.trip_feedback("T1") == []
        assert len(await reg.trip_feedback("T10")) == 1
