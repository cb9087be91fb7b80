"""The trip's leaf steps: each runs once, and its result is stored durably.

Arguments are not stored (so clients and whole transcripts may be passed);
results are, so they hold only what is new. A step that talks to people
passes a `key` that is stable for the logical post, so the chat port can post
exactly once even if the step runs again after a crash.

Each step is registered under the name its constant holds (`LLM_STEP` for
`llm_step`, ...), and the trip's body runs it by that constant. The names are
stored with every promise of a step: they never change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from resonate.context import Context

from workflows import failpoints, tracing
from workflows.failpoints import boundary
from workflows.llm import LlmOutcome
from workflows.ports import INTERRUPTS, ChatPort, Inbox, PostFailed, Reply, ThreadRef
from workflows.posts import Ask, Notice, Plan, Post, Progress, ProgressDone, Vote
from workflows.services import TripServices
from workflows.tool_calls import ToolCall
from workflows.text import scrub, scrub_text
from workflows.tools.outcomes import is_tool_error

logger = logging.getLogger(__name__)

THINKING_STATUS = "is thinking…"
RESEARCH_STATUS = "is searching the web…"


LLM_STEP = "llm_step"


@boundary(LLM_STEP)
async def llm_step(
    ctx: Context, trip_id: str, thread: ThreadRef, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    """One LLM call, unless people asked to cancel or finish: then no call at all."""
    svc = ctx.get_dependency(TripServices)
    waiting = await svc.inbox.unclaimed_replies(trip_id)
    controls = sorted({r.kind for r in waiting if r.kind in INTERRUPTS})
    if controls:
        return LlmOutcome(failure="control", detail=",".join(controls)).to_dict()
    await svc.chat.set_status(thread, THINKING_STATUS)
    with tracing.in_segment(ctx):  # the model's `chat {model}` spans (processes/telemetry.py)
        outcome: LlmOutcome = await svc.model.complete(messages, tools, svc.settings.context_chars)
    return scrub(outcome.to_dict())  # a lone surrogate from the model could never be stored


TOOL_STEP = "tool_step"


@boundary(TOOL_STEP)
async def tool_step(ctx: Context, call: ToolCall) -> str:
    with tracing.in_segment(ctx), tracing.tool_span(ctx, call.name, call.call_id, call.arguments) as span:
        result = await _run_tool(ctx.get_dependency(TripServices), call)
        tracing.tool_result(span, result, failed=is_tool_error(result) or result.startswith("Error:"))
    return result


async def _run_tool(svc: TripServices, call: ToolCall) -> str:
    try:
        if call.name == "internet_search":
            return scrub_text(await svc.tools.internet_search(
                str(call.arguments["search_query"]), int(call.arguments.get("num_results", 5))
            ))
        if call.name == "scrape_website":
            return scrub_text(await svc.tools.scrape_website(str(call.arguments["url"])))
    except Exception as exc:  # a tool bug must not end the trip; the LLM reads why
        logger.exception("tool %s failed unexpectedly", call.name)
        return f"Error: the tool {call.name} failed unexpectedly ({type(exc).__name__})."
    return f"Error: unknown tool {call.name!r}."


POST_STEP = "post_step"


@boundary(POST_STEP)
async def post_step(
    ctx: Context,
    post: Post,
    thread: ThreadRef,
    key: str,
    trip: tuple[str, dict[str, Any]] | None = None,
) -> str:
    """Post to the thread through the chat port (exactly once per key).

    `trip` = (trip_id, fields) also records the trip's new state, in the same
    step so a turn costs one durable step less. Returns "" once posted, or why
    the thread can never be posted to; a transient failure raises (retried).
    """
    svc = ctx.get_dependency(TripServices)
    with tracing.in_segment(ctx), tracing.post_span(ctx, post.kind, key) as span:
        try:
            await _post(svc.chat, thread, post, key)
        except PostFailed as exc:
            if not exc.permanent:
                raise
            logger.error("cannot post to the thread of %s: %s", key, exc)
            tracing.failed(span, str(exc))
            return str(exc)
    await failpoints.reached_async(f"after:chat_{post.kind}")  # posted; the trip record not updated yet
    if trip is not None:
        await svc.directory.update_trip(trip[0], **trip[1])
    return ""


async def _post(chat: ChatPort, thread: ThreadRef, post: Post, key: str) -> None:
    match post:
        case Ask(question, choices):
            await chat.ask(thread, question, key=key, choices=choices)
        case Progress(text):
            await chat.set_status(thread, RESEARCH_STATUS)
            await chat.progress(thread, text, key=key)
            return
        case ProgressDone(text):
            await chat.progress_done(thread, text, key=key)
            return
        case Plan():
            await chat.final_plan(thread, post, key=key)
        case Notice(text):
            await chat.notice(thread, text, key=key)
        case Vote(view):
            await chat.vote(thread, view, key=key)
    await chat.set_status(thread, "")  # the turn is people's now


SHOW_STATE_STEP = "show_state_step"


@boundary(SHOW_STATE_STEP)
async def show_state_step(ctx: Context, trip_id: str, thread: ThreadRef, state: str, plan_key: str) -> None:
    """Record the trip's state and show it where people find the trip."""
    svc = ctx.get_dependency(TripServices)
    await svc.directory.update_trip(trip_id, state=state)
    trip = await svc.directory.get_trip(trip_id)
    if trip is not None:
        try:
            await svc.chat.show_state(thread, state, trip=trip, plan_key=plan_key)
        except PostFailed as exc:  # cosmetic: the thread itself says it all
            logger.warning("could not show state %s of %s: %s", state, trip_id, exc)


CHOICE_STEP = "choice_step"


@boundary(CHOICE_STEP)
async def choice_step(ctx: Context, winner: int) -> int:
    """Record which of several awaited things happened first, so every replay
    follows the branch the first execution took."""
    return winner


CANCEL_TIMER_STEP = "cancel_timer_step"


@boundary(CANCEL_TIMER_STEP)
async def cancel_timer_step(ctx: Context, timer_id: str) -> None:
    """Settle a timer (or a reply promise) nobody needs any more, so nothing waits on it."""
    svc = ctx.get_dependency(TripServices)
    await svc.engine.resolve(timer_id)


NOW_STEP = "now_step"


@boundary(NOW_STEP)
async def now_step(ctx: Context) -> int:
    """The time now (epoch ms) on the clock the durable store keeps time by,
    recorded so every replay of the workflow reads the same moment."""
    svc = ctx.get_dependency(TripServices)
    return int(svc.clock() * 1000)


TRIP_STATE_STEP = "trip_state_step"


@boundary(TRIP_STATE_STEP)
async def trip_state_step(ctx: Context, trip_id: str, fields: dict[str, Any]) -> None:
    svc = ctx.get_dependency(TripServices)
    await svc.directory.update_trip(trip_id, **fields)


PUBLISH_WAITER_STEP = "publish_waiter_step"


@boundary(PUBLISH_WAITER_STEP)
async def publish_waiter_step(ctx: Context, trip_id: str, promise_id: str) -> bool:
    """Publish the reply promise; resolve it at once if replies already wait."""
    svc = ctx.get_dependency(TripServices)
    waiting = await svc.inbox.publish_waiter(trip_id, promise_id)
    if waiting:
        await svc.engine.resolve(promise_id)
    return waiting


#: Replies that arrive in one burst (two people at once, a message and its
#: quick follow-up, Slack delivering a pair out of order) are read together:
#: the claim waits until the inbox has been still this long, at most
#: `GATHER_MAX_SECONDS`. Nothing waits when the inbox is empty.
GATHER_QUIET_SECONDS = 0.1
GATHER_MAX_SECONDS = 1.0
_GATHER_POLL_SECONDS = 0.02


async def _gather_burst(inbox: Inbox, trip_id: str) -> None:
    count = len(await inbox.unclaimed_replies(trip_id))
    if not count:
        return
    loop = asyncio.get_running_loop()
    started = still_since = loop.time()
    while loop.time() - started < GATHER_MAX_SECONDS:
        await asyncio.sleep(_GATHER_POLL_SECONDS)
        now = len(await inbox.unclaimed_replies(trip_id))
        if now != count:
            count, still_since = now, loop.time()
        elif loop.time() - still_since >= GATHER_QUIET_SECONDS:
            return


CLAIM_STEP = "claim_step"


@boundary(CLAIM_STEP)
async def claim_step(ctx: Context, trip_id: str) -> list[dict[str, str]]:
    """Take the replies that arrived (a burst together); idempotent under this step's own id."""
    svc = ctx.get_dependency(TripServices)
    await _gather_burst(svc.inbox, trip_id)
    waited = await svc.directory.get_trip(trip_id) if tracing.enabled() else None
    replies = await svc.inbox.claim_replies(trip_id, claim_id=ctx.info.id)
    if replies and waited is not None and waited.state in ("waiting", "parked"):
        with tracing.in_segment(ctx):
            tracing.record_wait(ctx, waited.updated_at, len(replies), waited.state)
    if replies:
        await svc.directory.update_trip(trip_id, state="active")
    # Replies handled concurrently can reach the inbox a hair out of order;
    # the surface's own timestamps say who spoke first.
    return [r.to_dict() for r in sorted(replies, key=_spoken_at)]


def _spoken_at(reply: Reply) -> float:
    try:
        return float(reply.ts)
    except ValueError:
        return float("inf")  # unknown: keep arrival order (the sort is stable)


#: Leaf steps are registered by name, so the SDK builds each one's
#: DurableFunction once instead of on every `ctx.run` (~0.25 ms a step).
STEPS = {
    LLM_STEP: llm_step,
    TOOL_STEP: tool_step,
    POST_STEP: post_step,
    TRIP_STATE_STEP: trip_state_step,
    SHOW_STATE_STEP: show_state_step,
    CHOICE_STEP: choice_step,
    CANCEL_TIMER_STEP: cancel_timer_step,
    PUBLISH_WAITER_STEP: publish_waiter_step,
    CLAIM_STEP: claim_step,
    NOW_STEP: now_step,
}
