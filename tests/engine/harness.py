"""Run the real engine in-process, against loopback fakes, with a chat port
that records what a trip said and lets a test answer it.

Waits are conditions with generous deadlines (`DEADLINE`): a loaded machine
gets time, a fast one goes on as soon as the condition holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workflows.exactly_once import ExactlyOnce
from workflows.ports import PostLedger, Reply, ThreadRef, ThreadRegistry, TripRecord
from workflows.posts import Plan
from workflows.runtime import Runtime, open_embedded, research_collaborators
from workflows.trip import TRIP_VERSIONS
from workflows.versions import TripVersions
from workflows.votes import VoteView

from testing.clock import ManualClock
from testing.waiting import until as wait_on_loop

#: Deadline for anything the planner does on its own.
DEADLINE = 60.0


@dataclass
class Post:
    kind: str
    text: str
    key: str


@dataclass
class RecordingChat:
    """ChatPort that records posts (exactly once per key, like the real ones)."""

    ledger: PostLedger
    posts: list[Post] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    footers: list[str] = field(default_factory=list)
    itineraries: list[dict[str, Any] | None] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Each vote's renderings, by its key: posted, then rewritten in place.
    votes: dict[str, list[VoteView]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._once = ExactlyOnce(self.ledger)

    async def _post(self, kind: str, text: str, key: str) -> None:
        async def send() -> str:
            self.posts.append(Post(kind, text, key))
            return str(len(self.posts))

        await self._once.post(key, send)
        self.changed.set()

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        await self._post("ask", question, key)
        self.choices[key] = tuple(choices)

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._post("progress", text, key)

    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None:
        for post in self.posts:
            if post.key == key:
                post.text = text  # in place, like chat.update
        self.changed.set()

    async def final_plan(self, thread: ThreadRef, plan: Plan, *, key: str) -> None:
        await self._post("plan", plan.plan, key)
        self.footers.append(plan.footer)
        self.itineraries.append(plan.itinerary)

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        self.states.append((state, plan_key))
        self.changed.set()

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._post("notice", text, key)

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        self.statuses.append(status)

    async def vote(self, thread: ThreadRef, view: VoteView, *, key: str) -> None:
        await self._post("vote", view.question, key)  # once; later renderings rewrite it in place
        self.votes.setdefault(key, []).append(view)
        self.changed.set()

    def of(self, kind: str) -> list[str]:
        return [p.text for p in self.posts if p.kind == kind]


@dataclass
class Planner:
    runtime: Runtime
    chat: RecordingChat

    async def start(self, trip_id: str, request: str, starter: str = "ana") -> None:
        await self.runtime.engine.start_trip(
            TripRecord(trip_id=trip_id, thread_key=f"test:{trip_id}", thread={"surface": "test"},
                       starter=starter, request=request)
        )

    async def reply(self, trip_id: str, text: str, author: str = "ana", key: str | None = None) -> bool:
        key = key or f"{author}:{len(self.chat.posts)}:{text}"
        return await self.runtime.engine.deliver_reply(trip_id, Reply(key=key, author=author, text=text))

    async def wait_for(self, kind: str, count: int, timeout: float = DEADLINE) -> list[str]:
        async def until() -> list[str]:
            while len(self.chat.of(kind)) < count:
                self.chat.changed.clear()
                await self.chat.changed.wait()
            return self.chat.of(kind)

        return await asyncio.wait_for(until(), timeout)

    async def outcome(self, trip_id: str, timeout: float = DEADLINE) -> dict[str, Any]:
        return await asyncio.wait_for(self.runtime.engine.outcome(trip_id), timeout)

    def settled_on_a_timer(self, timers: int = 1) -> bool:
        """The trip sleeps: its workflow is suspended and `timers` durable timers run
        (two while a vote is open: the quiet phase's and the vote's)."""
        return sleeps_on_timers(self.runtime, timers)

    def caught_up(self, clock: ManualClock, timers: int = 1) -> bool:
        """Nothing is due at `clock`'s time and the trip sleeps on its timer:
        after moving the clock, what that time brings has happened."""
        assert self.runtime.connection is not None
        due = self.runtime.connection.state.tick_is_due(int(clock() * 1000))
        return not due and self.settled_on_a_timer(timers)


def sleeps_on_timers(runtime: Runtime, count: int = 1) -> bool:
    """The embedded store's trip is suspended on `count` pending durable timers
    (move a manual clock only then: a step running while it jumps loses its lease)."""
    assert runtime.connection is not None
    state = runtime.connection.state
    timers = [x for x in state.promises.values() if x.tags.get("resonate:timer") == "true"]
    timer_ids = {x.id for x in timers}
    workflows = [t for t in state.tasks.values() if t.id not in timer_ids and t.state != "fulfilled"]
    pending = [x for x in timers if x.state == "pending"]
    return len(pending) == count and bool(workflows) and all(t.state == "suspended" for t in workflows)


async def until(predicate: Callable[[], Any], timeout: float = DEADLINE) -> None:
    """Wait, on the event loop, until `predicate()` holds."""
    await wait_on_loop(predicate, timeout)


@contextlib.asynccontextmanager
async def planner(
    env: dict[str, str],
    versions: TripVersions = TRIP_VERSIONS,
    clock: ManualClock | None = None,
    registry: ThreadRegistry | None = None,
    chat: type[RecordingChat] = RecordingChat,
) -> AsyncIterator[Planner]:
    chats: list[RecordingChat] = []

    def make_chat(ledger: PostLedger) -> RecordingChat:
        chats.append(chat(ledger))
        return chats[-1]

    parts = research_collaborators(env, make_chat)
    parts.versions = versions
    if clock is None:
        runtime = await open_embedded(env, parts, registry=registry)
    else:
        runtime = await open_embedded(env, parts, clock=clock, tick_seconds=0.02, registry=registry)
    try:
        yield Planner(runtime, chats[0])
    finally:
        await runtime.close()
