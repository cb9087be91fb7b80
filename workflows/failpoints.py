"""Crash points for the crash tests: the process SIGKILLs itself at an exact
durable boundary.

`TRAVEL_PLANNER_FAILPOINT=after:tool_step:2` kills the process right after the
second tool step's result is journaled; `before:llm_step:3` right after the
third LLM step's promise exists but before it calls the LLM; `after:chat_ask:2`
right after the chat port posted the second question, before its step records
the trip's new state (every post kind has one: `chat_plan`, `chat_notice`,
`chat_progress`, ...). A real kill of a real process, at a point an external
observer could not hit reliably. Off (a dictionary lookup) unless the variable
is set.

A trailing `:pause=SECONDS` pauses there instead of dying:
`after:handover:1:pause=2.0` holds the first hand-over for 2 s (stderr says
"failpoint after:handover:1 reached: pause 2 s" and, after, "... resumed"),
so a test can act inside that window. Async call sites (`reached_async`: the
step boundaries `before:<step>`, the hand-over, `after:chat_<kind>`) sleep
without blocking the event loop; sync ones (`reached`: `after:<step>`,
`after:slack_post`) block.

One call of a step can carry a name of its own, for a kill aimed at it:
`ctx.run(POST_STEP, ..., failpoint="reminder_post")` is also
`before:reminder_post` / `after:reminder_post` (and still `before:post_step`).

Several processes of one deployment (`web` + `worker`s) can share one armed
point: `TRAVEL_PLANNER_FAILPOINT_FILE=PATH` names a file holding
`<point>:<n>` (written with `arm_file`). Every process that has the variable
counts the point's visits together, under a lock on the file, so whichever
process makes the n-th visit dies there, and the file then says `fired
<point>:<n> <pid>`: the deployment dies once, and the process that takes the
work over is disarmed. A harness re-arms the file for the next kill.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import inspect
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from resonate.context import Context

ENV_VAR = "TRAVEL_PLANNER_FAILPOINT"
FILE_ENV_VAR = "TRAVEL_PLANNER_FAILPOINT_FILE"

_armed: tuple[str, int] | None = None
#: Seconds to pause at the armed point; 0 means SIGKILL.
_pause: float = 0.0
_counts: Counter[str] = Counter()
#: Step promise id -> its point names, for the "after" points (process-local).
_running_steps: dict[str, tuple[str, ...]] = {}
#: The file a deployment's processes share their armed point through (or None).
_shared: Path | None = None


def arm(spec: str | None) -> None:
    """Arm `<point>:<n>[:pause=SECONDS]` (e.g. `after:llm_step:2`); None or "" disarms."""
    global _armed, _pause
    _counts.clear()
    _pause = 0.0
    if not spec:
        _armed = None
        return
    head, _, action = spec.rpartition(":")
    pause = 0.0
    if action.startswith("pause="):
        try:
            pause = float(action.removeprefix("pause="))
        except ValueError:
            pause = -1.0
        if not pause > 0:
            msg = f"{ENV_VAR}: pause must be a number of seconds > 0, got {spec!r}"
            raise ValueError(msg)
        spec = head
    point, _, n = spec.rpartition(":")
    if not point or not n.isdigit():
        msg = f"{ENV_VAR} must look like 'after:llm_step:2' or 'after:handover:1:pause=2.0', got {spec!r}"
        raise ValueError(msg)
    _armed = (point, int(n))
    _pause = pause


def share(path: str | None) -> None:
    """Count visits through the file at `path` (see `arm_file`); None or "" stops."""
    global _shared
    _shared = Path(path) if path else None


def arm_file(path: Path, spec: str | None) -> None:
    """Arm every process sharing `path` with `<point>:<n>` (None: disarm them)."""
    if spec:
        point, _, n = spec.rpartition(":")
        if not point or not n.isdigit() or int(n) < 1:
            msg = f"a shared failpoint must look like 'after:llm_step:2', got {spec!r}"
            raise ValueError(msg)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"{spec} 0" if spec else "")


def read_file(path: Path) -> str:
    """What the shared file says: `<point>:<n> <visits>`, `fired <point>:<n> <pid>`, or ""."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def armed() -> bool:
    return _armed is not None or _shared is not None


def _hit(point: str) -> float:
    """Count a visit of `point`: SIGKILL, or the seconds to pause (0: go on)."""
    if _shared is not None:
        _hit_shared(_shared, point)
        return 0.0
    if _armed is None or _armed[0] != point:
        return 0.0
    _counts[point] += 1
    if _counts[point] != _armed[1]:
        return 0.0
    if not _pause:
        sys.stderr.write(f"failpoint {point}:{_armed[1]} reached: SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stderr.write(f"failpoint {point}:{_armed[1]} reached: pause {_pause:g} s\n")
    sys.stderr.flush()
    return _pause


def _hit_shared(path: Path, point: str) -> None:
    """A visit counted in the shared file; the n-th one SIGKILLs this process."""
    if read_file(path).split(" ")[0].rpartition(":")[0] != point:
        return  # the common case, without a lock
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released by the kernel when this process dies
        parts = f.read().split()
        if len(parts) != 2 or parts[0].rpartition(":")[0] != point:
            return  # another process fired it, or the harness re-armed it
        spec, visits = parts[0], int(parts[1]) + 1
        fire = visits >= int(spec.rpartition(":")[2])
        f.seek(0)
        f.truncate()
        f.write(f"fired {spec} {os.getpid()}" if fire else f"{spec} {visits}")
        f.flush()
        if fire:
            sys.stderr.write(f"failpoint {spec} reached (shared): SIGKILL\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)


def _resumed(point: str) -> None:
    sys.stderr.write(f"failpoint {point}:{_armed[1] if _armed else '?'} resumed\n")
    sys.stderr.flush()


def reached(point: str) -> None:
    """A sync crash point (a pause here blocks the calling thread)."""
    delay = _hit(point)
    if delay:
        time.sleep(delay)
        _resumed(point)


async def reached_async(point: str) -> None:
    """An async crash point: a pause sleeps without blocking the event loop."""
    delay = _hit(point)
    if delay:
        await asyncio.sleep(delay)
        _resumed(point)


def on_settle_journaled(promise_id: str) -> None:
    """Called by the store once a promise's settle is on disk."""
    for name in _running_steps.pop(promise_id, ()):
        reached(f"after:{name}")


P = ParamSpec("P")
R = TypeVar("R")


def boundary(name: str) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """Mark a leaf step: `before:<name>` when it starts, `after:<name>` once stored.

    The step also takes a keyword `failpoint`: a name of its own for this call
    (not passed on to the step; arguments of a step are not stored)."""

    def wrap(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(fn)
        async def step(ctx: Context, *args: Any, failpoint: str = "", **kwargs: Any) -> R:
            if _armed is not None or _shared is not None:
                names = (name, failpoint) if failpoint else (name,)
                _running_steps[ctx.info.id] = names
                for point in names:
                    await reached_async(f"before:{point}")
            return await fn(ctx, *args, **kwargs)

        # The SDK checks calls against the signature it sees: the step's own, plus `failpoint`.
        signature = inspect.signature(fn)
        extra = inspect.Parameter("failpoint", inspect.Parameter.KEYWORD_ONLY, default="", annotation="str")
        params = list(signature.parameters.values())
        at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
        step.__signature__ = signature.replace(parameters=[*params[:at], extra, *params[at:]])  # type: ignore[attr-defined]
        return step

    return wrap


arm(os.environ.get(ENV_VAR))
share(os.environ.get(FILE_ENV_VAR))
