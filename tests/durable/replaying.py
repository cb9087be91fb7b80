"""Comparing the embedded store's live state with a replay of its journal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from testing.waiting import until as wait_on_loop
from workflows.durable.journal import DurableJournal, LoadedState
from workflows.durable.server_state import JournaledServerState
from workflows.durable.state_dir import StateDir


def comparable(state: JournaledServerState) -> dict[str, Any]:
    """Everything the store holds, minus what is process-local by design."""
    data = msgspec.json.decode(state.to_snapshot())
    for p in data["promises"].values():
        p["subscribers"] = []  # listener addresses of a live process are not journaled
    return data


def replay(state_dir: Path) -> tuple[LoadedState, Counter[str]]:
    """Load the state database as start-up does; and the ops it replayed."""
    sd = StateDir(state_dir)
    try:
        journal = DurableJournal(sd.db)
        loaded = journal.load()
        ops = Counter(
            op for (op,) in sd.db.execute(
                "SELECT op FROM durable_journal WHERE seq > "
                "(SELECT COALESCE(MAX(seq), 0) FROM durable_snapshot)"
            )
        )
    finally:
        sd.close()
    return loaded, ops


def assert_same_state(live: dict[str, Any], replayed: dict[str, Any]) -> None:
    """Exact equality, with a first line that says what diverged."""
    if live == replayed:
        return
    lines = []
    for kind in ("promises", "tasks"):
        for key in sorted(set(live[kind]) | set(replayed[kind])):
            a, b = live[kind].get(key), replayed[kind].get(key)
            if a != b:
                lines.append(f"{kind[:-1]} {key}: {_difference(a, b)}")
    for key in ("schedules", "p_timeouts", "t_timeouts"):
        if live[key] != replayed[key]:
            lines.append(f"{key}: live {live[key]}, replayed {replayed[key]}")
    raise AssertionError("the replayed journal does not rebuild the live state:\n  " + "\n  ".join(lines))


def _difference(live: dict[str, Any] | None, replayed: dict[str, Any] | None) -> str:
    if live is None or replayed is None:
        return "live only" if replayed is None else "replayed only"
    return ", ".join(
        f"{field} live {str(live[field])[:60]} replayed {str(replayed.get(field))[:60]}"
        for field in live if live[field] != replayed.get(field)
    )


async def until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Inside the event loop: the first truthy `predicate()`, or fail after `timeout` s."""
    return await wait_on_loop(predicate, timeout, what or str(predicate))
