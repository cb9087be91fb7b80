"""The terminal conversation of `travel-planner chat` (the process,
`processes/chat.py`, opens the embedded store and the terminal port).

Questions go to stdout; each line of stdin is one answer. Kill it at any point
(SIGKILL included) and run it again with the same `--trip`: it resumes, shows
the pending question, and repeats no completed LLM call.

Where the resume finds the pending question: a trip whose ask step finished
says so in its record (state "waiting" or "parked", `last_question`); an ask
step the kill interrupted runs again, and the terminal port shows it again
(its ledger says a killed process printed it). Either way it is shown once:
the port holds every step's output until the resume has read the record and
shown what it names.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
import time
import uuid
from typing import TextIO

from workflows.engine import TripEngine
from workflows.ports import Inbox, Reply, TripDirectory, TripRecord
from workflows.prompts import usage_footer
from workflows.runtime import Runtime

from travel_planner.terminal import TerminalChatPort

#: Exit codes.
PLAN_READY = 0
INPUT_ENDED = 3
#: States in which a trip waits for an answer to its `last_question`.
_WAITING = ("waiting", "parked")
#: How long a trip must sit waiting, with input closed, before we give up.
_IDLE_CHECKS = 4
_IDLE_INTERVAL = 0.25


def _start_stdin_reader(stdin: TextIO, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Read lines on a daemon thread, so a blocked read never holds up exit."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in iter(stdin.readline, ""):
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=pump, name="stdin-reader", daemon=True).start()
    return lines


async def _deliver_lines(
    engine: TripEngine, trip_id: str, lines: asyncio.Queue[str | None], author: str, eof: asyncio.Event
) -> None:
    while True:
        line = await lines.get()
        if line is None:
            eof.set()
            return
        text = line.strip()
        if not text:
            continue
        reply = Reply(key=f"tty:{time.time_ns()}", author=author, text=text, ts=str(time.time()))
        await engine.deliver_reply(trip_id, reply)


async def _stuck_without_input(directory: TripDirectory, inbox: Inbox, trip_id: str, eof: asyncio.Event) -> None:
    """Return once input has ended and the trip sits waiting for an answer."""
    await eof.wait()
    seen: tuple[str, float] | None = None
    steady = 0
    while steady < _IDLE_CHECKS:
        await asyncio.sleep(_IDLE_INTERVAL)
        trip = await directory.get_trip(trip_id)
        stranded = {t for t, _ in await inbox.stranded_waiters()}
        now = (trip.state, trip.updated_at) if trip else ("", 0.0)
        waiting = trip is not None and trip.state in _WAITING and trip_id not in stranded
        steady = steady + 1 if waiting and now == seen else 0
        seen = now


async def converse(
    runtime: Runtime,
    port: TerminalChatPort,
    *,
    trip_id: str | None,
    request: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    """Plan (or resume) one trip; `port`, held until the header is written, prints on `stdout`."""
    engine, registry = runtime.engine, runtime.registry
    try:
        trip_id = trip_id or f"chat-{uuid.uuid4().hex[:12]}"
        existing = await registry.get_trip(trip_id)
        if existing is None:
            stdout.write(f"Planning trip {trip_id} (resume with: travel-planner chat --trip {trip_id})\n")
            record = TripRecord(
                trip_id=trip_id,
                thread_key=f"terminal:{trip_id}",
                thread={"surface": "terminal", "trip_id": trip_id},
                starter=getpass.getuser(),
                request=request,
            )
        else:
            stdout.write(f"Resuming trip {trip_id} ({existing.state}).\n")
            if existing.state in _WAITING and existing.last_question:
                port.show_pending_question(existing.last_question)
            record = existing
        stdout.flush()
        port.release()
        await engine.start_trip(record)

        eof = asyncio.Event()
        lines = _start_stdin_reader(stdin, asyncio.get_running_loop())
        feeder = asyncio.create_task(_deliver_lines(engine, trip_id, lines, record.starter or "you", eof))
        finished = asyncio.create_task(engine.outcome(trip_id))
        stuck = asyncio.create_task(_stuck_without_input(registry, registry, trip_id, eof))
        await asyncio.wait({finished, stuck}, return_when=asyncio.FIRST_COMPLETED)
        feeder.cancel()
        stuck.cancel()
        if finished.done():
            outcome = finished.result()
            if outcome.get("plan") and not port.plan_shown:
                # Planned before this process (or printed by one killed before its step finished).
                footer = usage_footer(outcome.get("usage") or {}, runtime.settings.price_per_mtok)
                port.show_plan(str(outcome["plan"]), footer)
            return PLAN_READY
        finished.cancel()
        stdout.write(
            f"Input ended before the plan was complete; resume with: "
            f"travel-planner chat --trip {trip_id}\n"
        )
        return INPUT_ENDED
    finally:
        stdout.flush()
