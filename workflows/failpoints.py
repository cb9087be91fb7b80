"""Crash points for the crash tests: the process SIGKILLs itself at an exact
durable boundary.

`TRAVEL_PLANNER_FAILPOINT=after:tool_step:2` kills the process right after the
second tool step's result is journaled; `before:llm_step:3` right after the
third LLM step's promise exists but before it calls the LLM. A real kill of a
real process, at a point an external observer could not hit reliably. Off (a
dictionary lookup) unless the variable is set.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from resonate.context import Context

ENV_VAR = "TRAVEL_PLANNER_FAILPOINT"

_armed: tuple[str, int] | None = None
_counts: Counter[str] = Counter()
#: Step promise id -> step name, for the "after" points (process-local).
_running_steps: dict[str, str] = {}


def arm(spec: str | None) -> None:
    """Arm `<point>:<n>` (e.g. `after:llm_step:2`); None or "" disarms."""
    global _armed
    _counts.clear()
    if not spec:
        _armed = None
        return
    point, _, n = spec.rpartition(":")
    if not point or not n.isdigit():
        msg = f"{ENV_VAR} must look like 'after:llm_step:2', got {spec!r}"
        raise ValueError(msg)
    _armed = (point, int(n))


def armed() -> bool:
    return _armed is not None


def reached(point: str) -> None:
    if _armed is None or _armed[0] != point:
        return
    _counts[point] += 1
    if _counts[point] == _armed[1]:
        sys.stderr.write(f"failpoint {point}:{_armed[1]} reached: SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def on_settle_journaled(promise_id: str) -> None:
    """Called by the store once a promise's settle is on disk."""
    name = _running_steps.pop(promise_id, None)
    if name is not None:
        reached(f"after:{name}")


P = ParamSpec("P")
R = TypeVar("R")


def boundary(name: str) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """Mark a leaf step: `before:<name>` when it starts, `after:<name>` once stored."""

    def wrap(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(fn)
        async def step(ctx: Context, *args: Any, **kwargs: Any) -> R:
            if _armed is not None:
                _running_steps[ctx.info.id] = name
                reached(f"before:{name}")
            return await fn(ctx, *args, **kwargs)

        return step

    return wrap


arm(os.environ.get(ENV_VAR))
