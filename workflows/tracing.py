"""A trip's traces, in the OpenTelemetry GenAI conventions.

One trace per trip: its id is derived from the trip id, so every segment,
every process that ran a part of it, and a feedback click days later land on
the same trace. Spans:

- `invoke_workflow trip`: one per segment, a root span whose id is derived
  from the segment's promise id. It is emitted when the segment ends (a
  segment can wait for people for days, across processes), with the start
  its state recorded (`TripState.started_at_ms`).
- `chat {model}`: one per LLM request, made by the openai-v2 instrumentation
  (processes/telemetry.py) inside the LLM step, as a child of its segment.
- `execute_tool {name}`: one per search or page read.
- `post {kind}`: one per post to the thread; `wait_for_people`: from the
  moment the trip began to wait (its record's last change) to the claim of
  the replies that ended the wait.

Spans are made only inside leaf steps, which run once: a replayed step (its
result read from durable state) runs no code, so a resumed trip reports no
phantom LLM call. Only the OpenTelemetry API is used here: without a tracer
provider (no `OTEL_EXPORTER_OTLP_ENDPOINT`) every call is a no-op.

Message and tool contents are recorded only when
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` (or one of the
span modes opentelemetry-util-genai names), the variable the openai-v2
instrumentation reads for the LLM messages.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import get_logger
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from resonate.context import Context

CAPTURE_CONTENT_VAR = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
AGENT_NAME = "travel-planner"
WORKFLOW_SPAN = "invoke_workflow trip"
WAIT_SPAN = "wait_for_people"
EVALUATION_EVENT = "gen_ai.evaluation.result"

_tracer = trace.get_tracer("travel_planner")
#: Segments whose span this process sent (oldest first), see `record_segment`.
_recorded_segments: dict[str, None] = {}
_RECORDED_SEGMENTS_KEPT = 10_000
_logger = get_logger("travel_planner")

#: Ids a span about to start must take (see `chosen_ids`); read by the id
#: generator processes/telemetry.py installs.
_chosen: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("chosen_ids", default=None)


def enabled() -> bool:
    """Whether a tracer provider is installed (else every span is a no-op)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def wall_clock_ms() -> int:
    """Wall time for a span's start only: it decides nothing, so a replay that
    reads another value changes no durable step."""
    return time.time_ns() // 1_000_000


#: Values of CAPTURE_CONTENT_VAR that record contents on spans: "true" (the
#: conventions' switch) and the span modes of opentelemetry-util-genai.
CONTENT_ON_SPANS = ("true", "span_only", "span_and_event")


def capture_content(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(CAPTURE_CONTENT_VAR, "").strip().lower() in CONTENT_ON_SPANS


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1  # 0 is the invalid id


def trip_trace_id(trip_id: str) -> int:
    return _digest(f"trip:{trip_id}", 16)


def segment_span_id(segment_id: str) -> int:
    return _digest(f"segment:{segment_id}", 8)


def chosen_trace_id() -> int | None:
    chosen = _chosen.get()
    return chosen[0] if chosen else None


def chosen_span_id() -> int | None:
    chosen = _chosen.get()
    return chosen[1] if chosen else None


@contextlib.contextmanager
def chosen_ids(trace_id: int, span_id: int) -> Iterator[None]:
    token = _chosen.set((trace_id, span_id))
    try:
        yield
    finally:
        _chosen.reset(token)


def _segment_context(trip_id: str, segment_id: str) -> otel_context.Context:
    parent = SpanContext(
        trace_id=trip_trace_id(trip_id),
        span_id=segment_span_id(segment_id),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


@contextlib.contextmanager
def in_segment(ctx: Context) -> Iterator[None]:
    """Inside a leaf step: spans started here (ours and the openai
    instrumentation's) are children of the step's segment, on the trip's trace."""
    token = otel_context.attach(_segment_context(ctx.info.origin_id, ctx.info.parent_id))
    try:
        yield
    finally:
        otel_context.detach(token)


def _conversation(ctx: Context) -> dict[str, str]:
    return {gen_ai.GEN_AI_CONVERSATION_ID: ctx.info.origin_id}


@contextlib.contextmanager
def tool_span(ctx: Context, name: str, call_id: str, arguments: Mapping[str, Any]) -> Iterator[trace.Span]:
    attributes = {
        **_conversation(ctx),
        gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value,
        gen_ai.GEN_AI_TOOL_NAME: name,
        gen_ai.GEN_AI_TOOL_CALL_ID: call_id,
        gen_ai.GEN_AI_TOOL_TYPE: "function",
    }
    if capture_content():
        attributes[gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS] = json.dumps(dict(arguments), ensure_ascii=False)
    with _tracer.start_as_current_span(f"execute_tool {name}", kind=SpanKind.INTERNAL, attributes=attributes) as span:
        yield span


def tool_result(span: trace.Span, result: str, *, failed: bool) -> None:
    if capture_content():
        span.set_attribute(gen_ai.GEN_AI_TOOL_CALL_RESULT, result)
    if failed:
        span.set_attribute("error.type", "tool_error")
        span.set_status(Status(StatusCode.ERROR, result[:200]))


def failed(span: trace.Span, reason: str) -> None:
    span.set_status(Status(StatusCode.ERROR, reason[:200]))


@contextlib.contextmanager
def post_span(ctx: Context, kind: str, key: str) -> Iterator[trace.Span]:
    attributes = {**_conversation(ctx), "travel_planner.post.kind": kind, "travel_planner.post.key": key}
    with _tracer.start_as_current_span(f"post {kind}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def record_wait(ctx: Context, since: float, replies: int, state: str) -> None:
    """The wait for people that the claim of `replies` ends (`since`: epoch s)."""
    span = _tracer.start_span(
        WAIT_SPAN,
        start_time=int(since * 1e9),
        attributes={**_conversation(ctx), "travel_planner.replies": replies, "travel_planner.waited_in": state},
    )
    span.end()


def record_segment(ctx: Context, segment: int, started_at_ms: int, outcome: Mapping[str, Any]) -> None:
    """The segment's `invoke_workflow trip` span, once its body has returned.

    Its id is the one its steps' spans name as their parent. The SDK may replay
    a finished body to its end again before it stores the result: a process
    sends each segment's span once. (A crash in that window makes the next
    process send it again, with the same ids.)"""
    trip_id, segment_id = ctx.info.origin_id, ctx.info.id
    if segment_id in _recorded_segments:
        return
    _recorded_segments[segment_id] = None
    while len(_recorded_segments) > _RECORDED_SEGMENTS_KEPT:
        del _recorded_segments[next(iter(_recorded_segments))]
    now_ns = time.time_ns()
    start_ns = started_at_ms * 1_000_000 if 0 < started_at_ms * 1_000_000 <= now_ns else now_ns
    status = str(outcome.get("status", ""))
    attributes = {
        **_conversation(ctx),
        gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.INVOKE_WORKFLOW.value,
        gen_ai.GEN_AI_WORKFLOW_NAME: "trip",
        gen_ai.GEN_AI_AGENT_NAME: AGENT_NAME,
        "travel_planner.segment": segment,
        "travel_planner.outcome": status,
    }
    with chosen_ids(trip_trace_id(trip_id), segment_span_id(segment_id)):
        span = _tracer.start_span(
            WORKFLOW_SPAN, context=otel_context.Context(), kind=SpanKind.INTERNAL, start_time=start_ns,
            attributes=attributes,
        )
    if status == "failed":
        span.set_status(Status(StatusCode.ERROR, str(outcome.get("reason", ""))[:200]))
    span.end(end_time=now_ns)


def record_evaluation(trip_id: str, *, name: str, label: str, score: float, explanation: str = "") -> None:
    """A person's judgement of the trip's plan, as a `gen_ai.evaluation.result`
    event on the trip's trace."""
    root = SpanContext(
        trace_id=trip_trace_id(trip_id),
        span_id=segment_span_id(trip_id),  # the first segment's promise id is the trip id
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    attributes: dict[str, Any] = {
        gen_ai.GEN_AI_CONVERSATION_ID: trip_id,
        gen_ai.GEN_AI_EVALUATION_NAME: name,
        gen_ai.GEN_AI_EVALUATION_SCORE_LABEL: label,
        gen_ai.GEN_AI_EVALUATION_SCORE_VALUE: score,
    }
    if explanation:
        attributes[gen_ai.GEN_AI_EVALUATION_EXPLANATION] = explanation
    _logger.emit(
        event_name=EVALUATION_EVENT,
        context=trace.set_span_in_context(NonRecordingSpan(root)),
        attributes=attributes,
    )
