"""Sample trips, replies and edits the registry contracts share, and the
check that a store class implements a port Protocol method by method."""

from __future__ import annotations

import inspect

from workflows.ports import Reply, TripRecord

T = "T1-C1-1700000000.000100"


def trip(trip_id: str = T, **overrides: object) -> TripRecord:
    data: dict[str, object] = {
        "trip_id": trip_id,
        "thread_key": f"thread:{trip_id}",
        "thread": {"team": "T1", "channel": "C1", "thread_ts": "1700000000.000100"},
        "starter": "U-ana",
        "request": "Lisbon in May, 4 people",
    }
    data.update(overrides)
    return TripRecord(**data)  # type: ignore[arg-type]


def reply(n: int, author: str = "ana", text: str | None = None) -> Reply:
    return Reply(
        key=f"C1:17000000{n:02d}.0001", author=author, text=text or f"answer {n}", ts=f"{n}"
    )



def edit(n: int, text: str, at: float, author: str = "ana") -> tuple[Reply, Reply]:
    """(revision, correction) of reply(n) edited at time `at`, as the Slack edge builds them."""
    original = reply(n, author)
    revision = Reply(original.key, author, text, ts=original.ts)
    correction = Reply(f"{original.key}:edited:{at}", author, f"{author} edited their answer: {text}", ts=f"{at}")
    return revision, correction



def assert_implements(protocol: type, cls: type, methods: int) -> None:
    """`cls` has every method of `protocol` (`methods` of them), async, with
    the Protocol's parameters first, in order."""
    members = {
        name: fn
        for name, fn in inspect.getmembers(protocol, inspect.isfunction)
        if not name.startswith("_")
    }
    assert len(members) == methods, sorted(members)
    for name, proto in members.items():
        impl = getattr(cls, name)
        assert inspect.iscoroutinefunction(impl), name
        want = list(inspect.signature(proto).parameters)
        got = list(inspect.signature(impl).parameters)
        assert got[: len(want)] == want, name
