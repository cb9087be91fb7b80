"""The terminal implementation of the chat port: a trip on stdin/stdout.

Posts go through the registry's posting ledger (`ExactlyOnce`), so a step
that runs again after a crash does not print the same message twice, with one
exception: the
person at a resumed chat must see, in this process, the question the trip
waits on. An ask the ledger already holds, run again here, is the step a
killed process printed but never finished (its trip record may not say
"waiting" yet), so it is shown again, unless this process already showed that
question (the resume shows the one the trip record names). The chat prints
the plan from the trip's outcome if this process did not (`plan_shown`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from workflows.exactly_once import ExactlyOnce
from workflows.ports import PostLedger, ThreadRef, TripRecord
from workflows.posts import Plan
from workflows.votes import VoteView

PLANNER = "planner>"
#: The lines that frame a plan (tests and people look for them).
PLAN_START = "===== PLAN ====="
PLAN_END = "================"


class TerminalChatPort:
    """`held`: steps wait to print until `release()`, so the chat's own first
    lines (and its view of the trip record) come before anything a resumed
    trip prints."""

    def __init__(self, ledger: PostLedger, out: TextIO = sys.stdout, *, held: bool = False) -> None:
        self._once = ExactlyOnce(ledger)
        self._out = out
        self._open = asyncio.Event()
        if not held:
            self._open.set()
        #: Ask keys this process has shown (a step retried here prints nothing new).
        self._asked: set[str] = set()
        #: Questions this process has shown, from an ask or from the trip record.
        self._questions: set[str] = set()
        #: True once this process has printed the plan.
        self.plan_shown = False

    def release(self) -> None:
        self._open.set()

    def _write(self, text: str) -> None:
        self._out.write(text.rstrip() + "\n")
        self._out.flush()

    async def _print(self, text: str) -> None:
        await self._open.wait()
        self._write(text)

    async def _print_once(self, key: str, text: str) -> None:
        """Print unless the ledger says it was printed."""

        async def send() -> str:
            await self._print(text)
            return ""

        await self._once.post(key, send)

    def show_pending_question(self, question: str) -> None:
        """At resume: show the question the trip record says the trip waits on."""
        if question not in self._questions:
            self._write(f"{PLANNER} {question}")
            self._questions.add(question)

    def show_plan(self, plan: str, footer: str = "") -> None:
        """Print a plan this process has not printed (from the trip's outcome)."""
        self._write(_plan_block(plan, footer))
        self.plan_shown = True

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        if key in self._asked:
            return
        hint = f" (reply {' or '.join(repr(c) for c in choices)})" if choices else ""

        async def show() -> str:
            await self._print(f"{PLANNER} {question}{hint}")
            self._questions.add(question)
            return ""

        async def shown_here() -> str | None:
            # In the ledger: a killed process printed it, and its step finishes only now.
            return "" if question in self._questions else None

        await self._once.post(key, show, find=shown_here)
        if question not in self._questions:  # done by a killed process: not yet shown here
            await show()
        self._asked.add(key)

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._print_once(key, f"  {text}")

    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._print_once(f"{key}#done", f"  {text}")  # a terminal cannot rewrite a line above

    async def final_plan(self, thread: ThreadRef, plan: Plan, *, key: str) -> None:
        async def send() -> str:
            await self._print(_plan_block(plan.plan, plan.footer))
            self.plan_shown = True
            return ""

        await self._once.post(key, send)

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        if state in ("parked", "cancelled", "expired"):
            await self._print(f"[trip {trip.trip_id} is {state}]")

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._print_once(key, f"{PLANNER} [!] {text}")

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        return None  # the terminal shows steps as they post

    async def vote(self, thread: ThreadRef, view: VoteView, *, key: str) -> None:
        """The vote once, and its outcome once closed (a terminal has no
        buttons: answer in words; its tallies come only from Slack)."""
        if not view.closed:
            options = "  ".join(f"[{i + 1}] {o}" for i, o in enumerate(view.options))
            await self._print_once(key, f"{PLANNER} Team vote: {view.question}\n  {options}\n  (no buttons here: answer in words)")
        else:
            await self._print_once(f"{key}#closed", f"{PLANNER} Vote closed ({view.why}): {view.outcome}")


def _plan_block(plan: str, footer: str) -> str:
    tail = f"\n{footer}" if footer else ""
    return f"\n{PLAN_START}\n{plan}{tail}\n{PLAN_END}"
