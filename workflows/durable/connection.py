"""A Resonate connection backed by the SDK's state machine and our journal.

It plays the Resonate server inside this process, like the SDK's
`LocalConnection`, but survives a crash: every state-changing request is
journaled to SQLite before it is answered, and start-up replays the journal.
It deliberately does not subclass `LocalConnection`: the SDK then runs its
`AsyncHeartbeat`, so a slow step keeps its lease instead of being re-issued
(and paid for twice) when the lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
from resonate.connections.local import (
    SCHEME,
    OutgoingMessage,
    unwrap_request_envelope,
    wrap_response_envelope,
)
from resonate.error import DecodingError
from resonate.timing import Clock, Sleeper, now_ms, sleep

from workflows.durable.journal import (
    OP_COMPACT,
    OP_PRUNE,
    OP_RECOVER,
    OP_REQUEST,
    OP_TICK,
    DurableJournal,
    StoreWriteError,
)
from workflows.durable.server_state import JournaledServerState

logger = logging.getLogger(__name__)

#: Journal entries between snapshots. Start-up replays at most this many.
DEFAULT_SNAPSHOT_EVERY = 5_000
#: A snapshot is also due once the journal outweighs it (and this floor), so
#: the bytes on disk stay within about twice the live state.
SNAPSHOT_MIN_JOURNAL_BYTES = 64 * 1024


def _fail_stop(exc: StoreWriteError) -> None:
    raise exc


class JournaledConnection:
    """Network and Source for `Resonate(network=...)`, durable on disk."""

    def __init__(
        self,
        journal: DurableJournal,
        *,
        pid: str = "default",
        group: str = "default",
        clock: Clock = now_ms,
        sleeper: Sleeper = sleep,
        tick_interval: float = 1.0,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        on_write_error: Callable[[StoreWriteError], None] = _fail_stop,
        on_settled: Callable[[str], None] | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._sleeper = sleeper
        self._tick_interval = tick_interval
        self._snapshot_every = snapshot_every
        self._on_write_error = on_write_error
        self._on_settled = on_settled
        self._unicast = f"{SCHEME}://uni@{group}/{pid}"
        self._subscribers: list[Callable[[str], None]] = []
        self._tick_handle: asyncio.Task[None] | None = None
        self._dispatch_tasks: set[asyncio.Task[None]] = set()
        self._failed: StoreWriteError | None = None

        loaded = journal.load()
        self.state: JournaledServerState = loaded.state
        self._last_seq = loaded.last_seq
        self.replayed_entries = loaded.replayed
        self._recovered = False

    # -- Source ------------------------------------------------------------------

    def unicast(self) -> str:
        return self._unicast

    def resolve_target(self, target: str) -> str:
        return f"{SCHEME}://any@{target}"

    def recv(self, callback: Callable[[str], None]) -> None:
        self._subscribers.append(callback)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Recover the dead process's work, then start the timer loop."""
        if not self._recovered:
            self._recovered = True
            outgoing = self._record(OP_RECOVER, b"", lambda now: self.state.recover(now))
            self._dispatch(outgoing)
            self._maybe_snapshot(force=self.replayed_entries > 0)
        if self._tick_handle is None:
            self._tick_handle = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        handle, self._tick_handle = self._tick_handle, None
        if handle is not None:
            handle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handle
        self._subscribers.clear()

    # -- Network -----------------------------------------------------------------

    async def send(self, req: str, headers: dict[str, str] | None = None) -> str:
        if self._failed is not None:
            raise self._failed  # fail-stop: nothing more is answered
        try:
            flat = unwrap_request_envelope(msgspec.json.decode(req))
        except msgspec.DecodeError as exc:
            msg = f"invalid JSON request: {exc}"
            raise DecodingError(msg) from exc
        now = self._clock()
        if self.state.mutates(now, flat):
            response: dict[str, Any] = {}

            def apply(at: int) -> None:
                response.update(self.state.apply(at, flat))

            outgoing = self._record(OP_REQUEST, req.encode(), apply, now=now)
            if self._on_settled is not None:
                settled = settled_promise_id(flat)
                if settled:
                    self._on_settled(settled)
        else:
            response = self.state.apply(now, flat)
            outgoing = self._take_outgoing()
        self._dispatch(outgoing)
        self._maybe_snapshot()
        return msgspec.json.encode(wrap_response_envelope(response)).decode()

    # -- maintenance operations (journaled like requests) ------------------------

    def prune_finished(self, settled_before_ms: int) -> list[str]:
        """Forget trips that finished before the retention horizon."""
        trip_ids = self.state.finished_trips(settled_before_ms)
        if trip_ids:
            body = msgspec.json.encode(trip_ids)
            self._record(OP_PRUNE, body, lambda _now: self.state.prune(trip_ids))
            self._maybe_snapshot(force=True)
        return trip_ids

    def checkpoint(self) -> None:
        """Compact finished workflows and write a snapshot now."""
        self._maybe_snapshot(force=True)

    def stored_bytes(self) -> int:
        return self._journal.stored_bytes()

    # -- internals ---------------------------------------------------------------

    def _record(
        self,
        op: str,
        body: bytes,
        apply: Callable[[int], None],
        *,
        now: int | None = None,
    ) -> list[OutgoingMessage]:
        """Journal first, then apply: the journal never lags the answer."""
        if self._failed is not None:
            raise self._failed
        at = self._clock() if now is None else now
        try:
            self._last_seq = self._journal.append(at, op, body)
        except StoreWriteError as exc:
            self._failed = exc
            self._on_write_error(exc)
            raise
        self.state.outgoing.clear()
        apply(at)
        return self._take_outgoing()

    def _take_outgoing(self) -> list[OutgoingMessage]:
        outgoing = self.state.outgoing
        self.state.outgoing = []
        return outgoing

    def _maybe_snapshot(self, *, force: bool = False) -> None:
        journal = self._journal
        due = journal.entries_since_snapshot >= self._snapshot_every or journal.bytes_since_snapshot >= max(
            SNAPSHOT_MIN_JOURNAL_BYTES, journal.snapshot_bytes
        )
        if not (due or (force and journal.entries_since_snapshot)):
            return
        started = time.perf_counter()
        finished = self.state.compactable()
        if finished:
            body = msgspec.json.encode(finished)
            self._record(OP_COMPACT, body, lambda _now: self.state.compact(finished))
        try:
            self._journal.write_snapshot(self.state, self._last_seq, self._clock())
        except StoreWriteError as exc:
            self._failed = exc
            self._on_write_error(exc)
            raise
        took = (time.perf_counter() - started) * 1000
        logger.log(
            logging.WARNING if took > 50 else logging.DEBUG,
            "snapshot of %d promises: %d bytes in %.1f ms", len(self.state.promises), journal.snapshot_bytes, took,
        )

    async def _tick_loop(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                now = self._clock()
                if self.state.tick_is_due(now):
                    try:
                        outgoing = self._record(OP_TICK, b"", self.state.tick, now=now)
                    except StoreWriteError:
                        return
                    self._dispatch(outgoing)
                await self._sleeper(self._tick_interval)

    def _dispatch(self, messages: list[OutgoingMessage]) -> None:
        """Deliver execute/unblock messages off the caller's critical path."""
        if not messages or not self._subscribers:
            return
        encoded = [msgspec.json.encode(m.message).decode() for m in messages]
        subscribers = list(self._subscribers)

        async def deliver() -> None:
            for message in encoded:
                for callback in subscribers:
                    callback(message)

        task = asyncio.create_task(deliver())
        self._dispatch_tasks.add(task)
        task.add_done_callback(self._dispatch_tasks.discard)


def settled_promise_id(flat: dict[str, Any]) -> str:
    """The promise a (possibly fenced) settle request settles, else ""."""
    if flat.get("kind") == "promise.settle":
        return str(flat.get("id", ""))
    action = flat.get("action")
    if flat.get("kind") == "task.fence" and isinstance(action, dict) and action.get("kind") == "promise.settle":
        data = action.get("data")
        return str(data.get("id", "")) if isinstance(data, dict) else ""
    return ""
