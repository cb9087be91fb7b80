"""Which trip workflow versions this process runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from resonate.context import Context

type TripWorkflow = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class TripVersions:
    """Every trip workflow version still registered, and the one new work uses.

    A suspended segment resumes on the version it started with (the SDK stores
    it with the segment), so an old version stays registered until no trip
    waits on it; new trips and every successor segment start at `current`.
    See README, "Rolling out a new workflow version".
    """

    registered: Mapping[int, TripWorkflow]
    current: int
