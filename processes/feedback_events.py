"""Feedback on plans as OpenTelemetry evaluation events: each 👍/👎 that
changed a vote becomes a `gen_ai.evaluation.result` event on the trip's
trace (`workflows.tracing.record_evaluation`), so a trace viewer shows how
people judged each plan version next to the calls that wrote it."""

from __future__ import annotations

from workflows import tracing
from workflows.feedback import POSITIVE, Feedback

#: `gen_ai.evaluation.name` of these events.
EVALUATION_NAME = "plan_feedback"


class EvaluationEvents:
    """`workflows.feedback.FeedbackObserver` that emits evaluation events."""

    def feedback_recorded(self, feedback: Feedback) -> None:
        tracing.record_evaluation(
            feedback.trip_id,
            name=EVALUATION_NAME,
            label=feedback.label,
            score=1.0 if feedback.label == POSITIVE else 0.0,
            explanation=f"plan v{feedback.version}",
        )


def feedback_observer() -> EvaluationEvents | None:
    """The observer to plug in: only when traces are exported (processes/telemetry.py)."""
    return EvaluationEvents() if tracing.enabled() else None


__all__ = ["EVALUATION_NAME", "EvaluationEvents", "feedback_observer"]
