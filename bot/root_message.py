"""The channel message a trip's thread hangs off: who asked for what, the
trip's state, and its controls (buttons) while it runs."""

from __future__ import annotations

from typing import Any

from bot.formatting import SlackMessage, escape_mrkdwn, neutralise_mentions
from workflows.ports import RUNNING_STATES

#: block_actions ids of the root message's buttons (and the budget question's).
FINISH_ACTION = "trip_finish"
CANCEL_ACTION = "trip_cancel"
CONTINUE_ACTION = "trip_continue"
CHOICE_ACTIONS = {"finish": FINISH_ACTION, "cancel": CANCEL_ACTION, "continue": CONTINUE_ACTION}
CHOICE_LABELS = {"finish": "Finish with what you have", "cancel": "Cancel trip", "continue": "Continue"}

#: States in which the trip can still be steered.


def _state_line(state: str, plan_link: str, plan_version: int = 0) -> str:
    if state in ("done", "closed") and plan_version > 1:
        see = f"<{plan_link}|see plan v{plan_version}>" if plan_link else f"plan v{plan_version} in the thread"
        if state == "closed":
            return f"✅ *Plan ready*: {see}. Closed for changes."
        return f"✅ *Plan ready*: {see}. Reply in the thread to change it."
    if state == "closed":
        return f"✅ *Plan ready*: <{plan_link}|see the plan>. Closed for changes." if plan_link else "✅ *Closed.*"
    if state == "done" and plan_version:
        see = f"<{plan_link}|see the plan>" if plan_link else "in the thread"
        return f"✅ *Plan ready*: {see}. Reply in the thread to change it."
    if state == "parked":
        return "💤 *Parked*: no answer for a while. Reply in the thread to wake it up."
    if state == "done":
        return f"✅ *Plan ready*: <{plan_link}|see the plan>" if plan_link else "✅ *Plan ready* in the thread."
    if state == "cancelled":
        return "🛑 *Cancelled.*"
    if state == "expired":
        return "⌛ *Closed*: the planning window ended."
    if state == "failed":
        return "⚠️ *Stopped*: I can no longer post in this thread."
    return "🗺️ Planning in the thread: anyone here can answer."


def choice_buttons(choices: tuple[str, ...] | list[str], value: str = "") -> dict[str, Any]:
    """An actions block with one button per choice (continue, finish, cancel)."""
    elements = []
    for choice in choices:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": CHOICE_ACTIONS[choice],
            "text": {"type": "plain_text", "text": CHOICE_LABELS[choice]},
            "value": value or choice,
        }
        if choice == "continue":
            button["style"] = "primary"
        if choice == "cancel":
            button["style"] = "danger"
            button["confirm"] = {
                "title": {"type": "plain_text", "text": "Cancel this trip?"},
                "text": {"type": "plain_text", "text": "The planner stops and the thread is closed."},
                "confirm": {"type": "plain_text", "text": "Cancel trip"},
                "deny": {"type": "plain_text", "text": "Keep planning"},
            }
        elements.append(button)
    return {"type": "actions", "block_id": "trip_controls", "elements": elements}


def root_message(
    starter: str, request: str, state: str = "active", plan_link: str = "", plan_version: int = 0
) -> SlackMessage:
    who = f"<@{starter}>" if starter else "someone"
    headline = f"Trip planning started by {who}"
    if request:
        headline += f": {escape_mrkdwn(neutralise_mentions(request))}"
    else:
        headline += "."
    status = _state_line(state, plan_link, plan_version)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": status}]},
    ]
    if state in RUNNING_STATES:
        blocks.append(choice_buttons(("finish", "cancel")))
    return SlackMessage(text=f"{headline}\n{status}"[:3000], blocks=blocks)
