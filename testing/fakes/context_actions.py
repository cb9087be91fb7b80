"""The fake Slack's check of a `context_actions` block, as strict as Slack's
block kit reference (https://docs.slack.dev/reference/block-kit/blocks/context-actions-block,
.../block-elements/feedback-buttons-element): 1 to 5 elements, each a
`feedback_buttons` (action_id up to 255 characters; a positive and a negative
button, each with plain_text text up to 75 characters and a value up to 2000)
or an `icon_button`. Anything else is Slack's `invalid_blocks`."""

from __future__ import annotations

from typing import Any

_BUTTON_KEYS = frozenset({"text", "value", "accessibility_label"})
_FEEDBACK_KEYS = frozenset({"type", "action_id", "positive_button", "negative_button"})


#: A button's value, at most (Slack's block kit limit, every kind of button).
MAX_BUTTON_VALUE = 2000


def button_text_error(text: Any) -> bool:
    """Whether Slack refuses this as a button's label: plain_text of 1 to 75 characters."""
    if not isinstance(text, dict) or text.get("type") != "plain_text":
        return True
    return not isinstance(text.get("text"), str) or not 1 <= len(text["text"]) <= 75


def context_actions_error(block: dict[str, Any], action_ids: set[str]) -> str | None:
    """Why Slack would refuse this `context_actions` block, or None. Its
    action_ids join `action_ids`, the message's, which must stay unique (the
    block_id is checked with every block's)."""
    if set(block) - {"type", "elements", "block_id"}:
        return "invalid_blocks"
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 5:
        return "invalid_blocks"
    for element in elements:
        if not isinstance(element, dict):
            return "invalid_blocks"
        if element.get("type") == "icon_button":
            continue
        if element.get("type") != "feedback_buttons" or set(element) - _FEEDBACK_KEYS:
            return "invalid_blocks"
        action_id = element.get("action_id")
        if not isinstance(action_id, str) or not 1 <= len(action_id) <= 255 or action_id in action_ids:
            return "invalid_blocks"
        action_ids.add(action_id)
        for side in ("positive_button", "negative_button"):
            if _button_error(element.get(side)):
                return "invalid_blocks"
    return None


def _button_error(button: Any) -> bool:
    if not isinstance(button, dict) or set(button) - _BUTTON_KEYS or button_text_error(button.get("text")):
        return True
    if len(str(button.get("accessibility_label", ""))) > 75:
        return True
    value = button.get("value")
    return not isinstance(value, str) or not 1 <= len(value) <= MAX_BUTTON_VALUE


__all__ = ["MAX_BUTTON_VALUE", "button_text_error", "context_actions_error"]
