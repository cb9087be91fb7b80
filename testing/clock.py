"""`ManualClock`: wall time that moves only when a test says so.

Injected wherever the product takes a clock (the engine's timers, the
registry's timestamps and expiries), it makes time-dependent behaviour
deterministic: nothing expires or comes due until the test advances it."""

from __future__ import annotations

import time


class ManualClock:
    """Seconds since the epoch, from `start` (default: now), moved by `advance`."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, hours: float = 0.0, seconds: float = 0.0) -> None:
        self.now += hours * 3600 + seconds


__all__ = ["ManualClock"]
