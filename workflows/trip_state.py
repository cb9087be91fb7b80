"""What a trip carries from one segment to the next (see workflows/trip.py)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class TripState:
    """What a segment hands its successor; stored durably, so kept compact."""

    trip_id: str
    thread: dict[str, str]
    starter: str
    request: str
    today: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    turn: int = 0
    segment: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    budget_level: int = 0  # times people chose to continue past the budget
    finishing: bool = False  # people asked for the plan with what we have
    broken_plans: int = 0  # finish calls in a row whose plan was refused (v3: bounds the tries while finishing)
    last_question: str = ""
    expires_at: int = 0  # epoch ms the trip ends at if it is still open (v2; 0: not known yet)
    votes: list[dict[str, Any]] = field(default_factory=list)  # open team votes (workflows/votes.OpenVote)
    started_at_ms: int = 0  # wall time this segment was started, for its trace span only (0: unknown)
    # Changes after the plan (v3, workflows/plan_revisions.py):
    plan_version: int = 0  # plans posted so far (the latest is "Plan v{plan_version}")
    plan: str = ""  # the latest plan's text, shown to the planner with every change
    plan_key: str = ""  # the latest plan post's key (the root message links to it)
    awaiting_changes: bool = False  # this segment starts by waiting for a change (lifetime timer only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TripState:
        known = set(cls.__slots__)  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})


def new_trip_state(
    trip_id: str, thread: dict[str, str], starter: str, request: str, today: str
) -> dict[str, Any]:
    state = TripState(trip_id, dict(thread), starter, request.strip(), today)
    state.started_at_ms = time.time_ns() // 1_000_000
    return state.to_dict()
