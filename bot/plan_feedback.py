"""The 👍/👎 under every plan version: a `context_actions` block with
Slack's `feedback_buttons` element, and how a click on it reads.

Each button's `value` carries its vote and the plan version it sits under
("positive:2"), so a click needs no lookup to know what it is about; the
trip comes from the thread the message is in."""

from __future__ import annotations

import re
from typing import Any

from workflows.feedback import LABELS, NEGATIVE, POSITIVE

#: block_actions `action_id` of the feedback buttons.
FEEDBACK_ACTION = "plan_feedback"
_VALUE = re.compile(rf"^({'|'.join(LABELS)}):([1-9][0-9]{{0,5}})$")


def feedback_block(version: int) -> dict[str, Any]:
    """The block that goes at the end of a plan version's last message."""

    def button(label: str, text: str, spoken: str) -> dict[str, Any]:
        return {
            "text": {"type": "plain_text", "text": text},
            "value": f"{label}:{version}",
            "accessibility_label": spoken,
        }

    return {
        "type": "context_actions",
        "block_id": f"plan_feedback_v{version}",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": button(POSITIVE, "👍", f"This plan (v{version}) is good"),
                "negative_button": button(NEGATIVE, "👎", f"This plan (v{version}) needs work"),
            }
        ],
    }


def read_feedback_value(value: str) -> tuple[str, int] | None:
    """(label, version) of a clicked button's value; None if it is not ours."""
    match = _VALUE.match(value or "")
    if match is None:
        return None
    return match.group(1), int(match.group(2))


__all__ = ["FEEDBACK_ACTION", "feedback_block", "read_feedback_value"]
