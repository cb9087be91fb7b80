"""Modals in the fake Slack: what views.open accepts, trigger_ids, and the
view_submission a person's submit sends.

As Slack does (slack_sdk.models.views.View and models.blocks, and the
views.open reference):

- a modal has `type: "modal"`, a plain_text `title` of 1-24 characters,
  `submit` / `close` of at most 24 (a modal with input blocks needs
  `submit`), a `callback_id` of at most 255, 1-100 blocks and
  `private_metadata` of at most 3000 characters;
- an input block has a plain_text `label` of 1-2000 characters, an optional
  `hint` of at most 2000, and one `element` of an input type, with an
  `action_id` of at most 255 and a `placeholder` of at most 150;
- a trigger_id works once (`exchanged_trigger_id`) and for 3 seconds
  (`expired_trigger_id`); one Slack never issued is `invalid_trigger_id`.

A submission carries the answers in `view.state.values[block_id][action_id]`
(`value`, `selected_date`, `selected_conversation`, ...). Slack's client
checks what it can before it sends one: a required input cannot be left
empty, a number_input takes a number within its bounds, a datepicker a date,
a text input at most its max_length. `view_submission` refuses to build
what the client would not send, so a test cannot rely on Slack sending it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlencode

#: How long Slack accepts a trigger_id.
TRIGGER_SECONDS = 3.0

MAX_TITLE, MAX_BUTTON_TEXT, MAX_CALLBACK_ID, MAX_VIEW_BLOCKS, MAX_METADATA = 24, 24, 255, 100, 3000
MAX_LABEL, MAX_HINT, MAX_ACTION_ID, MAX_BLOCK_ID, MAX_PLACEHOLDER = 2000, 2000, 255, 255, 150

#: Input elements, and the key a submission holds each one's answer under.
ANSWER_KEYS = {
    "plain_text_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "number_input": "value",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "static_select": "selected_option",
}
_CONVERSATION_KINDS = frozenset({"im", "mpim", "private", "public"})


class ViewError(Exception):
    """What Slack answers (`ok: false, error: ...`) to a view it refuses."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.error = error


def _plain_text(value: Any, limit: int, what: str, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, dict) or value.get("type") != "plain_text":
        raise ViewError("invalid_arguments", f"{what} must be a plain_text object")
    text = value.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        raise ViewError("invalid_arguments", f"{what} must have 1-{limit} characters")


def check_modal(view: Any) -> None:
    """Raise `ViewError` for a modal views.open would refuse (the view itself; its blocks: `check_input_block`)."""
    if not isinstance(view, dict) or view.get("type") != "modal":
        raise ViewError("invalid_arguments", "view.type must be modal")
    _plain_text(view.get("title"), MAX_TITLE, "title")
    _plain_text(view.get("submit"), MAX_BUTTON_TEXT, "submit", required=False)
    _plain_text(view.get("close"), MAX_BUTTON_TEXT, "close", required=False)
    if len(str(view.get("callback_id") or "")) > MAX_CALLBACK_ID:
        raise ViewError("invalid_arguments", "callback_id too long")
    if len(str(view.get("private_metadata") or "")) > MAX_METADATA:
        raise ViewError("invalid_arguments", "private_metadata too long")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= MAX_VIEW_BLOCKS:
        raise ViewError("invalid_arguments", f"a modal needs 1-{MAX_VIEW_BLOCKS} blocks")
    if any(isinstance(b, dict) and b.get("type") == "input" for b in blocks) and view.get("submit") is None:
        raise ViewError("invalid_arguments", "a modal with input blocks needs submit")
    block_ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(block_ids) != len(set(block_ids)):
        raise ViewError("invalid_arguments", "duplicate block_id")


def check_input_block(block: dict[str, Any]) -> None:
    """Raise `ViewError("invalid_blocks")` for an input block Slack would refuse."""
    try:
        _plain_text(block.get("label"), MAX_LABEL, "label")
        _plain_text(block.get("hint"), MAX_HINT, "hint", required=False)
    except ViewError as exc:
        raise ViewError("invalid_blocks", str(exc)) from exc
    if len(str(block.get("block_id") or "")) > MAX_BLOCK_ID:
        raise ViewError("invalid_blocks", "block_id too long")
    element = block.get("element")
    if not isinstance(element, dict) or element.get("type") not in ANSWER_KEYS:
        raise ViewError("invalid_blocks", f"unknown input element {element!r:.80}")
    if len(str(element.get("action_id") or "")) > MAX_ACTION_ID:
        raise ViewError("invalid_blocks", "action_id too long")
    if element.get("placeholder") is not None:
        try:
            _plain_text(element["placeholder"], MAX_PLACEHOLDER, "placeholder")
        except ViewError as exc:
            raise ViewError("invalid_blocks", str(exc)) from exc
    kind = element["type"]
    if kind == "number_input" and not isinstance(element.get("is_decimal_allowed"), bool):
        raise ViewError("invalid_blocks", "number_input needs is_decimal_allowed")
    if kind == "plain_text_input" and not 0 < int(element.get("max_length", 3000)) <= 3000:
        raise ViewError("invalid_blocks", "plain_text_input max_length must be 1-3000")
    if kind == "conversations_select" and "filter" in element:
        include = (element["filter"] or {}).get("include")
        if include is not None and (not include or not set(include) <= _CONVERSATION_KINDS):
            raise ViewError("invalid_blocks", "filter.include must name im, mpim, private or public")


class TriggerIds:
    """The trigger_ids the fake put in interaction payloads: each works once, within 3 s."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._issued: dict[str, tuple[str, float]] = {}  # trigger id -> (user, when)
        self._used: set[str] = set()
        self._n = itertools.count(1)

    def issue(self, user: str, *, age: float = 0.0) -> str:
        trigger = f"{next(self._n)}.{int(time.time())}.{uuid.uuid4().hex}"
        with self._lock:
            self._issued[trigger] = (user, self._clock() - age)
        return trigger

    def take(self, trigger: str) -> str:
        """Use `trigger`; its user. Raises `ViewError` as Slack answers."""
        with self._lock:
            if trigger not in self._issued:
                raise ViewError("invalid_trigger_id")
            if trigger in self._used:
                raise ViewError("exchanged_trigger_id")
            user, issued = self._issued[trigger]
            if self._clock() - issued > TRIGGER_SECONDS:
                raise ViewError("expired_trigger_id")
            self._used.add(trigger)
            return user


def _answer(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """One input's entry in `state.values`, as Slack's client would send it (or ValueError)."""
    kind = element["type"]
    text = None if value is None else str(value)
    if kind == "datepicker" and text is not None:
        dt.date.fromisoformat(text)  # the picker only gives dates
    if kind == "number_input" and text is not None:
        number = float(text) if element.get("is_decimal_allowed") else int(text)
        low, high = element.get("min_value"), element.get("max_value")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            raise ValueError(f"{number} is outside {low}..{high}: Slack's client does not submit it")
    if kind == "plain_text_input" and text is not None and len(text) > int(element.get("max_length", 3000)):
        raise ValueError("longer than the input's max_length: Slack's client does not submit it")
    return {"type": kind, ANSWER_KEYS[kind]: text}


def view_submission(opened: dict[str, Any], answers: dict[str, Any], *, user: str, trigger_id: str) -> str:
    """The view_submission body (form, `payload=` JSON) for the modal `opened`
    (as `FakeSlackWebAPI.opened_views` keeps it) submitted with `answers`."""
    view = opened["view"]
    inputs = {b["block_id"]: b for b in view["blocks"] if b.get("type") == "input" and b.get("block_id")}
    unknown = set(answers) - set(inputs)
    if unknown:
        raise ValueError(f"no input blocks {sorted(unknown)} in the view")
    values: dict[str, Any] = {}
    for block_id, block in inputs.items():
        value = answers.get(block_id)
        if value in (None, "") and not block.get("optional"):
            raise ValueError(f"{block_id} is required: Slack's client does not submit the form without it")
        element = block["element"]
        values[block_id] = {element["action_id"]: _answer(element, None if value == "" else value)}
    team = opened["team"]
    payload = {
        "type": "view_submission",
        "team": {"id": team, "domain": "test"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": view["app_id"],
        "token": "verification-token",
        "trigger_id": trigger_id,
        "view": {**view, "state": {"values": values}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


__all__ = ["ANSWER_KEYS", "TRIGGER_SECONDS", "TriggerIds", "ViewError", "check_input_block", "check_modal",
           "view_submission"]
