"""What the durable core needs from the outside world, as small Protocols.

`workflows/` never imports Slack. The Slack edge (`bot/`) and the terminal mode
implement these ports; tests implement them with loopback fakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workflows.posts import Plan
    from workflows.votes import VoteView

from workflows.feedback import FeedbackBook

#: Where a trip talks to its people. Opaque to the workflow; the chat port that
#: created it knows how to read it (Slack: team, channel, thread_ts).
type ThreadRef = Mapping[str, str]


#: What a person can ask of a trip besides answering it; "stop" comes from
#: the surface itself (the app was removed: the trip ends and tells nobody).
CONTROLS = ("cancel", "finish", "continue", "stop", "close")
#: The controls that stop an LLM call before it is made (the trip acts on them first).
INTERRUPTS = frozenset(CONTROLS) - {"continue"}
#: States of a trip that is still steered by its people (it waits or works).
RUNNING_STATES = frozenset({"active", "waiting", "parked"})


@dataclass(frozen=True, slots=True)
class Reply:
    """One message from a person, as the planner will see it.

    `kind` is "message" for an answer, or a control from `CONTROLS` (a button
    or `@bot cancel`): controls travel through the same durable inbox, so they
    are deduplicated, ordered and never lost like answers.
    """

    key: str  # dedupe key, unique per trip: Slack "channel:ts", terminal "tty:ns"
    author: str  # who wrote it, as the LLM should see it
    text: str
    ts: str = ""  # source timestamp, for the record
    kind: str = "message"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        return cls(
            key=str(data["key"]),
            author=str(data["author"]),
            text=str(data["text"]),
            ts=str(data.get("ts", "")),
            kind=str(data.get("kind") or "message"),
        )


#: Trip states as people see them.
TRIP_STATES = ("active", "waiting", "parked", "done", "closed", "cancelled", "expired", "failed")


@dataclass(slots=True)
class TripRecord:
    """What the registry knows about a trip (not its durable history)."""

    trip_id: str
    thread_key: str  # the surface's stable name for the thread
    thread: dict[str, str] = field(default_factory=dict)
    starter: str = ""
    request: str = ""
    state: str = "active"
    last_question: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    plan_versions: int = 0  # plans posted (v3 trips: 2 and up after changes); 0: none, or an older trip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TripRecord:
        known = {f for f in cls.__slots__}  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, slots=True)
class Delivery:
    """Outcome of handing a reply to a trip's inbox."""

    accepted: bool  # False: a duplicate of a reply already delivered
    waiter: str | None  # the reply promise the trip is suspended on, if any


class AmendOutcome(StrEnum):
    """What an edit (`Inbox.revise`) or a deletion (`withdraw`) of an
    answer did to the trip's inbox."""

    REVISED = "revised"  # unread: the answer now reads the new text, in its place
    CORRECTED = "corrected"  # read already: a correction waits in the inbox
    STALE = "stale"  # this edit, or a later one, was applied before (a retry)
    WITHDRAWN = "withdrawn"  # gone unread, and never delivered again
    READ = "read"  # deleted after it was read: the planner keeps what it read
    IGNORED = "ignored"  # the inbox never held an answer under that key


@dataclass(frozen=True, slots=True)
class Amendment:
    """Outcome of handing an edit or a deletion to a trip's inbox."""

    outcome: AmendOutcome
    waiter: str | None  # the reply promise the trip is suspended on, if any


@dataclass(frozen=True, slots=True)
class PostRecord:
    """The posting ledger's memory of one outgoing message."""

    state: str  # "intent" (may or may not have reached the surface) or "done"
    ref: str = ""  # the surface's id for the post (Slack ts) once done


class RegistryUnavailable(Exception):
    """The registry's backing store cannot be reached right now (Redis down
    or restarting). Transient: callers retry with backoff and say so in logs."""


class TripDirectory(Protocol):
    """Which trips exist, what people see of each, and which thread is whose.

    Every operation is atomic. `register_trip` (re)points the thread mapping
    at the new trip; `forget_trip` drops everything every part of the
    registry keeps for the trip (its record, thread mapping, inbox, waiter
    and posting-ledger keys), so retention pruning is one call.
    """

    async def register_trip(self, record: TripRecord) -> bool:
        """Store a new trip; False (and no change) when the trip exists."""
        ...

    async def get_trip(self, trip_id: str) -> TripRecord | None: ...

    async def trip_for_thread(self, thread_key: str) -> str | None: ...

    async def update_trip(self, trip_id: str, **fields: Any) -> None:
        """Set some of state, last_question, usage, thread (updated_at is set)."""
        ...

    async def list_trips(self, starter: str | None = None) -> list[TripRecord]:
        """Newest first (created_at, then trip_id, descending)."""
        ...

    async def forget_trip(self, trip_id: str) -> None:
        """Drop everything kept for a trip (retention pruning)."""
        ...


class DeliveryMarks(Protocol):
    """Dedupe for what a surface may hand us twice (Slack retries an event,
    two listeners see one message): a mark per key, for a while."""

    async def first_time(self, key: str, ttl_seconds: int) -> bool:
        """Remember `key` for `ttl_seconds`; True only the first time it is seen."""
        ...


class Inbox(Protocol):
    """Each trip's durable inbox of replies, and the promise it waits on.

    Every operation is atomic. The contract that keeps replies from being
    lost: `deliver` and `publish_waiter` are serialised, so a reply that lands
    between "the planner checks its inbox" and "the planner publishes its
    promise" is either seen by `publish_waiter` (returns True) or sees the
    waiter (returned in `Delivery.waiter`) and the deliverer resolves it.
    """

    async def deliver(self, trip_id: str, reply: Reply) -> Delivery:
        """Append a reply to the trip's inbox unless its key was seen before."""
        ...

    async def revise(self, trip_id: str, revision: Reply, correction: Reply) -> Amendment:
        """Apply a person's edit of the answer delivered under `revision.key`.

        `revision` is the answer as it now reads (its key and ts are the
        original's); `correction` is what the planner should read instead if
        it has read the answer already (its own key; its `ts` is the edit's
        time, a number, which orders edits). Outcomes:

        - IGNORED: no answer was delivered under that key (never, or it was
          a control), or the trip is unknown. Nothing changes.
        - WITHDRAWN: the answer was deleted (`withdraw`). Nothing changes.
        - STALE: an edit at the same or a later time was applied already.
        - REVISED: the answer was unread: it is replaced in place (same key,
          same position), so the planner reads only the new text.
        - CORRECTED: the answer was read: `correction` waits in the inbox like
          a new reply (the caller wakes `waiter`). While that correction is
          unread, a later edit replaces it in place instead.
        """
        ...

    async def withdraw(self, trip_id: str, key: str) -> Amendment:
        """A person deleted the message delivered (or yet to be delivered) under `key`.

        Leaves a tombstone: a later `deliver` of `key` (a late Slack retry)
        is refused, a later `revise` answers WITHDRAWN. Outcomes:

        - WITHDRAWN: the answer was unread and is dropped, or had not arrived
          yet and never will.
        - READ: the answer was read already and stays read; an unread
          correction of it is dropped.
        - IGNORED: the key holds a control (not an answer), or the trip is
          unknown. Nothing changes.

        Repeating a withdraw answers what the first one did.
        """
        ...

    async def publish_waiter(self, trip_id: str, promise_id: str) -> bool:
        """Record the promise the trip now waits on.

        Returns True when unclaimed replies are already in the inbox: the
        caller must then resolve the promise itself.
        """
        ...

    async def claim_replies(self, trip_id: str, claim_id: str) -> list[Reply]:
        """Claim every unclaimed reply, in arrival order, under `claim_id`.

        Idempotent: calling again with the same `claim_id` returns the same
        replies, so a step that crashed after claiming loses nothing.
        """
        ...

    async def unclaimed_replies(self, trip_id: str) -> list[Reply]:
        """The inbox's unclaimed replies, in arrival order, without claiming them."""
        ...

    async def stranded_waiters(self) -> list[tuple[str, str]]:
        """(trip_id, promise_id) pairs whose inbox holds unclaimed replies."""
        ...


class PostLedger(Protocol):
    """What a chat port has posted, so a step that runs again posts nothing twice.

    A post is recorded as "intent" before it is sent and "done" (with the
    surface's id for it) after; an intent is never recorded over a "done".
    """

    async def post_record(self, key: str) -> PostRecord | None:
        """What is recorded under `key`, if anything."""
        ...

    async def record_post_intent(self, key: str) -> None:
        """Mark `key` as "intent" unless it is recorded already."""
        ...

    async def record_post_done(self, key: str, ref: str) -> None:
        """Mark `key` as posted, as the surface's post `ref`."""
        ...


class ThreadRegistry(TripDirectory, DeliveryMarks, Inbox, PostLedger, FeedbackBook, Protocol):
    """All four parts on one store, as a runtime opens it (SQLite or Redis),
    and the votes on plan versions (`workflows.feedback.FeedbackBook`).

    Only what opens the store needs the whole (the runtime, `travel-planner
    trips`, test rigs): it owns the one store and hands each consumer the
    parts it uses (a chat port its `PostLedger`; the engine and the trip's
    steps the `TripDirectory` and `Inbox`; the Slack edge the directory, the
    `DeliveryMarks` and the inbox to count unread replies). Everything else
    takes parts.
    """


class PostFailed(Exception):
    """A chat port could not post. `permanent`: retrying cannot help (the
    channel is archived, the token revoked), so the trip stops instead of
    retrying forever. Subclasses must pickle round-trip."""

    permanent: bool = False


class ChatPort(Protocol):
    """How a trip talks to its people.

    `key` is the durable step's id: stable across crashes and replays, so an
    implementation can make every post happen exactly once.
    """

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        """Post a question the planner waits on; `choices` (controls such as
        "continue", "finish") may be offered as buttons."""
        ...

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        """Post the line of one research round."""
        ...

    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None:
        """Rewrite, in place, the round line posted under `key`."""
        ...

    async def final_plan(self, thread: ThreadRef, plan: Plan, *, key: str) -> None:
        """Post the finished plan and share it as files: its Markdown text,
        usage footer, the structured itinerary it was written from (if any)
        and its version (2 and up: a revision after a change, "Plan v2")."""
        ...

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        """Show the trip's state where people find the trip (Slack: the root
        message): "parked", "done" (with a link to the plan), "cancelled"."""
        ...

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        """Tell people something went wrong, in plain words."""
        ...

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        """A transient "is thinking..." indicator; "" clears it. Best effort."""
        ...

    async def vote(self, thread: ThreadRef, view: VoteView, *, key: str) -> None:
        """Show a team vote: posted the first time under `key` (with a button
        per option and one to close it), rewritten in place after (tallies
        with the voters' names; once closed, the outcome and no buttons)."""
        ...


class PromiseResolver(Protocol):
    """Settles a trip's reply promise from outside the workflow."""

    async def resolve(self, promise_id: str) -> None: ...


class TripControl(Protocol):
    """What an edge (Slack listeners, terminal) needs from the trip engine.

    Every call is quick: none waits for the planner.
    """

    async def start_trip(self, record: TripRecord) -> bool:
        """Register the trip and start its workflow; False if it already ran."""
        ...

    async def deliver_reply(self, trip_id: str, reply: Reply) -> bool:
        """Hand a person's reply to the trip and wake it; False if duplicate."""
        ...

    async def revise_reply(self, trip_id: str, revision: Reply, correction: Reply) -> AmendOutcome:
        """Hand a person's edit of an answer to the trip (`Inbox.revise`);
        a correction wakes the trip like a reply."""
        ...

    async def withdraw_reply(self, trip_id: str, key: str) -> AmendOutcome:
        """A person deleted the message delivered under `key` (`Inbox.withdraw`)."""
        ...
