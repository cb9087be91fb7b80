"""The trip workflow: the agent loop, durable on Resonate.

A trip runs as a chain of segments. Each segment is a workflow that carries
the loop for a few human turns, then hands a compacted state to a successor
(`ctx.detached`) and finishes. The SDK replays a workflow body from the top on
every resume, so bounding a segment bounds the work per resume, however long
the conversation gets. The reply promise stays reachable through the thread
registry, whichever segment publishes it.

The body must be deterministic: everything it decides comes from its input
state and from step results. Time, randomness and I/O live in steps (a timer's
duration alone reads the clock: see `_Segment._timer_due_at`).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from resonate.context import Context
from resonate.error import Suspended
from resonate.retry import Exponential, Never

from workflows import failpoints
from workflows.llm import LlmOutcome
from workflows.ports import Reply
from workflows.prompts import (
    ASK_FOR_REQUEST,
    EXPIRED_NOTICE,
    FINISH_NOW,
    NUDGE_CUT,
    NUDGE_EMPTY,
    budget_question,
    cancelled_notice,
    failure_notice,
    outage_notice,
    parked_notice,
    reminder,
    replies_message,
    request_message,
    research_done_line,
    research_line,
    strip_sentinel,
    system_prompt,
    usage_footer,
)
from workflows.steps import PLAN_FOOTER_SEPARATOR
from workflows.tools.outcomes import is_tool_error
from workflows.services import TripServices
from workflows.versions import TripVersions
from workflows.tool_calls import (
    FINISH_TOOL,
    FINISH_TOOL_SPEC,
    BrokenToolCall,
    parse_tool_call,
    trim_for_transcript,
)
from workflows.transcript import compact_history

logger = logging.getLogger(__name__)

#: The name every version of the trip workflow is registered under.
TRIP_WORKFLOW = "trip"

#: Longer than any trip; the SDK caps it at the trip's own deadline.
_UNTIL_TRIP_DEADLINE = timedelta(days=36_500)
#: From v2 a trip ends this long before its deadline, not at it: the SDK caps
#: every timer and promise of the trip at the deadline, so a trip still open
#: then loses its own promise in the same tick and can no longer tell its
#: thread. An hour (or 5 % of a short lifetime) is time enough to post the
#: notice and mark the trip expired, through a Slack outage of minutes.
_EXPIRY_MARGIN_MS = 3_600_000
_EXPIRY_MARGIN_SHARE = 0.05
_NO_RETRY = Never()
#: Posting rides out a Slack outage for ~10 minutes per attempt; the body then
#: retries the same post (same key, so still exactly once) after a durable sleep.
_POST_RETRY = Exponential(delay=1, factor=2, max_delay=60, max_retries=12)
#: Asks again after an empty answer, or after one cut off at the output limit,
#: before the thread is told; each ask is its own durable LLM step.
_RETRIES_AFTER = {"empty": 2, "cut": 1}
_NUDGES = {"empty": NUDGE_EMPTY, "cut": NUDGE_CUT}


@dataclass(slots=True)
class TripState:
    """What a segment hands its successor; stored durably, so kept compact."""

    trip_id: str
    thread: dict[str, str]
    starter: str
    request: str
    today: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    turn: int = 0
    segment: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    budget_level: int = 0  # times people chose to continue past the budget
    finishing: bool = False  # people asked for the plan with what we have
    last_question: str = ""
    expires_at: int = 0  # epoch ms the trip ends at if it is still open (v2; 0: not known yet)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TripState:
        known = set(cls.__slots__)  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})


def new_trip_state(
    trip_id: str, thread: dict[str, str], starter: str, request: str, today: str
) -> dict[str, Any]:
    return TripState(trip_id, dict(thread), starter, request.strip(), today).to_dict()


class ThreadUnavailable(Exception):
    """The trip's thread can never be posted to again (archived, token revoked)."""


class _Cancelled(Exception):
    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


class _Stopped(Exception):
    """The surface took the trip away (the app was uninstalled): end it
    without a word, since nothing can be posted there any more."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Expired(Exception):
    """The trip's lifetime ended (from v2 also while it was busy)."""


def expiry_moment(deadline_ms: int, started_ms: int) -> int:
    """When a trip that started at `started_ms` ends if still open (epoch ms)."""
    lifetime = max(deadline_ms - started_ms, 0)
    return deadline_ms - min(_EXPIRY_MARGIN_MS, int(lifetime * _EXPIRY_MARGIN_SHARE))


class _Segment:
    """One segment's run of the loop; methods are awaited in body order.

    `version` is the workflow version running it. Each version keeps its exact
    sequence of durable steps, since segments suspended on it replay that
    sequence: v1 as first released; v2 also knows its deadline (`expires_at`)
    and ends before it, with the extra `now_step`s that needs."""

    def __init__(self, ctx: Context, state: TripState, version: int) -> None:
        self.ctx = ctx
        self.s = state
        self.svc = ctx.get_dependency(TripServices)
        self.knows_deadline = version >= 2
        self.closing = False  # ending the trip: its last posts may take any time left
        self.posts = 0
        self.turns_here = 0
        self.steps_here = 0

    # -- durable building blocks -------------------------------------------------

    def _leaf(self, retry: Any = _NO_RETRY) -> Context:
        return self.ctx.options(timeout=_UNTIL_TRIP_DEADLINE, retry_policy=retry)

    async def post(
        self,
        kind: str,
        text: str,
        trip_fields: dict[str, Any] | None = None,
        *,
        key: str = "",
        choices: tuple[str, ...] = (),
        failpoint: str = "",
    ) -> str:
        """Post once; an outage longer than the step's retries waits and retries.

        Returns the post's key (pass it back to rewrite the same post).
        `failpoint` names this post for the crash tests (workflows/failpoints.py)."""
        if not key:
            self.posts += 1
            key = f"{self.ctx.info.id}/{kind}{self.posts}"
        attempt = 0
        while True:
            try:
                trip = (self.s.trip_id, trip_fields) if trip_fields is not None else None
                named = {"failpoint": failpoint} if failpoint else {}
                failure = await self._leaf(_POST_RETRY).run(
                    "post_step", kind, self.s.thread, text, key, trip, choices, **named
                )
                if failure:
                    raise ThreadUnavailable(failure)
                return key
            except ThreadUnavailable:
                raise
            except Exception:
                attempt += 1
                logger.exception("posting %s failed; retrying after a pause", key)
                await self.pause(timedelta(minutes=min(5 * attempt, 30)))

    async def durably(self, step: str, *args: Any) -> Any:
        """Run a bookkeeping step (registry, timers) until it succeeds.

        Each attempt already retries for minutes (`_POST_RETRY`); if the
        registry stays down longer, the trip sleeps durably and tries again
        (a new step each time) instead of dying with the error."""
        attempt = 0
        while True:
            try:
                return await self._leaf(_POST_RETRY).run(step, *args)
            except Exception:
                attempt += 1
                logger.exception("step %s of trip %s failed; retrying after a pause", step, self.s.trip_id)
                await self.pause(timedelta(minutes=min(5 * attempt, 30)))

    async def show_state(self, state: str, plan_key: str = "") -> None:
        await self.durably("show_state_step", self.s.trip_id, self.s.thread, state, plan_key)

    # -- the trip's deadline (v2) -------------------------------------------------

    async def now_ms(self) -> int:
        return int(await self._leaf().run("now_step"))

    async def time_left(self) -> timedelta:
        """Until the trip expires, on the store's clock, read as a durable step
        so every replay takes the same branch."""
        return timedelta(milliseconds=self.s.expires_at - await self.now_ms())

    async def bounded_timer(self, pause: timedelta, then: str) -> tuple[Any, str]:
        """A durable timer for a quiet phase of `pause`, and what its firing
        means. From v2 the phase ends `pause` after a recorded now, or at the
        trip's expiry if that comes first (then "expire"); no life left:
        expire now."""
        if not self.knows_deadline:
            return self.ctx.sleep(pause), then
        now = await self.now_ms()
        if now >= self.s.expires_at:
            raise _Expired
        due = now + int(pause.total_seconds() * 1000)
        if due >= self.s.expires_at:
            due, then = self.s.expires_at, "expire"
        return self._timer_due_at(due), then

    def _timer_due_at(self, due_ms: int) -> Any:
        """A durable timer due at `due_ms` (epoch ms).

        The SDK makes a timer due at its clock's now plus the duration, read
        when the timer is first created; a replay creates it again, which
        changes nothing. So the duration comes from the clock right now, not
        from the recorded one: time that passed between recording "now" and
        creating the timer (a crash and a restart there) does not make it late."""
        live_ms = int(self.svc.clock() * 1000)
        return self.ctx.sleep(timedelta(milliseconds=max(due_ms - live_ms, 0)))

    async def still_alive(self) -> None:
        """After a timer: if the trip's life ran out meanwhile (the process was
        down, the clock jumped), expire instead of acting on a stale timer."""
        if self.knows_deadline and await self.time_left() <= timedelta(0):
            raise _Expired

    async def pause(self, duration: timedelta) -> None:
        """A durable sleep; from v2 never past the trip's expiry: a pause that
        reaches it ends the trip (unless the trip is already ending)."""
        if not self.knows_deadline or self.closing:
            await self.ctx.sleep(duration)
            return
        timer, then = await self.bounded_timer(duration, "wake")
        try:
            await timer
        except Exception:  # a timer rejected (an engine ending the trip's promises): ended all the same
            logger.info("a pause of trip %s ended by rejection", self.s.trip_id, exc_info=True)
            raise _Expired from None
        if then == "expire":
            raise _Expired

    async def first_settled(self, *futures: Any) -> tuple[int, bool]:
        """The index of the first of `futures` to settle, and whether it was
        rejected, the same on every replay.

        All pending: suspend until one settles. The observation is recorded as
        a step, because a replay could otherwise see a later state (both
        settled) and take the other branch. v1 records the index alone and
        takes a rejection for a settlement; v2 records a rejection of future i
        as `len(futures) + i`.
        """
        observed, rejected = -1, False
        for i, future in enumerate(futures):
            try:
                await future
            except Suspended:
                continue
            except Exception:  # settled by rejection (a promise that timed out)
                logger.debug("awaited promise %d settled by rejection", i)
                rejected = self.knows_deadline
            observed = i
            break
        if observed < 0:
            raise Suspended()
        recorded = int(await self._leaf().run("choice_step", observed + len(futures) * rejected))
        return recorded % len(futures), recorded >= len(futures)

    async def wait_for_replies(self) -> list[Reply]:
        """Wait for people. Remind once after a quiet period, park the trip
        after a further one, close it at its end; any reply wakes it.
        The timers are durable (Resonate sleeps): no process has to live."""
        while True:
            p = self.ctx.promise(timeout=_UNTIL_TRIP_DEADLINE)  # its own argument; options are ignored
            promise_id = await p.id()
            await self.durably("publish_waiter_step", self.s.trip_id, promise_id)
            try:
                parked = await self._quiet_phases(p)
            except _Expired:
                if self.knows_deadline:
                    # Nobody waits for replies any more: settle their promise, or
                    # the SDK keeps the ended segment open until the promise times out.
                    self.closing = True
                    await self.durably("cancel_timer_step", promise_id)
                raise
            claimed = await self.durably("claim_step", self.s.trip_id)
            if parked:
                await self.show_state("active")
            if claimed:
                return [Reply.from_dict(r) for r in claimed]

    async def _quiet_phases(self, p: Any) -> bool:
        """Remind, park, expire, until the reply promise `p` settles; True if
        the trip was parked meanwhile."""
        settings = self.svc.settings
        parked = False
        phases = (
            (timedelta(hours=settings.remind_after_hours), "remind"),
            (timedelta(hours=settings.park_after_hours), "park"),
            (_UNTIL_TRIP_DEADLINE, "expire"),
        )
        for pause, then in phases:
            timer, then = await self.bounded_timer(pause, then)
            winner, rejected = await self.first_settled(p, timer)
            if rejected:  # an engine that times promises out (Postgres) ended the wait
                await self.durably("cancel_timer_step", await timer.id())
                raise _Expired
            if winner == 0:
                await self.durably("cancel_timer_step", await timer.id())
                break
            if then == "expire":
                raise _Expired
            await self.still_alive()
            if then == "remind":
                await self.post("notice", reminder(self.s.last_question), failpoint="reminder_post")
            elif then == "park":
                hours = settings.remind_after_hours + settings.park_after_hours
                await self.post("notice", parked_notice(hours), failpoint="park_post")
                await self.show_state("parked")
                parked = True
        return parked

    def take(self, replies: list[Reply]) -> bool:
        """Apply what people sent; True if any of it was words for the LLM."""
        words = [r for r in replies if r.kind == "message"]
        for r in replies:
            if r.kind == "stop":
                raise _Stopped(r.text)
            if r.kind == "cancel":
                raise _Cancelled(r.author)
            if r.kind == "finish":
                self.s.finishing = True
            elif r.kind == "continue" and self._over_budget():
                self.s.budget_level += 1  # a second click on the same question counts once
        if words:
            self.s.messages.append({"role": "user", "content": replies_message(words)})
            self.s.turn += 1
            self.turns_here += 1
        return bool(words)

    async def ask_and_wait(self, question: str, choices: tuple[str, ...] = ()) -> list[Reply]:
        self.s.last_question = question
        fields = {"state": "waiting", "last_question": question, "usage": self.s.usage}
        await self.post("ask", question, fields, choices=choices)
        replies = await self.wait_for_replies()
        self.take(replies)
        return replies

    async def call_llm(self, extra: list[dict[str, Any]], tools: list[dict[str, Any]]) -> LlmOutcome:
        if self.s.finishing:
            extra = [*extra, {"role": "user", "content": FINISH_NOW}]
            tools = [FINISH_TOOL_SPEC]
        messages = [
            {"role": "system", "content": system_prompt(self.s.today, self.svc.untrusted_rule)},
            *self.s.messages,
            *extra,
        ]
        raw = await self._leaf().run("llm_step", self.s.trip_id, self.s.thread, messages, tools)
        self.steps_here += 1
        outcome = LlmOutcome.from_dict(raw)
        if outcome.failure == "control":
            return outcome  # not called: nothing to count
        self._count("llm_calls", 1)
        for name, value in outcome.usage.items():
            self._count(name, value)
        return outcome

    def _count(self, name: str, value: int) -> None:
        self.s.usage[name] = self.s.usage.get(name, 0) + value

    # -- the loop ----------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        try:
            if self.knows_deadline and not self.s.expires_at:  # the first v2 segment of the trip
                self.s.expires_at = expiry_moment(self.ctx.info.timeout_at, await self.now_ms())
            return await self._loop()
        except _Stopped as stop:
            self.closing = True
            logger.info("trip %s stopped without a word: %s", self.s.trip_id, stop.reason)
            await self.durably("trip_state_step", self.s.trip_id, {"state": "cancelled", "last_question": ""})
            return {"status": "stopped", "reason": stop.reason, "usage": self.s.usage}
        except _Cancelled as cancel:
            self.closing = True
            await self.post("notice", cancelled_notice(cancel.by), {"last_question": ""})
            await self.show_state("cancelled")
            return {"status": "cancelled", "by": cancel.by, "usage": self.s.usage}
        except _Expired:
            self.closing = True
            await self.post("notice", EXPIRED_NOTICE, {"last_question": ""})
            await self.show_state("expired")
            return {"status": "expired", "usage": self.s.usage}

    async def _loop(self) -> dict[str, Any]:
        while not self.s.messages:
            if self.s.request:
                self.s.messages.append(
                    {"role": "user", "content": request_message(self.s.starter, self.s.request)}
                )
                break
            await self.ask_and_wait(ASK_FOR_REQUEST)
            if self.s.messages:  # words, not only a control
                self.s.request = self.s.messages.pop()["content"]
        specs = [*self.svc.tool_specs, FINISH_TOOL_SPEC]
        unusable = ""  # the failure kind of the answers asked again in a row
        retries = 0
        outage_told = False
        outages = 0
        while True:
            if self._segment_is_full():
                return await self.hand_over()
            if not self.s.finishing and self._over_budget():
                level = self.s.budget_level
                await self.ask_and_wait(budget_question(self.s.usage, self._caps()), choices=("continue", "finish"))
                if not self.s.finishing and self.s.budget_level == level:
                    self.s.budget_level += 1  # any answer but "finish" means go on
                continue
            extra = [{"role": "user", "content": _NUDGES[unusable]}] if unusable else []
            outcome = await self.call_llm(extra, specs)
            if outcome.failure == "control":
                claimed = await self.durably("claim_step", self.s.trip_id)
                self.take([Reply.from_dict(r) for r in claimed])
                continue
            if outcome.failure == "transient":
                outages += 1
                if not outage_told:
                    await self.post("notice", outage_notice(outcome.detail, self.svc.settings.provider_retry_minutes))
                    outage_told = True
                await self.pause(timedelta(minutes=self.svc.settings.provider_retry_minutes * min(outages, 5)))
                continue
            outage_told, outages = False, 0
            if outcome.failure in _RETRIES_AFTER:
                retries = retries + 1 if outcome.failure == unusable else 1
                unusable = outcome.failure
                if retries <= _RETRIES_AFTER[unusable]:
                    continue
            unusable, retries = "", 0
            if outcome.failure is not None:
                await self.ask_and_wait(failure_notice(outcome.failure, outcome.detail))
                continue
            message = outcome.message or {"role": "assistant", "content": ""}
            self.s.messages.append(trim_for_transcript(message))
            calls = message.get("tool_calls") or []
            if calls:
                plan = await self.run_tools(calls, specs)
                if plan is not None:
                    return await self.finish(plan)
                continue
            text, complete = strip_sentinel(message.get("content") or "")
            if complete or self.s.finishing:
                return await self.finish(text)
            await self.ask_and_wait(text)

    def _caps(self) -> tuple[int, int, int]:
        settings, scale = self.svc.settings, self.s.budget_level + 1
        return (settings.max_llm_calls * scale, settings.max_tokens * scale, settings.max_tool_calls * scale)

    def _budget_level_used(self) -> int:
        """The budget level current usage has reached (0: within the first)."""
        settings, usage = self.svc.settings, self.s.usage
        tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        return max(
            usage.get("llm_calls", 0) // settings.max_llm_calls,
            tokens // settings.max_tokens,
            usage.get("tool_calls", 0) // settings.max_tool_calls,
        )

    def _over_budget(self) -> bool:
        return self._budget_level_used() > self.s.budget_level

    async def run_tools(self, calls: list[dict[str, Any]], specs: list[dict[str, Any]]) -> str | None:
        """Run one research round; returns the plan if the LLM finished.

        The round shows as one line in the thread, rewritten in place when the
        round is done."""
        parsed = [parse_tool_call(c, specs) for c in calls]
        runnable = [p for p in parsed if not isinstance(p, BrokenToolCall) and p.name != FINISH_TOOL]
        round_calls = [(p.name, p.arguments) for p in runnable]
        line_key = await self.post("progress", research_line(round_calls)) if runnable else ""
        futures = {
            p.call_id: self._leaf().run("tool_step", p) for p in runnable
        }
        finish_plan: str | None = None
        failed: list[bool] = []
        for p in parsed:
            if isinstance(p, BrokenToolCall):
                content = p.error
            elif p.name == FINISH_TOOL:
                finish_plan = str(p.arguments["plan"])
                content = "The plan has been posted to the team."
            else:
                content = await futures[p.call_id]
                failed.append(is_tool_error(content) or content.startswith("Error:"))
                self._count("tool_calls", 1)
                self.steps_here += 1
            self.s.messages.append({"role": "tool", "tool_call_id": p.call_id, "content": content})
        if line_key:
            await self.post("progress_done", research_done_line(round_calls, failed), key=line_key)
        return finish_plan

    async def finish(self, plan: str) -> dict[str, Any]:
        plan = strip_sentinel(plan)[0]
        footer = usage_footer(self.s.usage, self.svc.settings.price_per_mtok)
        key = await self.post(
            "plan", plan + PLAN_FOOTER_SEPARATOR + footer, {"last_question": "", "usage": self.s.usage}
        )
        await self.show_state("done", plan_key=key)
        return {"status": "done", "plan": plan, "usage": self.s.usage}

    def _segment_is_full(self) -> bool:
        limits = self.svc.settings
        return self.turns_here >= limits.turns_per_segment or self.steps_here >= limits.steps_per_segment

    async def hand_over(self) -> dict[str, Any]:
        """Start the successor with a compacted state and end this segment."""
        self.s.messages = compact_history(self.s.messages, self.svc.settings.context_chars)
        self.s.segment += 1
        await failpoints.reached_async("before:handover")
        successor = await self.ctx.options(
            timeout=_UNTIL_TRIP_DEADLINE, version=self.svc.versions.current
        ).detached(TRIP_WORKFLOW, self.s.to_dict())
        await failpoints.reached_async("after:handover")  # successor exists, this segment not yet done
        return {"status": "continued", "successor": successor}


async def _run_segment(ctx: Context, state: dict[str, Any], version: int) -> dict[str, Any]:
    # A private copy: the SDK hands every replay the same decoded arguments.
    segment = _Segment(ctx, TripState.from_dict(copy.deepcopy(state)), version)
    try:
        return await segment.run()
    except ThreadUnavailable as exc:
        # Nobody can read this trip any more: stop instead of retrying forever.
        await segment._leaf(_POST_RETRY).run(
            "trip_state_step", segment.s.trip_id, {"state": "failed", "last_question": ""}
        )
        return {"status": "failed", "reason": str(exc), "usage": segment.s.usage}


async def trip_v1(ctx: Context, state: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of the trip workflow (one segment of a trip): a quiet trip
    waits for its deadline, where the SDK ends its promises before it can
    say so. Kept for segments suspended on it."""
    return await _run_segment(ctx, state, 1)


async def trip_v2(ctx: Context, state: dict[str, Any]) -> dict[str, Any]:
    """Version 2: the trip ends before its deadline (`expiry_moment`), quiet
    or busy, telling its thread; a wait an engine times out ends it too."""
    return await _run_segment(ctx, state, 2)


TRIP_VERSIONS = TripVersions(registered={1: trip_v1, 2: trip_v2}, current=2)
