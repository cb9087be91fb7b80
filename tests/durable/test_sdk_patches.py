"""Guards on the two places workflows/durable/server_state.py patches the SDK.

1. `BranchIndex` replaces `ServerState.promises` (a dict) and keeps a branch
   -> ids index current by overriding `__setitem__`, `__delitem__` and
   `pop`. It silently goes stale if the SDK ever changes the promises through
   any other way (`update`, `setdefault`, `popitem`, `clear`, `|=`, a new
   dict assigned over it) or edits a stored promise's tags in place: then
   `preload` sends an executing task a branch with promises missing, and the
   trip replays into the wrong state.
2. `JournaledServerState.task_fence` answers a fenced step without the
   branch by making `preload` return [] while the SDK's `task_fence` runs. That
   assumes the SDK builds the fence answer by calling `self.preload` (if it
   inlined the scan, every step would cost O(branch) again, silently), and
   that acquiring a task still sends the whole branch (else the executing
   task would lack it).

Every check here runs against the installed resonate-sdk: the source of its
state machine (read with `ast`) and real requests applied to it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import pytest
from resonate.connections import local as sdk_local
from resonate.connections.local import ServerState
from resonate.error import ServerError

from workflows.durable.server_state import BRANCH_TAG, BranchIndex, JournaledServerState

#: Every way a dict can be changed in place, by method name.
DICT_MUTATORS = frozenset({"__setitem__", "__delitem__", "pop", "popitem", "setdefault", "update", "clear", "__ior__"})
#: The ones BranchIndex keeps its index through.
WRAPPED = frozenset({"__setitem__", "__delitem__", "pop"})
#: Methods of a dict that only read.
DICT_READS = frozenset({"get", "values", "items", "keys", "copy", "__contains__", "__iter__", "__len__"})


# -- the SDK's own source ------------------------------------------------------


def _sdk_tree() -> ast.Module:
    return ast.parse(textwrap.dedent(inspect.getsource(sdk_local)))


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node.name
    return "<module>"


def _targets(assignment: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return assignment.targets if isinstance(assignment, ast.Assign) else [assignment.target]


def promises_usage(tree: ast.Module) -> tuple[set[str], list[str]]:
    """How the code in `tree` touches any `<x>.promises`: the dict methods it
    uses (subscript store/del count as `__setitem__`/`__delitem__`), and the
    uses this scan cannot vouch for (each as "function: line: code")."""
    parents = _parents(tree)
    used: set[str] = set()
    unknown: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr == "promises"):
            continue
        parent = parents[node]
        where = f"{_enclosing_function(node, parents)}: {node.lineno}: {ast.unparse(parent)}"
        if isinstance(parent, ast.Subscript) and parent.value is node:
            used.add({ast.Load: "__getitem__", ast.Store: "__setitem__", ast.Del: "__delitem__"}[type(parent.ctx)])
        elif isinstance(parent, ast.Attribute) and parent.value is node:
            if parent.attr in DICT_READS | DICT_MUTATORS and isinstance(parents[parent], ast.Call):
                used.add(parent.attr)
            else:
                unknown.append(where)
        elif isinstance(parent, ast.Compare) and node in parent.comparators:
            used.add("__contains__")
        elif isinstance(parent, ast.For | ast.comprehension) and parent.iter is node:
            used.add("__iter__")
        elif isinstance(parent, ast.Call) and node in parent.args and getattr(parent.func, "id", "") in {"len", "list", "sorted", "dict"}:
            used.add("__len__" if parent.func.id == "len" else "__iter__")  # type: ignore[attr-defined]
        elif isinstance(parent, ast.Assign | ast.AnnAssign) and node in _targets(parent):
            if _enclosing_function(node, parents) != "__init__":
                unknown.append(where)  # a new dict over the index
        else:
            unknown.append(where)  # passed somewhere, augmented (|=), ...
    return used, unknown


def tag_edits(tree: ast.Module) -> list[str]:
    """Places that change a promise's tags in place (the index reads them once)."""
    parents = _parents(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr == "tags"):
            continue
        parent = parents[node]
        stored = isinstance(node.ctx, ast.Store | ast.Del)
        item_stored = isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store | ast.Del)
        mutated = (
            isinstance(parent, ast.Attribute)
            and parent.attr in DICT_MUTATORS
            and isinstance(parents[parent], ast.Call)
        )
        if (stored and _enclosing_function(node, parents) != "__init__") or item_stored or mutated:
            found.append(f"{_enclosing_function(node, parents)}: {node.lineno}: {ast.unparse(parent)}")
    return found


def test_the_sdk_changes_promises_only_through_the_methods_the_branch_index_wraps() -> None:
    used, unknown = promises_usage(_sdk_tree())
    assert unknown == [], f"resonate-sdk touches promises in a way BranchIndex may miss: {unknown}"
    assert used & DICT_MUTATORS <= WRAPPED, f"unwrapped mutators in use: {sorted(used & DICT_MUTATORS - WRAPPED)}"
    assert "__setitem__" in used and "get" in used  # the scan sees the SDK's real traffic


def test_the_sdk_never_edits_a_stored_promises_tags() -> None:
    assert tag_edits(_sdk_tree()) == []


def test_the_branch_index_overrides_exactly_the_mutators_it_relies_on() -> None:
    overridden = set(vars(BranchIndex)) & DICT_MUTATORS
    assert overridden == WRAPPED
    assert isinstance(JournaledServerState().promises, BranchIndex)
    assert type(ServerState().promises) is dict  # what the SDK builds, and what we swap out


@pytest.mark.parametrize(
    ("snippet", "caught"),
    [
        ("def f(self):\n    self.promises.update({'a': p})", "update"),
        ("def f(self):\n    self.promises.setdefault('a', p)", "setdefault"),
        ("def f(self):\n    self.promises.clear()", "clear"),
        ("def f(self):\n    self.promises.popitem()", "popitem"),
        ("def f(self):\n    self.promises = {}", "assign"),
        ("def f(self):\n    self.promises |= other", "augment"),
        ("def f(self):\n    merge(self.promises, other)", "passed"),
        ("def f(self, p):\n    p.tags['resonate:branch'] = 'x'", "tags"),
    ],
)
def test_the_scan_catches_a_mutation_through_any_other_way(snippet: str, caught: str) -> None:
    """The source checks above must see each way around the wrappers."""
    tree = ast.parse(snippet)
    used, unknown = promises_usage(tree)
    if caught == "tags":
        assert tag_edits(tree) != []
    elif caught in ("assign", "augment", "passed"):
        assert unknown != []
    else:
        assert caught in used and caught not in WRAPPED


# -- the index against real SDK traffic ----------------------------------------


def rebuilt_index(promises: dict[str, Any]) -> dict[str, set[str]]:
    """The branch index as it should be, recomputed from the promises themselves."""
    index: dict[str, set[str]] = {}
    for pid, promise in promises.items():
        branch = promise.tags.get(BRANCH_TAG)
        if branch is not None:
            index.setdefault(branch, set()).add(pid)
    return index


def _create(state: ServerState, now: int, pid: str, tags: dict[str, str]) -> dict[str, Any]:
    return state.apply(now, {"kind": "promise.create", "id": pid, "timeoutAt": 10**12, "tags": tags})


def _workflow(state: ServerState, root: str) -> None:
    """A root task with fenced steps (created, settled), a timer that times out
    and a bare promise: the SDK's own paths for a trip's history."""
    target = {"resonate:target": "local://any@default", BRANCH_TAG: root}
    state.apply(0, {"kind": "task.create", "pid": "p", "ttl": 60_000, "action": {"kind": "promise.create", "data": {
        "id": root, "timeoutAt": 10**12, "tags": target}}})
    for i in range(1, 4):
        step = {"id": f"{root}:{i}", "timeoutAt": 10**12, "tags": {BRANCH_TAG: root, "resonate:parent": root}}
        state.apply(1, {"kind": "task.fence", "id": root, "version": 0, "action": {"kind": "promise.create", "data": step}})
        state.apply(2, {"kind": "task.fence", "id": root, "version": 0, "action": {"kind": "promise.settle", "data": {
            "id": f"{root}:{i}", "state": "resolved", "value": {"data": "MQ=="}}}})
    timer = {"resonate:timer": "true", "resonate:target": "local://any@default", BRANCH_TAG: f"{root}:t"}
    state.apply(3, {"kind": "promise.create", "id": f"{root}:t", "timeoutAt": 5, "tags": timer})
    _create(state, 3, f"{root}:reply", {BRANCH_TAG: f"{root}:reply", "resonate:parent": root})
    state.tick(10)  # the timer fires through the SDK's tick


def test_the_index_stays_true_through_sdk_requests_prune_compact_and_snapshots() -> None:
    ours = JournaledServerState()
    for root in ("a", "b", "c"):
        _workflow(ours, root)
    assert ours.promises.by_branch == rebuilt_index(ours.promises)
    theirs = ServerState()
    for root in ("a", "b", "c"):
        _workflow(theirs, root)
    for pid in theirs.promises:  # the cheap preload answers what the SDK's full scan does
        assert ours.preload(pid) == sorted(ServerState.preload(theirs, pid), key=lambda r: r["id"])

    ours.prune(["b"])
    assert ours.promises.by_branch == rebuilt_index(ours.promises)
    ours.apply(20, {"kind": "task.fulfill", "id": "a", "version": 0, "action": {"kind": "promise.settle", "data": {
        "id": "a", "state": "resolved", "value": {"data": "ZG9uZQ=="}}}})
    assert ours.compact(ours.compactable()) > 0
    assert ours.promises.by_branch == rebuilt_index(ours.promises)
    ours.promises.pop("c:reply")
    assert ours.promises.by_branch == rebuilt_index(ours.promises)
    again = JournaledServerState.from_snapshot(ours.to_snapshot())
    assert again.promises.by_branch == rebuilt_index(again.promises) == ours.promises.by_branch


def test_a_mutation_around_the_wrappers_is_detected() -> None:
    """What the checks above guard against, shown: a change through a dict
    method BranchIndex does not wrap leaves the index (and preload) wrong."""
    state = JournaledServerState()
    _workflow(state, "a")
    stray = ServerState()
    _create(stray, 0, "a:stray", {BRANCH_TAG: "a"})
    dict.update(state.promises, stray.promises)  # the way an SDK upgrade might
    assert state.promises.by_branch != rebuilt_index(state.promises)
    assert "a:stray" not in {r["id"] for r in state.preload("a")}


# -- the fence answer ----------------------------------------------------------


def _fence_step(state: ServerState, root: str, i: int) -> dict[str, Any]:
    step = {"id": f"{root}:{i}", "timeoutAt": 10**12, "tags": {BRANCH_TAG: root, "resonate:parent": root}}
    return state.apply(1, {"kind": "task.fence", "id": root, "version": 0, "action": {
        "kind": "promise.create", "data": step}})


def _records(state: ServerState) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {pid: p.to_record() for pid, p in state.promises.items()},
        {tid: t.to_record() for tid, t in state.tasks.items()},
    )


def test_a_fenced_step_answers_without_the_branch_and_changes_the_state_like_the_sdk() -> None:
    ours, theirs = JournaledServerState(), ServerState()
    for state in (ours, theirs):
        _workflow(state, "w")
    for i in range(4, 7):
        mine, sdk = _fence_step(ours, "w", i), _fence_step(theirs, "w", i)
        assert sdk["preload"], "the SDK's fence answer no longer carries the branch: drop our override"
        assert mine["preload"] == []
        assert {k: v for k, v in mine.items() if k != "preload"} == {k: v for k, v in sdk.items() if k != "preload"}
        assert _records(ours) == _records(theirs)


class _BranchFromPreload(ServerState):
    """The SDK's state machine with a `preload` whose answer is recognisable."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def preload(self, promise_id: str) -> list[dict[str, Any]]:
        self.asked.append(promise_id)
        return [{"id": "from-preload"}]


def test_the_sdk_fence_takes_its_answer_from_the_preload_method() -> None:
    """Our override only works if the SDK's task_fence calls `self.preload`."""
    state = _BranchFromPreload()
    _workflow(state, "w")
    state.asked.clear()
    answer = _fence_step(state, "w", 9)
    assert answer["preload"] == [{"id": "from-preload"}]
    assert state.asked == ["w"]


def test_acquiring_a_task_still_sends_the_whole_branch() -> None:
    """The executing task gets the branch when it acquires the task: the
    reason a fence answer may leave it out."""
    ours, theirs = JournaledServerState(), ServerState()
    for state in (ours, theirs):
        _workflow(state, "w")
        state.apply(20, {"kind": "task.release", "id": "w", "version": 0})
    mine = ours.apply(21, {"kind": "task.acquire", "id": "w", "version": 0, "pid": "p2", "ttl": 60_000})
    sdk = theirs.apply(21, {"kind": "task.acquire", "id": "w", "version": 0, "pid": "p2", "ttl": 60_000})
    assert sdk["status"] == 200 and len(sdk["preload"]) == 3
    assert mine["preload"] == sorted(sdk["preload"], key=lambda r: r["id"])


def test_a_fence_that_fails_leaves_preload_answering_again() -> None:
    state = JournaledServerState()
    _workflow(state, "w")
    with pytest.raises(ServerError):
        state.apply(1, {"kind": "task.fence", "id": "w", "version": 0, "action": {"kind": "promise.nonsense", "data": {}}})
    assert len(state.preload("w")) == 3
