"""The terminal implementation of the chat port: a trip on stdin/stdout.

Posts go through the registry's posting ledger, so a step that runs again
after a crash does not print the same message twice.
"""

from __future__ import annotations

import sys
from typing import TextIO

from collections.abc import Sequence

from workflows.ports import ThreadRef, ThreadRegistry, TripRecord

PLANNER = "planner>"


class TerminalChatPort:
    def __init__(self, registry: ThreadRegistry, out: TextIO = sys.stdout) -> None:
        self._registry = registry
        self._out = out

    async def _print_once(self, key: str, text: str) -> None:
        record = await self._registry.post_record(key)
        if record is not None and record.state == "done":
            return
        await self._registry.record_post_intent(key)
        self._out.write(text.rstrip() + "\n")
        self._out.flush()
        await self._registry.record_post_done(key, "")

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        hint = f" (reply {' or '.join(repr(c) for c in choices)})" if choices else ""
        await self._print_once(key, f"{PLANNER} {question}{hint}")

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._print_once(key, f"  {text}")

    async def update_progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._print_once(f"{key}#done", f"  {text}")  # a terminal cannot rewrite a line above

    async def final_plan(self, thread: ThreadRef, plan: str, *, key: str, footer: str = "") -> None:
        tail = f"\n{footer}" if footer else ""
        await self._print_once(key, f"\n===== PLAN =====\n{plan}{tail}\n================")

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        if state in ("parked", "cancelled", "expired"):
            self._out.write(f"[trip {trip.trip_id} is {state}]\n")
            self._out.flush()

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._print_once(key, f"{PLANNER} [!] {text}")

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        return None  # the terminal shows steps as they post
