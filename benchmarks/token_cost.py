"""Token benchmark: what a 50-step trip costs in input tokens, ours against a
loop that resends the whole history on every call.

    uv run python -m benchmarks.token_cost            # prints the table
    uv run python -m benchmarks.token_cost --check    # exit 1 if a goal fails
    uv run python -m benchmarks.token_cost --per-request

Both sides play the same scripted trip (benchmarks/scripted_trip.py): the same
LLM answers, the same tool outputs, the same team replies.

- Ours is the real trip workflow on the embedded store, with the real openai
  client talking to the scripted fake LLM server, the real web tools reading
  fake search results and pages over HTTP, and replies delivered as people's.
- The reference is the seed example's loop: append every message, send it all
  on every call, tool outputs in full. It sends to its own scripted server and
  is handed the tool outputs our run produced, byte for byte.

Each side is measured on the requests its fake LLM server received, counted
with o200k_base (benchmarks/encoding.py, benchmarks/request_tokens.py says
exactly how). The goals: our input tokens at most half the reference's, and
at least 0.7 of each request's tokens, on average, a prefix the previous
request already had (what OpenAI's prompt caching can reuse).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import openai

from benchmarks.encoding import o200k
from benchmarks.request_tokens import answer_tokens, request_tokens, shared_prefix
from benchmarks.scripted_trip import REQUEST, ScriptedAnswers, ScriptedTrip
from testing.fakes.llm_server import LlmCall, ScriptedLLM
from testing.fakes.research import FakeSerper, PageSite
from workflows.ports import Reply, ThreadRef, TripRecord
from workflows.posts import Plan
from workflows.prompts import replies_message
from workflows.runtime import open_embedded, research_collaborators

MAX_INPUT_RATIO = 0.5
MIN_PREFIX_SHARE = 0.7
DEADLINE = 120.0  # seconds for anything one side does


@dataclass
class SideCost:
    """One side's requests, counted."""

    name: str
    request_tokens: list[int]
    shared_tokens: list[int]  # of requests 2..N: tokens of the prefix shared with the request before
    output_tokens: int

    @property
    def input_tokens(self) -> int:
        return sum(self.request_tokens)

    @property
    def uncached_tokens(self) -> int:
        """Input tokens outside the prefix each request shares with the one before (all of the first)."""
        return self.input_tokens - sum(self.shared_tokens)

    @property
    def prefix_shares(self) -> list[float]:
        """Of requests 2..N: the share of each that repeats the request before's prefix."""
        return [s / n for s, n in zip(self.shared_tokens, self.request_tokens[1:])]

    @property
    def largest(self) -> int:
        return max(self.request_tokens, default=0)

    @property
    def avg_prefix_share(self) -> float:
        return sum(self.prefix_shares) / len(self.prefix_shares) if self.prefix_shares else 0.0


def measure(name: str, calls: list[LlmCall], served: list[dict[str, Any]]) -> SideCost:
    enc = o200k()
    sequences = [request_tokens(enc, c.messages, c.tool_specs) for c in calls]
    shared = [shared_prefix(prev, cur) for prev, cur in zip(sequences, sequences[1:])]
    return SideCost(name, [len(s) for s in sequences], shared, sum(answer_tokens(enc, a) for a in served))


# -- our side ------------------------------------------------------------------


@dataclass
class _Chat:
    """A chat port that only remembers the questions and the plan."""

    questions: list[str] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Any = ()) -> None:
        self.questions.append(question)
        self.changed.set()

    async def final_plan(self, thread: ThreadRef, plan: Plan, *, key: str) -> None:
        self.plans.append(plan.plan)
        self.changed.set()

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None: ...
    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None: ...
    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None: ...
    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None: ...
    async def set_status(self, thread: ThreadRef, status: str) -> None: ...


class _RecordingTools:
    """The real web tools, remembering each call's output for the reference loop."""

    def __init__(self, tools: Any) -> None:
        self._tools = tools
        self.outputs: dict[str, str] = {}

    async def internet_search(self, search_query: str, num_results: int = 5) -> str:
        out = await self._tools.internet_search(search_query, num_results)
        self.outputs[_call_key("internet_search", {"search_query": search_query, "num_results": num_results})] = out
        return out

    async def scrape_website(self, url: str) -> str:
        out = await self._tools.scrape_website(url)
        self.outputs[_call_key("scrape_website", {"url": url})] = out
        return out


def _call_key(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps([name, arguments], sort_keys=True)


async def _until(chat: _Chat, done: Any) -> None:
    async def wait() -> None:
        while not done():
            chat.changed.clear()
            await chat.changed.wait()

    await asyncio.wait_for(wait(), DEADLINE)


async def run_ours(
    trip: ScriptedTrip, llm: ScriptedLLM, serper: FakeSerper, state_dir: str, extra_env: dict[str, str]
) -> _RecordingTools:
    env = {
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": llm.api_key,
        "TRAVEL_PLANNER_MODEL": llm.model,
        "SERPER_URL": serper.url,
        "SERPER_API_KEY": "serper-bench-key",
        "SCRAPE_ALLOW_HOSTS": "127.0.0.1",
        "TRAVEL_PLANNER_STATE_DIR": state_dir,
        # The trip's tokens are the point here, not the budget question.
        "TRAVEL_PLANNER_MAX_LLM_CALLS": "1000000",
        "TRAVEL_PLANNER_MAX_TOOL_CALLS": "1000000",
        "TRAVEL_PLANNER_MAX_TOKENS": "1000000000",
        **extra_env,
    }
    chat = _Chat()
    parts = research_collaborators(env, lambda ledger: chat)  # type: ignore[arg-type, return-value]
    tools = _RecordingTools(parts.tools)
    parts.tools = tools
    runtime = await open_embedded(env, parts)
    try:
        trip_id = "token-bench"
        await runtime.engine.start_trip(
            TripRecord(trip_id=trip_id, thread_key="bench", thread={}, starter="ana", request=REQUEST)
        )
        for turn in range(trip.turns):
            await _until(chat, lambda: len(chat.questions) > turn or chat.plans)
            await runtime.engine.deliver_reply(trip_id, Reply(key=f"r{turn}", author="ana", text=trip.reply(turn)))
        await _until(chat, lambda: bool(chat.plans))
        outcome = await asyncio.wait_for(runtime.engine.outcome(trip_id), DEADLINE)
        if outcome.get("status") != "done":
            raise RuntimeError(f"our trip did not finish with a plan: {outcome}")
    finally:
        await runtime.close()
    return tools


# -- the reference loop --------------------------------------------------------


async def run_reference(
    trip: ScriptedTrip, llm: ScriptedLLM, start: list[dict[str, Any]], specs: list[dict[str, Any]],
    outputs: dict[str, str],
) -> None:
    """The seed example's loop: the whole history, every call."""
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key=llm.api_key, max_retries=0)
    messages = list(start)
    turn = 0
    try:
        while True:
            response = await client.chat.completions.create(model=llm.model, messages=messages, tools=specs)  # type: ignore[arg-type]
            msg = response.choices[0].message
            assistant: dict[str, Any] = {"role": "assistant", "content": msg.content or ""}
            calls = [c for c in msg.tool_calls or [] if getattr(c, "function", None) is not None]
            if calls:
                assistant["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
                    for c in calls
                ]
            messages.append(assistant)
            if any(c.function.name == "finish_trip" for c in calls):
                return
            for c in calls:
                output = outputs[_call_key(c.function.name, json.loads(c.function.arguments))]
                messages.append({"role": "tool", "tool_call_id": c.id, "content": output})
            if not calls:
                if turn >= trip.turns:
                    raise RuntimeError("the reference loop ran past the script")
                reply = Reply(key=f"r{turn}", author="ana", text=trip.reply(turn))
                messages.append({"role": "user", "content": replies_message([reply])})
                turn += 1
    finally:
        await client.close()


# -- both ----------------------------------------------------------------------


@dataclass
class Comparison:
    ours: SideCost
    reference: SideCost
    seconds: float

    @property
    def input_ratio(self) -> float:
        return self.ours.input_tokens / self.reference.input_tokens

    def goals(self) -> list[tuple[str, bool]]:
        return [
            (f"our input tokens <= {MAX_INPUT_RATIO}x the reference's ({self.input_ratio:.2f}x)",
             self.input_ratio <= MAX_INPUT_RATIO),
            (f"our avg cacheable prefix share >= {MIN_PREFIX_SHARE} ({self.ours.avg_prefix_share:.2f})",
             self.ours.avg_prefix_share >= MIN_PREFIX_SHARE),
        ]

    def table(self) -> str:
        o, r = self.ours, self.reference

        def row(label: str, a: float, b: float, fmt: str = "{:,}") -> str:
            ratio = f"{a / b:.2f}" if b else "-"
            return f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |"

        return "\n".join([
            "| | ours | reference | ours/reference |",
            "| --- | ---: | ---: | ---: |",
            row("requests", len(o.request_tokens), len(r.request_tokens)),
            row("input tokens total", o.input_tokens, r.input_tokens),
            row("input tokens outside the shared prefix", o.uncached_tokens, r.uncached_tokens),
            row("output tokens total", o.output_tokens, r.output_tokens),
            row("largest request (tokens)", o.largest, r.largest),
            row("avg cacheable prefix share", o.avg_prefix_share, r.avg_prefix_share, "{:.2f}"),
        ])

    def per_request(self) -> str:
        lines = ["| # | ours tokens | ours prefix share | reference tokens | reference prefix share |",
                 "| ---: | ---: | ---: | ---: | ---: |"]
        for i, (a, b) in enumerate(zip(self.ours.request_tokens, self.reference.request_tokens, strict=False)):
            sa = f"{self.ours.prefix_shares[i - 1]:.2f}" if i else "-"
            sb = f"{self.reference.prefix_shares[i - 1]:.2f}" if i else "-"
            lines.append(f"| {i + 1} | {a:,} | {sa} | {b:,} | {sb} |")
        return "\n".join(lines)


def compare(turns: int = 7, extra_env: dict[str, str] | None = None) -> Comparison:
    """Run the scripted trip through both sides and count their requests
    (`extra_env`: planner settings for our side, e.g. TRAVEL_PLANNER_CONTEXT_CHARS)."""
    started = time.perf_counter()
    trip = ScriptedTrip(turns)
    with PageSite(trip.pages()) as site, FakeSerper() as serper:
        serper.results_for = trip.search_results(site.url)
        ours_script = ScriptedAnswers(trip.answers(site.url), trip.expected_last_roles())
        ref_script = ScriptedAnswers(trip.answers(site.url), trip.expected_last_roles())
        with ScriptedLLM(ours_script) as ours_llm, ScriptedLLM(ref_script) as ref_llm:
            with tempfile.TemporaryDirectory(prefix="tp-token-bench-") as state_dir:
                tools = asyncio.run(run_ours(trip, ours_llm, serper, state_dir, extra_env or {}))
            first = ours_llm.answered()[0]
            asyncio.run(run_reference(trip, ref_llm, first.messages[:2], first.tool_specs, tools.outputs))
            for llm, script in ((ours_llm, ours_script), (ref_llm, ref_script)):
                problems = llm.refusals() + script.out_of_step
                if problems:
                    raise RuntimeError(f"the scripted trip went wrong: {problems}")
            ours = measure("ours", ours_llm.answered(), ours_script.served)
            reference = measure("reference", ref_llm.answered(), ref_script.served)
    return Comparison(ours, reference, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=7, help="turns of the scripted trip (7 turns = 50 steps)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal fails")
    parser.add_argument("--context-chars", type=int, help="our context budget (default: the planner's)")
    parser.add_argument("--per-request", action="store_true", help="also print every request's size and share")
    args = parser.parse_args(argv)
    extra = {"TRAVEL_PLANNER_CONTEXT_CHARS": str(args.context_chars)} if args.context_chars else {}
    result = compare(args.turns, extra)
    print(f"Scripted trip: {ScriptedTrip(args.turns).steps} steps, {args.turns} turns "
          f"(tokens: o200k_base; {result.seconds:.1f} s)\n")
    print(result.table())
    if args.per_request:
        print("\n" + result.per_request())
    print()
    goals = result.goals()
    for text, ok in goals:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return 1 if args.check and not all(ok for _, ok in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
