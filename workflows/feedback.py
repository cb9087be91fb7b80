"""People's 👍/👎 on each plan version: the book that keeps it, and who hears of it.

A vote is one per (trip, plan version, person): a second click by the same
person replaces theirs, and the same click again (a double click, Slack
retrying the request) changes nothing. `FeedbackBook` is kept by the thread
registry (SQLite or Redis, one contract: tests/registry/test_feedback_contract.py);
`FeedbackObserver` hears of every vote that changed something (the processes
wiring turns it into a `gen_ai.evaluation.result` event on the trip's trace).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

#: The two votes, as Slack's feedback buttons name them and as stored.
POSITIVE, NEGATIVE = "positive", "negative"
LABELS = (POSITIVE, NEGATIVE)


@dataclass(frozen=True, slots=True)
class Feedback:
    trip_id: str
    version: int  # the plan version voted on (1 = the first plan)
    user: str
    label: str  # POSITIVE or NEGATIVE


def check_feedback(feedback: Feedback) -> None:
    """Refuse what cannot be a vote, before it is stored."""
    if not feedback.trip_id or not feedback.user:
        raise ValueError("feedback needs a trip and a person")
    if isinstance(feedback.version, bool) or not isinstance(feedback.version, int) or feedback.version < 1:
        raise ValueError(f"feedback version must be a plan version (1 and up), got {feedback.version!r}")
    if feedback.label not in LABELS:
        raise ValueError(f"feedback label must be one of {LABELS}, got {feedback.label!r}")


class FeedbackBook(Protocol):
    """Votes per trip, plan version and person. Every operation is atomic."""

    async def record_feedback(self, feedback: Feedback) -> bool:
        """Store `feedback`, replacing that person's earlier vote on that
        version; True if anything changed (False: the same vote again)."""
        ...

    async def trip_feedback(self, trip_id: str) -> list[Feedback]:
        """Every vote on the trip's plans, by version then person."""
        ...


class FeedbackObserver(Protocol):
    """Told of each vote that changed something, after it is stored."""

    def feedback_recorded(self, feedback: Feedback) -> None: ...


def tally(votes: Iterable[Feedback]) -> tuple[int, int]:
    """(👍, 👎) over `votes`."""
    labels = [v.label for v in votes]
    return labels.count(POSITIVE), labels.count(NEGATIVE)


def tally_words(votes: Iterable[Feedback]) -> str:
    """"👍 2 👎 1", or "" when nobody voted."""
    up, down = tally(votes)
    return f"👍 {up} 👎 {down}" if up or down else ""


__all__ = [
    "LABELS",
    "NEGATIVE",
    "POSITIVE",
    "Feedback",
    "FeedbackBook",
    "FeedbackObserver",
    "check_feedback",
    "tally",
    "tally_words",
]
