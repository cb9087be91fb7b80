"""The SDK's in-process server state machine, made fit to be journaled.

`resonate.connections.local.ServerState` is a deterministic function of
`(now, request)`. We keep it as the single source of truth and add only what a
crash-proof, long-lived store needs:

- a branch index, so `preload` costs O(branch) instead of O(every promise in
  the store) (the SDK scans all promises on every fenced step);
- operations of our own that are journaled like requests and are just as
  deterministic: `recover` (a dead process's leases), `prune` (finished
  trips), and `tick` only when something is due;
- a snapshot codec.

These lean on SDK internals; `resonate-sdk` is pinned exactly, and
tests/durable/test_sdk_conformance.py, tests/durable/test_sdk_patches.py (the
branch index and the fence answer, below) and tests/durable/test_replay_timers.py
fail loudly if an upgrade changes them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from resonate.connections.local import (
    extract_action_data,
    PENDING_RETRY_TTL,
    DurablePromise,
    PTimeout,
    ScheduleStub,
    ServerState,
    Task,
    TTimeout,
)

BRANCH_TAG = "resonate:branch"

#: Requests that change nothing unless they happen to auto-time-out a promise
#: (see `ServerState.apply`). They are journaled only when they would.
_READS_BY_PROMISE_FIELD = {
    "promise.get": "id",
    "promise.register_listener": "awaited",
}
_PURE_READS = {"schedule.get", "schedule.search", "promise.search"}


class BranchIndex(dict[str, DurablePromise]):
    """`ServerState.promises`, with an index from branch tag to promise ids."""

    def __init__(self) -> None:
        super().__init__()
        self.by_branch: dict[str, set[str]] = {}

    def __setitem__(self, key: str, value: DurablePromise) -> None:
        old = self.get(key)
        if old is not None:
            self._unindex(old)
        super().__setitem__(key, value)
        branch = value.tags.get(BRANCH_TAG)
        if branch is not None:
            self.by_branch.setdefault(branch, set()).add(key)

    def __delitem__(self, key: str) -> None:
        self._unindex(self[key])
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        if key in self:
            self._unindex(self[key])
        return super().pop(key, *default)

    def _unindex(self, promise: DurablePromise) -> None:
        branch = promise.tags.get(BRANCH_TAG)
        if branch is None:
            return
        ids = self.by_branch.get(branch)
        if ids is not None:
            ids.discard(promise.id)
            if not ids:
                del self.by_branch[branch]


class JournaledServerState(ServerState):
    """ServerState plus the operations a journaled store needs."""

    def __init__(self) -> None:
        super().__init__()
        self.promises = BranchIndex()
        self._answer_without_preload = False

    # -- cheaper preload (same result as the SDK's full scan) -----------------

    def preload(self, promise_id: str) -> list[dict[str, Any]]:
        if self._answer_without_preload:
            return []
        p = self.promises.get(promise_id)
        if p is None:
            return []
        branch = p.tags.get(BRANCH_TAG)
        if branch is None:
            return []
        ids = self.promises.by_branch.get(branch, ())  # type: ignore[attr-defined]
        return [self.promises[i].to_record() for i in sorted(ids) if i != promise_id]

    def task_fence(self, now: int, corr_id: Any, req: Any) -> dict[str, Any]:
        """As the SDK's, minus the branch preload in the answer.

        The executing task already received the whole branch when it acquired
        the task (and again on every redirect); sending it back with every
        fenced step made each step cost O(branch), each resume O(branch^2).
        Only the answer changes, never the state.
        """
        self._answer_without_preload = True
        try:
            return super().task_fence(now, corr_id, req)
        finally:
            self._answer_without_preload = False

    # -- what must be journaled ------------------------------------------------

    def mutates(self, now: int, req: Any) -> bool:
        """Whether applying `req` at `now` can change the state.

        Conservative: True unless the request is known to be a pure read at
        `now`. Replays re-create every existing promise (a round trip for each
        `ctx.promise`), so skipping those keeps the journal from growing with
        every resume.
        """
        kind = req.get("kind") if isinstance(req, dict) else None
        if kind in _PURE_READS:
            return False
        field = _READS_BY_PROMISE_FIELD.get(kind or "")
        if field is not None:
            return self._would_time_out(now, req.get(field))
        if kind == "promise.create":
            return req.get("id") not in self.promises or self._would_time_out(now, req.get("id"))
        if kind == "task.fence":
            return self._fence_mutates(now, req)
        return True

    def _would_time_out(self, now: int, promise_id: Any) -> bool:
        p = self.promises.get(str(promise_id or ""))
        return p is not None and p.state == "pending" and now >= p.timeout_at

    def _fence_mutates(self, now: int, req: dict[str, Any]) -> bool:
        action = req.get("action")
        if not isinstance(action, dict):
            return True
        data = extract_action_data(action)
        target = data.get("id") if isinstance(data, dict) else None
        if self._would_time_out(now, req.get("id")) or self._would_time_out(now, target):
            return True
        task = self.tasks.get(str(req.get("id", "")))
        if task is None or task.state != "acquired" or task.version != req.get("version", 0):
            return False  # refused with 404/409, nothing applied
        existing = self.promises.get(str(target or ""))
        if existing is None:
            return True
        if action.get("kind") == "promise.create":
            return False  # answers the existing promise
        if action.get("kind") == "promise.settle":
            return existing.state == "pending"
        return True

    def tick_is_due(self, now: int) -> bool:
        """Whether `tick(now)` would do anything at all."""
        for pt in self.p_timeouts:
            if now >= pt.timeout:
                p = self.promises.get(pt.id)
                if p is not None and p.state == "pending":
                    return True
        for tt in self.t_timeouts:
            if now >= tt.timeout:
                t = self.tasks.get(tt.id)
                if t is not None and (
                    (tt.typ == 1 and t.state == "acquired")
                    or (tt.typ == 0 and t.state == "pending")
                ):
                    return True
        return False

    # -- our own deterministic operations --------------------------------------

    def recover(self, now: int) -> None:
        """Take back every lease (their holder is dead) and re-dispatch work.

        Only one process owns a state directory (file lock), so at start-up
        every `acquired` task belongs to a process that no longer exists.
        """
        self.outgoing.clear()
        for task in self.tasks.values():
            if task.state == "acquired":
                task.state = "pending"
                task.version += 1
                task.pid = None
                task.ttl = None
                self.set_t_timeout(task.id, 0, now + PENDING_RETRY_TTL)
        for promise in self.promises.values():
            promise.subscribers.clear()  # addresses of the dead process
        for task in self.tasks.values():
            if task.state == "pending":
                p = self.promises.get(task.id)
                addr = p.tags.get("resonate:target") if p is not None else None
                if addr is not None:
                    self.send_execute_message(addr, task.id, task.version)

    def prune(self, trip_ids: list[str]) -> int:
        """Forget every promise and task of the given trips (a trip id is the
        lineage origin of its promises: every id starts with it)."""
        wanted = set(trip_ids)
        doomed = [pid for pid in self.promises if pid.split(":", 1)[0] in wanted]
        for pid in doomed:
            del self.promises[pid]
            self.tasks.pop(pid, None)
        gone = set(doomed)
        self.p_timeouts = [pt for pt in self.p_timeouts if pt.id not in gone]
        self.t_timeouts = [tt for tt in self.t_timeouts if tt.id not in gone]
        return len(doomed)

    def compactable(self) -> list[str]:
        """Finished workflows whose history can go: settled, task fulfilled.

        A fulfilled task never executes again, so nothing will replay its
        body: its steps and its arguments are dead weight. Its own promise
        (the result) stays, for whoever awaits or attaches to it.
        """
        history = self._histories(self._finished_workflows())
        return sorted(w for w, kids in history.items() if kids or self.promises[w].param)

    def compact(self, workflow_ids: list[str]) -> int:
        """Drop the history of finished workflows (see `compactable`)."""
        history = self._histories(set(workflow_ids) & self._finished_workflows())
        dropped = 0
        for wid, kids in history.items():
            for child in kids:
                del self.promises[child]
                self.tasks.pop(child, None)
            self.p_timeouts = [pt for pt in self.p_timeouts if pt.id not in kids]
            self.t_timeouts = [tt for tt in self.t_timeouts if tt.id not in kids]
            self.promises[wid].param = {}
            dropped += len(kids)
        return dropped

    def _finished_workflows(self) -> set[str]:
        finished = set()
        for task in self.tasks.values():
            p = self.promises.get(task.id)
            if (
                task.state == "fulfilled"
                and p is not None
                and p.state != "pending"
                and p.tags.get("resonate:timer") != "true"
            ):
                finished.add(task.id)
        return finished

    def _histories(self, workflows: set[str]) -> dict[str, set[str]]:
        """Each workflow's steps (its branch) and settled bare promises and timers."""
        history: dict[str, set[str]] = {w: set() for w in workflows}
        for p in self.promises.values():
            branch = p.tags.get("resonate:branch")
            parent = p.tags.get("resonate:parent")
            if branch in history and p.id != branch:
                history[branch].add(p.id)
            elif (
                parent in history
                and branch == p.id
                and p.state != "pending"
                and ("resonate:target" not in p.tags or p.tags.get("resonate:timer") == "true")
            ):
                history[parent].add(p.id)
        return history

    def finished_trips(self, settled_before: int) -> list[str]:
        """Trips with no pending promise whose last settle is old enough."""
        newest: dict[str, int] = {}
        busy: set[str] = set()
        for p in self.promises.values():
            trip_id = p.id.split(":", 1)[0]
            if p.state == "pending":
                busy.add(trip_id)
            else:
                newest[trip_id] = max(newest.get(trip_id, 0), p.settled_at or 0)
        return sorted(
            t for t, at in newest.items() if t not in busy and at < settled_before
        )

    # -- snapshots ---------------------------------------------------------------

    def to_snapshot(self) -> bytes:
        return msgspec.json.encode(
            _Snapshot(
                promises=dict(self.promises),
                tasks=self.tasks,
                schedules=self.schedules,
                p_timeouts=self.p_timeouts,
                t_timeouts=self.t_timeouts,
            )
        )

    @classmethod
    def from_snapshot(cls, data: bytes) -> JournaledServerState:
        snap = msgspec.json.decode(data, type=_Snapshot)
        state = cls()
        for pid, promise in snap.promises.items():
            state.promises[pid] = promise
        state.tasks = snap.tasks
        state.schedules = snap.schedules
        state.p_timeouts = snap.p_timeouts
        state.t_timeouts = snap.t_timeouts
        return state


class _Snapshot(msgspec.Struct):
    promises: dict[str, DurablePromise]
    tasks: dict[str, Task]
    schedules: dict[str, ScheduleStub]
    p_timeouts: list[PTimeout]
    t_timeouts: list[TTimeout]
