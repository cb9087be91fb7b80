"""Drive a real trip workflow with in-process fakes, so a benchmark measures
the durable engine and not the network: on the embedded store, or (when the
env names `DATABASE_URL` and `REDIS_URL`) on Postgres as a `worker` runs it,
in this one process.

The fake model asks a question every turn, after one research round, and the
driver answers it; the clock for each measurement is `time.perf_counter`.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workflows.llm import LlmOutcome
from workflows.ports import Reply, ThreadRef, ThreadRegistry, TripRecord
from workflows.posts import Plan
from workflows.runtime import Collaborators, Runtime, open_embedded, open_server_mode
from workflows.tools import TOOL_SPECS

_WORDS = (
    "lisbon alfama tram hill fado bar museum river tagus castle view bakery pastry "
    "ferry beach sintra palace garden train ticket price euro hour open closed queue "
    "market fish wine tile azulejo street square cathedral monastery tower bridge "
    "sunset walk tour guide hotel hostel room night booking review rating family kids"
).split()


def prose(seed: int, words: int) -> str:
    """Deterministic text that compresses like prose, not like a repeated line."""
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) + ("." if rng.random() < 0.08 else "") for _ in range(words))


RESULT_WORDS = 220  # ~1.4 kB, the size of a compact search result page


@dataclass
class FakeModel:
    """Research, then ask; finish after `turns` answers. Records call times."""

    turns: int
    calls: list[float] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)
    said: list[dict[str, Any]] = field(default_factory=list)  # the transcript's own messages

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict], budget: int) -> LlmOutcome:
        self.calls.append(time.perf_counter())
        self.called.set()
        outcome = self._answer(messages)
        if outcome.message is not None:
            self.said.append(outcome.message)
        return outcome

    def _answer(self, messages: list[dict[str, Any]]) -> LlmOutcome:
        answers = sum(1 for m in messages if m["role"] == "user") - 1
        last = messages[-1]
        if last["role"] == "user" and answers < self.turns:
            n = len(self.calls)
            call = {"id": f"c{n}", "type": "function",
                    "function": {"name": "internet_search",
                                 "arguments": json.dumps({"search_query": f"lisbon idea {n}"})}}
            return LlmOutcome(message={"role": "assistant", "content": "", "tool_calls": [call]},
                              usage={"prompt_tokens": 10, "completion_tokens": 5})
        if answers >= self.turns:
            return LlmOutcome(message={"role": "assistant", "content": "Plan.\nTRIP PLANNING COMPLETE"})
        question = f"Question {answers + 1}: " + prose(answers, 30) + "?"
        return LlmOutcome(message={"role": "assistant", "content": question})


@dataclass
class FakeTools:
    said: list[dict[str, Any]]

    async def internet_search(self, search_query: str, num_results: int = 5) -> str:
        result = f"Results for {search_query}:\n{prose(len(self.said), RESULT_WORDS)}"
        self.said.append({"role": "tool", "tool_call_id": "c000", "content": result})
        return result

    async def scrape_website(self, url: str) -> str:
        return prose(len(url), RESULT_WORDS)


@dataclass
class QuietChat:
    registry: ThreadRegistry
    asked: asyncio.Event = field(default_factory=asyncio.Event)
    questions: int = 0

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        self.questions += 1
        self.asked.set()

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None: ...
    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None: ...
    async def final_plan(self, thread: ThreadRef, plan: Plan, *, key: str) -> None: ...
    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None: ...
    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None: ...
    async def set_status(self, thread: ThreadRef, status: str) -> None: ...


@dataclass
class TripRun:
    runtime: Runtime
    model: FakeModel
    chat: QuietChat
    trip_id: str = "bench"
    transcript: list[dict[str, Any]] = field(default_factory=list)

    async def next_question(self) -> None:
        while self.chat.questions <= len(self.transcript):
            self.chat.asked.clear()
            await self.chat.asked.wait()
        self.transcript.append({"question": self.chat.questions})

    async def answer(self, turn: int) -> float:
        """Deliver the answer; return seconds until the next LLM call began."""
        self.model.called.clear()
        start = time.perf_counter()
        reply = Reply(key=f"r{turn}", author="ana", text=f"Answer {turn}: " + prose(10_000 + turn, 12))
        self.model.said.append({"role": "user", "content": f"[{reply.author}] {reply.text}"})
        await self.runtime.engine.deliver_reply(self.trip_id, reply)
        await self.model.called.wait()
        return self.model.calls[-1] - start

    def transcript_bytes(self) -> int:
        """Bytes of every message of the conversation, each counted once."""
        request = {"role": "user", "content": "Trip request from ana: Lisbon, 4 days"}
        return sum(len(json.dumps(m)) for m in [request, *self.model.said])


async def open_trip(turns: int, env: dict[str, str] | None = None, state_dir: str | None = None) -> TripRun:
    model = FakeModel(turns)
    chats: list[QuietChat] = []
    parts = Collaborators(
        chat=lambda reg: chats.append(QuietChat(reg)) or chats[-1],  # type: ignore[func-returns-value]
        tools=FakeTools(model.said), tool_specs=list(TOOL_SPECS), untrusted_rule="", model=model,
    )
    env = {
        "TRAVEL_PLANNER_STATE_DIR": state_dir or tempfile.mkdtemp(prefix="tp-bench-"),
        # A 200-turn conversation is the point here, not the budget question.
        "TRAVEL_PLANNER_MAX_LLM_CALLS": "1000000",
        "TRAVEL_PLANNER_MAX_TOOL_CALLS": "1000000",
        "TRAVEL_PLANNER_MAX_TOKENS": "1000000000",
        **(env or {}),
    }
    if env.get("DATABASE_URL"):
        runtime = await open_server_mode(env, role="worker", parts=parts)
    else:
        runtime = await open_embedded(env, parts)
    run = TripRun(runtime, model, chats[0], trip_id=f"bench-{uuid.uuid4().hex[:12]}")
    await runtime.engine.start_trip(
        TripRecord(trip_id=run.trip_id, thread_key="bench", thread={}, starter="ana", request="Lisbon, 4 days")
    )
    return run
