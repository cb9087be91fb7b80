"""The trip workflow: the agent loop, durable on Resonate.

A trip runs as a chain of segments. Each segment is a workflow that carries
the loop for a few human turns, then hands a compacted state to a successor
(`ctx.detached`) and finishes. The SDK replays a workflow body from the top on
every resume, so bounding a segment bounds the work per resume, however long
the conversation gets. The reply promise stays reachable through the thread
registry, whichever segment publishes it.

The body must be deterministic: everything it decides comes from its input
state and from step results. Time, randomness and I/O live in steps (a timer's
duration alone reads the clock: see workflows/segment_time.py).
"""

from __future__ import annotations

import copy
import logging
from datetime import timedelta
from typing import Any

from resonate.context import Context
from resonate.retry import Exponential

from workflows import failpoints, plan_revisions, tracing
from workflows.itinerary.finish import POSTED, FinishedPlan, finished_plan
from workflows.llm import LlmOutcome
from workflows.ports import Reply
from workflows.posts import Ask, Notice, Plan, Post, Progress, ProgressDone
from workflows.prompts import (
    ASK_FOR_REQUEST,
    EXPIRED_NOTICE,
    FINISH_AS_TEXT,
    FINISH_NOW,
    NUDGE_CUT,
    PLAN_REFUSED_NOTICE,
    PLAN_TRIES,
    PLAN_TRIES_BEFORE_TEXT,
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
from workflows.segment_time import UNTIL_TRIP_DEADLINE, SegmentTime, TripExpired, expiry_moment, leaf
from workflows.services import TripServices
from workflows.team_votes import TeamVotes
from workflows.steps import (
    CANCEL_TIMER_STEP,
    CLAIM_STEP,
    LLM_STEP,
    POST_STEP,
    PUBLISH_WAITER_STEP,
    SHOW_STATE_STEP,
    TOOL_STEP,
    TRIP_STATE_STEP,
)
from workflows.tools.outcomes import is_tool_error
from workflows.trip_state import TripState
from workflows.usage import token_count
from workflows.versions import TripVersions
from workflows.tool_calls import (
    FINISH_TOOL,
    FINISH_TEXT_SPEC,
    FINISH_TOOL_SPEC,
    BrokenToolCall,
    parse_tool_call,
    trim_for_transcript,
)
from workflows.transcript import compact_in_steps, total_chars
from workflows.votes import VOTE_TOOL, VOTE_TOOL_SPEC

logger = logging.getLogger(__name__)

#: The name every version of the trip workflow is registered under.
TRIP_WORKFLOW = "trip"

#: A step that posts or keeps the books rides out a Slack or registry outage
#: for ~10 minutes per attempt; the body then runs it again after a durable
#: sleep (a post under the same key, so still exactly once).
_OUTAGE_RETRY = Exponential(delay=1, factor=2, max_delay=60, max_retries=12)
#: Asks again after an empty answer, or after one cut off at the output limit,
#: before the thread is told; each ask is its own durable LLM step.
_RETRIES_AFTER = {"empty": 2, "cut": 1}
_NUDGES = {"empty": NUDGE_EMPTY, "cut": NUDGE_CUT}


class ThreadUnavailable(Exception):
    """The trip's thread can never be posted to again (archived, token revoked)."""


class _Cancelled(Exception):
    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


class _Closed(Exception):
    """Someone said `@bot close` after a plan: the trip takes no more changes."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by = by


class _Stopped(Exception):
    """The surface took the trip away (the app was uninstalled): end it
    without a word, since nothing can be posted there any more."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Segment:
    """One segment's run of the loop; methods are awaited in body order.

    `version` is the workflow version running it. Each version keeps its exact
    sequence of durable steps, since segments suspended on it replay that
    sequence: v1 as first released; v2 also knows its deadline (`expires_at`)
    and ends before it, with the extra `now_step`s that needs; v3 also takes
    changes after a plan (workflows/plan_revisions.py): the plan's segment
    starts a successor that waits for a change with the lifetime timer only."""

    def __init__(self, ctx: Context, state: TripState, version: int) -> None:
        self.ctx = ctx
        self.s = state
        self.svc = ctx.get_dependency(TripServices)
        self.time = SegmentTime(ctx, state, self.svc.clock, knows_deadline=version >= 2)
        self.takes_changes = version >= 3
        self.posts = 0
        self.turns_here = 0
        self.steps_here = 0
        self.votes = TeamVotes(self)

    # -- durable building blocks -------------------------------------------------

    async def post(
        self,
        post: Post,
        trip_fields: dict[str, Any] | None = None,
        *,
        key: str = "",
        failpoint: str = "",
    ) -> str:
        """Post once (an outage is waited out: `durably`).

        Returns the post's key (pass it back to rewrite the same post).
        `failpoint` names this post for the crash tests (workflows/failpoints.py)."""
        key = key or self.new_key(post.kind)
        trip = (self.s.trip_id, trip_fields) if trip_fields is not None else None
        named = {"failpoint": failpoint} if failpoint else {}
        failure = await self.durably(POST_STEP, post, self.s.thread, key, trip, **named)
        if failure:
            raise ThreadUnavailable(failure)
        return key

    def new_key(self, kind: str) -> str:
        """The key of this segment's next new post of `kind`."""
        self.posts += 1
        return f"{self.ctx.info.id}/{kind}{self.posts}"

    async def durably(self, step: str, *args: Any, **kwargs: Any) -> Any:
        """Run a step that talks to Slack or the registry until it succeeds.

        Each attempt already retries for minutes (`_OUTAGE_RETRY`); if the
        outage lasts longer, the trip sleeps durably and tries again (a new
        step each time) instead of dying with the error."""
        attempt = 0
        while True:
            try:
                return await leaf(self.ctx, _OUTAGE_RETRY).run(step, *args, **kwargs)
            except Exception:
                attempt += 1
                logger.exception("step %s of trip %s failed; retrying after a pause", step, self.s.trip_id)
                await self.time.pause(timedelta(minutes=min(5 * attempt, 30)))

    async def show_state(self, state: str, plan_key: str = "") -> None:
        await self.durably(SHOW_STATE_STEP, self.s.trip_id, self.s.thread, state, plan_key)

    async def wait_for_replies(self, *, quiet_timers: bool = True) -> list[Reply]:
        """Wait for people. Remind once after a quiet period, park the trip
        after a further one, close it at its end; any reply wakes it.
        The timers are durable (Resonate sleeps): no process has to live.
        Without `quiet_timers` (a plan waiting for changes) only the end counts."""
        while True:
            p = self.ctx.promise(timeout=UNTIL_TRIP_DEADLINE)  # its own argument; options are ignored
            promise_id = await p.id()
            await self.durably(PUBLISH_WAITER_STEP, self.s.trip_id, promise_id)
            try:
                parked = await self._quiet_phases(p, quiet_timers)
            except TripExpired:
                if self.time.knows_deadline:
                    # Nobody waits for replies any more: settle their promise, or
                    # the SDK keeps the ended segment open until the promise times out.
                    self.time.closing = True
                    await self.durably(CANCEL_TIMER_STEP, promise_id)
                raise
            if self.votes.deadline_fired:  # a vote's deadline, not a reply, ended the wait
                await self.durably(CANCEL_TIMER_STEP, promise_id)
            claimed = await self.durably(CLAIM_STEP, self.s.trip_id)
            if parked:
                await self.show_state("active")
            replies, vote_closed = await self.votes.absorb([Reply.from_dict(r) for r in claimed])
            if replies or vote_closed:
                return replies

    async def _quiet_phases(self, p: Any, quiet_timers: bool = True) -> bool:
        """Remind, park, expire, until the reply promise `p` settles; True if
        the trip was parked meanwhile."""
        settings = self.svc.settings
        parked = False
        phases = (
            (timedelta(hours=settings.remind_after_hours), "remind"),
            (timedelta(hours=settings.park_after_hours), "park"),
            (UNTIL_TRIP_DEADLINE, "expire"),
        ) if quiet_timers else ((UNTIL_TRIP_DEADLINE, "expire"),)
        for pause, then in phases:
            timer, then = await self.time.bounded_timer(pause, then)
            vote_timers = self.votes.timers()  # none unless a vote is open
            winner, rejected = await self.time.first_settled(p, timer, *vote_timers)
            if vote_timers and winner != 2:
                await self.durably(CANCEL_TIMER_STEP, await vote_timers[0].id())
            if rejected:  # an engine that times promises out (Postgres) ended the wait
                await self.durably(CANCEL_TIMER_STEP, await timer.id())
                raise TripExpired
            if winner != 1:  # a reply (or a vote's deadline: `votes.timers`)
                await self.durably(CANCEL_TIMER_STEP, await timer.id())
                if winner == 2:
                    self.votes.deadline_came()
                break
            if then == "expire":
                raise TripExpired
            await self.time.still_alive()
            if then == "remind":
                await self.post(Notice(reminder(self.s.last_question)), failpoint="reminder_post")
            elif then == "park":
                hours = settings.remind_after_hours + settings.park_after_hours
                await self.post(Notice(parked_notice(hours)), failpoint="park_post")
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
            if r.kind == "close" and self.s.plan_version:
                raise _Closed(r.author)
            if r.kind == "finish":
                self.s.finishing, self.s.broken_plans = True, 0  # its tries count from here
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
        await self.post(Ask(question, choices), fields)
        replies = await self.wait_for_replies()
        self.take(replies)
        return replies

    async def call_llm(self, extra: list[dict[str, Any]], tools: list[dict[str, Any]]) -> LlmOutcome:
        if self.s.finishing:
            extra = [*extra, {"role": "user", "content": FINISH_NOW}]
            tools = [FINISH_TOOL_SPEC]
            if self.takes_changes and self.s.broken_plans >= PLAN_TRIES_BEFORE_TEXT:
                extra.append({"role": "user", "content": FINISH_AS_TEXT})
                tools = [FINISH_TEXT_SPEC]
        # Edited rarely and in one go, so requests share their prefix (workflows/transcript.py).
        budget = self.svc.settings.context_chars - total_chars(extra)
        self.s.messages = compact_in_steps(self.s.messages, budget)
        system = system_prompt(self.s.today, self.svc.untrusted_rule)
        if self.s.plan_version:  # a change after the plan: the planner sees the plan it wrote
            system += "\n\n" + plan_revisions.plan_context(self.s.plan_version, self.s.plan)
        messages = [
            {"role": "system", "content": system},
            *self.s.messages,
            *extra,
        ]
        raw = await leaf(self.ctx).run(LLM_STEP, self.s.trip_id, self.s.thread, messages, tools)
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
            if self.time.knows_deadline and not self.s.expires_at:  # the first v2 segment of the trip
                self.s.expires_at = expiry_moment(self.ctx.info.timeout_at, await self.time.now_ms())
            return await self._loop()
        except _Stopped as stop:
            self.time.closing = True
            logger.info("trip %s stopped without a word: %s", self.s.trip_id, stop.reason)
            await self.durably(TRIP_STATE_STEP, self.s.trip_id, {"state": "cancelled", "last_question": ""})
            return {"status": "stopped", "reason": stop.reason, "usage": self.s.usage}
        except _Cancelled as cancel:
            self.time.closing = True
            await self.post(Notice(cancelled_notice(cancel.by)), {"last_question": ""})
            await self.votes.close_all("the trip was cancelled")
            await self.show_state("cancelled")
            return {"status": "cancelled", "by": cancel.by, "usage": self.s.usage}
        except _Closed as close:
            return await self._end_planned(plan_revisions.closed_notice(close.by, self.s.plan_version), close.by)
        except TripExpired:
            if self.s.plan_version:  # planned: nothing failed, the plan stays, changes stop
                return await self._end_planned(plan_revisions.lifetime_over_notice(self.s.plan_version), "")
            self.time.closing = True
            await self.post(Notice(EXPIRED_NOTICE), {"last_question": ""})
            await self.votes.close_all("the trip ended")
            await self.show_state("expired")
            return {"status": "expired", "usage": self.s.usage}

    async def _end_planned(self, notice: str, by: str) -> dict[str, Any]:
        """End a trip that has a plan (closed, or its lifetime over): the plan stays."""
        self.time.closing = True
        await self.post(Notice(notice), {"last_question": ""})
        await self.votes.close_all("the trip was closed")
        await self.show_state("closed", plan_key=self.s.plan_key)
        return {"status": "closed", "by": by, "plan": self.s.plan, "usage": self.s.usage}

    async def _loop(self) -> dict[str, Any]:
        if self.s.awaiting_changes:
            await self.wait_for_changes()
        while not self.s.messages:
            if self.s.request:
                self.s.messages.append(
                    {"role": "user", "content": request_message(self.s.starter, self.s.request)}
                )
                break
            await self.ask_and_wait(ASK_FOR_REQUEST)
            if self.s.messages:  # words, not only a control
                self.s.request = self.s.messages.pop()["content"]
        specs = [*self.svc.tool_specs, VOTE_TOOL_SPEC, FINISH_TOOL_SPEC]
        unusable = ""  # the failure kind of the answers asked again in a row
        retries = 0
        outage_told = False
        outages = 0
        while True:
            if self._segment_is_full():
                return await self.hand_over()
            if self.s.finishing and self.takes_changes and self.s.broken_plans >= PLAN_TRIES:
                # No budget question while finishing: this bounds a model that cannot write the plan.
                self.s.finishing, self.s.broken_plans = False, 0
                await self.ask_and_wait(PLAN_REFUSED_NOTICE)
                continue
            if not self.s.finishing and self._over_budget():
                level = self.s.budget_level
                replies = await self.ask_and_wait(budget_question(self.s.usage, self._caps()), choices=("continue", "finish"))
                while not replies:  # only a vote closed: the question still waits for its answer
                    replies = await self.wait_for_replies()
                    self.take(replies)
                if not self.s.finishing and self.s.budget_level == level:
                    self.s.budget_level += 1  # any answer but "finish" means go on
                continue
            extra = [{"role": "user", "content": _NUDGES[unusable]}] if unusable else []
            outcome = await self.call_llm(extra, specs)
            if outcome.failure == "control":
                claimed = await self.durably(CLAIM_STEP, self.s.trip_id)
                replies, _ = await self.votes.absorb([Reply.from_dict(r) for r in claimed])
                self.take(replies)
                continue
            if outcome.failure == "transient":
                outages += 1
                if not outage_told:
                    await self.post(Notice(outage_notice(outcome.detail, self.svc.settings.provider_retry_minutes)))
                    outage_told = True
                await self.time.pause(timedelta(minutes=self.svc.settings.provider_retry_minutes * min(outages, 5)))
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
                    return await self.finish(plan.text, plan.itinerary)
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
        tokens = token_count(usage)
        return max(
            usage.get("llm_calls", 0) // settings.max_llm_calls,
            tokens // settings.max_tokens,
            usage.get("tool_calls", 0) // settings.max_tool_calls,
        )

    def _over_budget(self) -> bool:
        return self._budget_level_used() > self.s.budget_level

    async def run_tools(self, calls: list[dict[str, Any]], specs: list[dict[str, Any]]) -> FinishedPlan | None:
        """Run one research round; returns the plan if the LLM finished.

        The round shows as one line in the thread, rewritten in place when the
        round is done."""
        parsed = [parse_tool_call(c, specs) for c in calls]
        runnable = [p for p in parsed if not isinstance(p, BrokenToolCall) and p.name not in (FINISH_TOOL, VOTE_TOOL)]
        round_calls = [(p.name, p.arguments) for p in runnable]
        line_key = await self.post(Progress(research_line(round_calls))) if runnable else ""
        futures = {
            p.call_id: leaf(self.ctx).run(TOOL_STEP, p) for p in runnable
        }
        finish_plan: FinishedPlan | None = None
        failed: list[bool] = []
        for p in parsed:
            if isinstance(p, BrokenToolCall):
                content = p.error
                if p.name == FINISH_TOOL and self.takes_changes:
                    self.s.broken_plans += 1
            elif p.name == FINISH_TOOL:
                finished = finished_plan(FINISH_TOOL, p.arguments)  # a broken plan goes back to the LLM
                content = finished if isinstance(finished, str) else POSTED
                finish_plan = finish_plan if isinstance(finished, str) else finished
                if self.takes_changes:
                    self.s.broken_plans = self.s.broken_plans + 1 if isinstance(finished, str) else 0
            elif p.name == VOTE_TOOL:
                content = await self.votes.open_vote(p)
            else:
                content = await futures[p.call_id]
                failed.append(is_tool_error(content) or content.startswith("Error:"))
                self._count("tool_calls", 1)
                self.steps_here += 1
            self.s.messages.append({"role": "tool", "tool_call_id": p.call_id, "content": content})
        if line_key:
            await self.post(ProgressDone(research_done_line(round_calls, failed)), key=line_key)
        return finish_plan

    async def finish(self, plan: str, itinerary: dict[str, Any] | None = None) -> dict[str, Any]:
        plan = strip_sentinel(plan)[0]
        footer = usage_footer(self.s.usage, self.svc.settings.price_per_mtok)
        await self.votes.close_all("the plan was made")
        version = self.s.plan_version + 1  # v1/v2: always 1
        fields: dict[str, Any] = {"last_question": "", "usage": self.s.usage}
        if self.takes_changes:
            fields["plan_versions"] = version
        key = await self.post(Plan(plan, footer, itinerary, version), fields)
        await self.show_state("done", plan_key=key)
        if not self.takes_changes:  # v1/v2: the trip ends at its plan
            return {"status": "done", "plan": plan, "usage": self.s.usage}
        self.s.plan_version, self.s.plan, self.s.plan_key = version, plan, key
        self.s.awaiting_changes, self.s.finishing, self.s.last_question = True, False, ""
        handed = await self.hand_over()  # the successor waits for changes; this segment's work stays bounded
        return {"status": "done", "plan": plan, "version": version, "usage": self.s.usage,
                "successor": handed["successor"]}

    async def wait_for_changes(self) -> None:
        """After a plan: wait, with only the trip's lifetime timer (no reminder,
        no parking), until someone asks for a change; `@bot close` ends the trip."""
        while True:
            replies = await self.wait_for_replies(quiet_timers=False)
            if self.take(replies):
                self.s.awaiting_changes = False
                return

    def _segment_is_full(self) -> bool:
        limits = self.svc.settings
        return self.turns_here >= limits.turns_per_segment or self.steps_here >= limits.steps_per_segment

    async def hand_over(self) -> dict[str, Any]:
        """Start the successor with a compacted state and end this segment."""
        self.s.messages = compact_in_steps(self.s.messages, self.svc.settings.context_chars)
        self.s.segment += 1
        self.s.started_at_ms = tracing.wall_clock_ms()
        await failpoints.reached_async("before:handover")
        successor = await self.ctx.options(
            timeout=UNTIL_TRIP_DEADLINE, version=self.svc.versions.current
        ).detached(TRIP_WORKFLOW, self.s.to_dict())
        await failpoints.reached_async("after:handover")  # successor exists, this segment not yet done
        return {"status": "continued", "successor": successor}


async def _run_segment(ctx: Context, state: dict[str, Any], version: int) -> dict[str, Any]:
    # A private copy: the SDK hands every replay the same decoded arguments.
    segment = _Segment(ctx, TripState.from_dict(copy.deepcopy(state)), version)
    number, started_at_ms = segment.s.segment, segment.s.started_at_ms
    try:
        outcome = await segment.run()
    except ThreadUnavailable as exc:
        # Nobody can read this trip any more: stop instead of retrying forever.
        await leaf(ctx, _OUTAGE_RETRY).run(
            TRIP_STATE_STEP, segment.s.trip_id, {"state": "failed", "last_question": ""}
        )
        outcome = {"status": "failed", "reason": str(exc), "usage": segment.s.usage}
    tracing.record_segment(ctx, number, started_at_ms, outcome)
    return outcome


async def trip_v1(ctx: Context, state: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of the trip workflow (one segment of a trip): a quiet trip
    waits for its deadline, where the SDK ends its promises before it can
    say so. Kept for segments suspended on it."""
    return await _run_segment(ctx, state, 1)


async def trip_v2(ctx: Context, state: dict[str, Any]) -> dict[str, Any]:
    """Version 2: the trip ends before its deadline (`expiry_moment`), quiet
    or busy, telling its thread; a wait an engine times out ends it too."""
    return await _run_segment(ctx, state, 2)


async def trip_v3(ctx: Context, state: dict[str, Any]) -> dict[str, Any]:
    """Version 3: after a plan the trip takes changes (a revised "Plan v2",
    ...) until its lifetime ends or someone says `@bot close`."""
    return await _run_segment(ctx, state, 3)


TRIP_VERSIONS = TripVersions(registered={1: trip_v1, 2: trip_v2, 3: trip_v3}, current=3)
