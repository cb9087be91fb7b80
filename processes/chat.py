"""`travel-planner chat`: one trip in the terminal, on the embedded store.

The trip's steps post through a terminal port on stdout; the conversation
(stdin lines as answers, the resume header) is `travel_planner.chat`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import TextIO

from travel_planner.chat import converse
from travel_planner.terminal import TerminalChatPort
from workflows.config import LlmSettings
from workflows.ports import PostLedger
from workflows.runtime import Collaborators, open_embedded, research_collaborators


def main(
    env: Mapping[str, str], *, trip_id: str | None, request: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> int:
    """Plan (or resume with `trip_id`) one trip; the exit code says how it ended."""
    LlmSettings.from_env(env)  # fail before touching any state
    ports: list[TerminalChatPort] = []

    def terminal(ledger: PostLedger) -> TerminalChatPort:
        ports.append(TerminalChatPort(ledger, stdout, held=True))  # released after the header
        return ports[-1]

    parts = research_collaborators(env, terminal)
    return asyncio.run(_chat(env, parts, ports, trip_id=trip_id, request=request, stdin=stdin, stdout=stdout))


async def _chat(
    env: Mapping[str, str],
    parts: Collaborators,
    ports: list[TerminalChatPort],
    *,
    trip_id: str | None,
    request: str,
    stdin: TextIO,
    stdout: TextIO,
) -> int:
    runtime = await open_embedded(env, parts)
    [port] = ports  # the runtime made it for its registry
    try:
        return await converse(runtime, port, trip_id=trip_id, request=request, stdin=stdin, stdout=stdout)
    finally:
        await runtime.close()
