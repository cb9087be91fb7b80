"""👍/👎 under a plan version (`block_actions` of the `feedback_buttons`).

Stored before the ack, as a team vote's clicks are: the vote goes per
(trip, plan version, person) into the registry's `FeedbackBook` (one local
or Redis write), so a crash before Slack is answered loses nothing (Slack
sends the click again, and it lands once). A second click by the same person
replaces their vote, and the same click again (a double click, Slack's
retry) changes nothing. If storing fails there is no ack: Slack tells the
person the click failed, and they can click again. A vote that changed something is told to the `FeedbackObserver`
(an evaluation event on the trip's trace, processes/telemetry.py)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.listeners.actions import read_click, stored_before_ack
from bot.plan_feedback import FEEDBACK_ACTION, read_feedback_value
from bot.services import BotServices
from workflows.feedback import Feedback


def register(app: AsyncApp, services: BotServices) -> None:
    app.action(FEEDBACK_ACTION)(stored_before_ack(services, handle_feedback, "after:feedback_click"))


async def handle_feedback(services: BotServices, body: dict[str, Any], action: dict[str, Any]) -> str:
    """Store one click; returns "recorded", "same" (nothing changed) or "ignored"."""
    click = read_click(body)
    vote = read_feedback_value(str(action.get("value") or ""))
    if click is None or vote is None or services.feedback is None:
        services.logger.warning("a feedback click without team/channel/thread/user or a value of ours; ignored")
        return "ignored"
    trip_id = click.trip_id
    if await services.directory.get_trip(trip_id) is None:
        return "ignored"
    label, version = vote
    feedback = Feedback(trip_id=trip_id, version=version, user=click.user, label=label)
    if not await services.feedback.record_feedback(feedback):
        return "same"
    services.logger.info("feedback %s on plan v%d of %s by %s", label, version, trip_id, click.user)
    if services.feedback_observer is not None:
        try:
            services.feedback_observer.feedback_recorded(feedback)
        except Exception as exc:  # telemetry is decoration
            services.logger.warning("the feedback observer failed for %s: %r", trip_id, exc)
    return "recorded"


__all__ = ["handle_feedback", "register"]
