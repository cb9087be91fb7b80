"""`travel-planner trips cancel ID`: hand the trip a cancel control, like its
Cancel button, and follow it until it has stopped and told its thread.

How the control reaches the trip:
- no process owns the state directory: the embedded runtime is opened
  briefly (like a short `run`, so it needs the same settings), the control is
  delivered with `engine.deliver_reply`, and the trip is followed until it has
  stopped and told its thread;
- a `run` process owns it: the control is written into the trip's inbox in
  the registry, and that process wakes the trip (it looks for stranded
  waiters every couple of seconds);
- Postgres or server mode: the control is written into the inbox in Redis and
  the trip's reply promise is resolved on the engine, by a client that takes
  no work (as `web` does), so a worker wakes the trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import time
import uuid
from collections.abc import Mapping
from typing import TextIO

from travel_planner.surface_chat import SurfaceChatPort, slack_token
from travel_planner.trip_store import OK, UNKNOWN_TRIP, open_store
from workflows.config import state_dir_from_env
from workflows.durable.state_dir import StateDir, StateDirBusy
from workflows.ports import Inbox, PostLedger, Reply, TripDirectory, TripRecord

#: States after which a trip does nothing more.
FINAL_STATES = frozenset({"done", "closed", "cancelled", "expired", "failed"})
#: How long `cancel` follows the trip before reporting.
CANCEL_WAIT_SECONDS = 15.0


def _cancel_reply() -> Reply:
    who = f"{getpass.getuser()} (command line)"
    return Reply(key=f"cli:cancel:{uuid.uuid4().hex}", author=who, text="cancel", ts=f"{time.time():.6f}", kind="cancel")


async def _wait_for_state(directory: TripDirectory, trip_id: str, seconds: float) -> TripRecord | None:
    deadline = time.monotonic() + seconds
    record = await directory.get_trip(trip_id)
    while record is not None and record.state not in FINAL_STATES and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        record = await directory.get_trip(trip_id)
    return record


async def cancel_trip(env: Mapping[str, str], trip_id: str, out: TextIO) -> int:
    async with open_store(env) as store:
        record = await store.registry.get_trip(trip_id) if store.registry is not None else None
        if record is None:
            out.write(f"Unknown trip {trip_id!r} ({store.label}).\n")
            return UNKNOWN_TRIP
        if record.state in FINAL_STATES:
            out.write(f"Trip {trip_id} has already ended ({record.state}); nothing to cancel.\n")
            return OK
        if store.mode in ("postgres", "server"):
            return await _cancel_on_server(env, store.registry, trip_id, out)
        state_path = state_dir_from_env(env)
        try:
            probe = StateDir(state_path)
        except StateDirBusy as busy:
            return await _cancel_through_owner(store.registry, store.registry, trip_id, busy.owner, out)
        probe.close()
    return await _cancel_embedded(env, record, out)


async def _cancel_through_owner(directory: TripDirectory, inbox: Inbox, trip_id: str, owner: str, out: TextIO) -> int:
    """A `run` process owns the store: write the control into the trip's
    inbox; that process wakes the trip (it looks every couple of seconds)."""
    delivery = await inbox.deliver(trip_id, _cancel_reply())
    who = f"pid {owner}" if owner else "another process"
    record = await _wait_for_state(directory, trip_id, CANCEL_WAIT_SECONDS)
    if record is not None and record.state == "cancelled":
        out.write(f"Cancelled trip {trip_id}: the running travel-planner ({who}) stopped it and told its thread.\n")
    else:
        state = record.state if record else "unknown"
        waiting = "it was waiting for people" if delivery.waiter else "it is busy"
        out.write(
            f"Cancel recorded for trip {trip_id} (now {state}; {waiting}). The running travel-planner ({who}) "
            "stops it before its next AI call.\n"
        )
    return OK


async def _cancel_on_server(env: Mapping[str, str], directory: TripDirectory, trip_id: str, out: TextIO) -> int:
    from workflows.runtime import open_server_mode

    runtime = await open_server_mode(env, role="web", parts=None)
    try:
        await runtime.engine.deliver_reply(trip_id, _cancel_reply())
    finally:
        await runtime.close()
    record = await _wait_for_state(directory, trip_id, CANCEL_WAIT_SECONDS)
    if record is not None and record.state == "cancelled":
        out.write(f"Cancelled trip {trip_id}: a worker stopped it and told its thread.\n")
    else:
        out.write(f"Cancel delivered to trip {trip_id}; a worker stops it before its next AI call.\n")
    return OK


async def _cancel_embedded(env: Mapping[str, str], record: TripRecord, out: TextIO) -> int:
    """No process owns the store: open the embedded runtime briefly (it needs
    the settings `run` needs), deliver the control and follow the trip until
    it has stopped and told its thread."""
    from workflows.runtime import open_embedded, research_collaborators

    if record.thread.get("surface") == "slack":
        from bot.installations import OAuthCredentials

        if OAuthCredentials.from_env(env) is None:  # ConfigError now, before anything runs
            slack_token(env)
    chats: list[SurfaceChatPort] = []

    def chat(ledger: PostLedger) -> SurfaceChatPort:
        chats.append(SurfaceChatPort(ledger, env, out))
        return chats[-1]

    try:
        runtime = await open_embedded(env, research_collaborators(env, chat))
    except StateDirBusy as busy:  # a `run` started meanwhile
        async with open_store(env) as store:
            assert store.registry is not None
            return await _cancel_through_owner(store.registry, store.registry, record.trip_id, busy.owner, out)
    try:
        await runtime.engine.deliver_reply(record.trip_id, _cancel_reply())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.engine.outcome(record.trip_id), CANCEL_WAIT_SECONDS)
        final = await runtime.registry.get_trip(record.trip_id)
    finally:
        for port in chats:
            await port.aclose()
        await runtime.close()
    if final is not None and final.state == "cancelled":
        out.write(f"Cancelled trip {record.trip_id} and told its thread.\n")
    else:
        state = final.state if final else "unknown"
        out.write(
            f"Cancel recorded for trip {record.trip_id} (now {state}); it takes effect when the trip next runs "
            "(`travel-planner run`, or `travel-planner chat --trip ID`).\n"
        )
    return OK


__all__ = ["CANCEL_WAIT_SECONDS", "FINAL_STATES", "cancel_trip"]
