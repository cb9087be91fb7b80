"""Requests as Slack sends them: signed bodies and payload builders.

Signing (https://docs.slack.dev/authentication/verifying-requests-from-slack/):
``X-Slack-Signature: v0=hex(HMAC-SHA256(signing_secret, "v0:{timestamp}:{body}"))``
with ``X-Slack-Request-Timestamp: {timestamp}`` (Unix seconds). Bolt rejects a
timestamp more than 5 minutes away from now.

Payload shapes follow Slack's docs and bolt-python's scenario tests: slash
commands are form-encoded, Events API envelopes are JSON, interactivity is a
form with one ``payload`` field holding JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlencode

from testing.fakes.slack_api import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_ts_counter = itertools.count(1)


def unique_ts() -> str:
    """A fresh message ts (distinct from the fake API's, which start at 1.7e9)."""
    n = next(_ts_counter)
    return f"{1_600_000_000 + n}.{n:06d}"


# --------------------------------------------------------------------------
# signing


def compute_signature(signing_secret: str, timestamp: str | int, body: str | bytes) -> str:
    """Slack's v0 request signature."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: str,
    *,
    signing_secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str | None = None,
) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    if content_type is None:
        content_type = JSON if body.lstrip().startswith(("{", "[")) else FORM
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": compute_signature(signing_secret, timestamp, body),
    }


# --------------------------------------------------------------------------
# payloads


def slash_command(
    text: str = "",
    *,
    command: str = "/plan-trip",
    team_id: str = TEAM_ID,
    channel_id: str = "C0001",
    channel_name: str = "general",
    user_id: str = "U0ANA",
    user_name: str = "ana",
    response_url: str = "https://hooks.slack.com/commands/T0001/1/abc",
) -> str:
    """A slash command request body (form-encoded, as Slack sends it)."""
    return urlencode(
        {
            "token": "verification-token",
            "team_id": team_id,
            "team_domain": "test",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex}",
        }
    )


def event_envelope(
    event: dict[str, Any],
    *,
    team_id: str = TEAM_ID,
    event_id: str | None = None,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An Events API `event_callback` envelope around `event`."""
    return {
        "token": "verification-token",
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + uuid.uuid4().hex[:16],
    }


def _message(channel: str, text: str, user: str, ts: str | None, thread_ts: str | None, team: str) -> dict[str, Any]:
    ts = ts or unique_ts()
    event: dict[str, Any] = {
        "type": "message",
        "text": text,
        "user": user,
        "ts": ts,
        "team": team,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "b" + ts[-4:],
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ],
        "client_msg_id": str(uuid.uuid4()),
        "channel": channel,
        "event_ts": ts,
        "channel_type": "channel",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = BOT_USER_ID
    return event


def direct_message(
    channel: str, text: str, *, user: str = "U0ANA", ts: str | None = None, thread_ts: str | None = None,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """A person's message in the app's DM (`message.im`: channel_type "im"), top-level or in a thread."""
    event = _message(channel, text, user, ts, thread_ts, team)
    event["channel_type"] = "im"
    return event


def channel_message(
    channel: str, text: str, *, user: str = "U0BOB", ts: str | None = None, team: str = TEAM_ID
) -> dict[str, Any]:
    """A top-level message event (not in a thread)."""
    return _message(channel, text, user, ts, None, team)


def thread_reply(
    channel: str, thread_ts: str, text: str, *, user: str = "U0BOB", ts: str | None = None, team: str = TEAM_ID
) -> dict[str, Any]:
    """A person's reply in a thread (message event, no subtype)."""
    return _message(channel, text, user, ts, thread_ts, team)


def thread_broadcast(
    channel: str, thread_ts: str, text: str, *, user: str = "U0BOB", ts: str | None = None, team: str = TEAM_ID
) -> dict[str, Any]:
    """A thread reply also sent to the channel."""
    event = _message(channel, text, user, ts, thread_ts, team)
    event["subtype"] = "thread_broadcast"
    event["root"] = {"type": "message", "ts": thread_ts, "user": BOT_USER_ID, "text": "Trip planning started"}
    return event


def file_share(
    channel: str,
    thread_ts: str | None,
    text: str,
    *,
    user: str = "U0BOB",
    ts: str | None = None,
    file_name: str = "flights.png",
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """A message with a file (subtype file_share)."""
    event = _message(channel, text, user, ts, thread_ts, team)
    event["subtype"] = "file_share"
    event["upload"] = False
    event["display_as_bot"] = False
    event["files"] = [
        {
            "id": "F" + uuid.uuid4().hex[:8].upper(),
            "name": file_name,
            "title": file_name,
            "mimetype": "image/png",
            "filetype": "png",
            "user": user,
            "size": 1234,
            "url_private": f"https://files.slack.com/files-pri/{team}-F1/{file_name}",
        }
    ]
    return event


def app_mention(
    channel: str,
    text: str,
    *,
    user: str = "U0ANA",
    ts: str | None = None,
    thread_ts: str | None = None,
    bot_user_id: str = BOT_USER_ID,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """An app_mention event; `text` should contain `<@{bot_user_id}>`."""
    event = _message(channel, text, user, ts, thread_ts, team)
    event["type"] = "app_mention"
    event.pop("channel_type", None)
    return event


def as_message_event(mention: dict[str, Any]) -> dict[str, Any]:
    """The `message` event Slack also sends for a message that mentions the bot."""
    event = dict(mention)
    event["type"] = "message"
    event["channel_type"] = "channel"
    return event


def _edit_ts() -> str:
    """When an edit happened, as Slack stamps `edited.ts`: whole seconds."""
    return unique_ts().split(".")[0] + ".000000"


def message_changed(
    channel: str,
    ts: str,
    new_text: str,
    *,
    thread_ts: str | None = None,
    user: str = "U0BOB",
    previous_text: str = "before",
    team: str = TEAM_ID,
    event_ts: str | None = None,
    edited: bool = True,
    bot: bool = False,
) -> dict[str, Any]:
    """A `message_changed` event, as Slack sends one when a message changes.

    The message as it is now (`message`, with `edited` for a person's edit)
    and as it was (`previous_message`), both with the thread's `thread_ts`;
    the event itself has a ts of its own (`ts` = `event_ts`, unique per
    change, so a retry carries the same one). `edited=False`: a change that
    is no edit (an unfurl attaching a preview). `bot=True`: an app's
    `chat.update` coming back (our own edits do)."""
    event_ts = event_ts or unique_ts()

    def version(text: str) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "message", "text": text, "ts": ts}
        if bot:
            message.update(user=BOT_USER_ID, bot_id=BOT_ID, app_id=APP_ID,
                           bot_profile={"id": BOT_ID, "app_id": APP_ID, "name": "travel-planner"})
        else:
            message.update(user=user, team=team, client_msg_id=f"cm-{ts}", source_team=team, user_team=team)
        message["blocks"] = [
            {
                "type": "rich_text",
                "block_id": "b" + ts[-4:],
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ]
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = BOT_USER_ID
        return message

    message = version(new_text)
    if edited:
        message["edited"] = {"user": BOT_USER_ID if bot else user, "ts": _edit_ts()}
    else:
        message["attachments"] = [{"id": 1, "from_url": "https://example.com/", "title": "Example"}]
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": message,
        "previous_message": version(previous_text),
        "channel": channel,
        "hidden": True,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": "channel",
    }


def message_deleted(
    channel: str,
    deleted_ts: str,
    *,
    thread_ts: str | None = None,
    user: str = "U0BOB",
    previous_text: str = "gone",
    team: str = TEAM_ID,
    bot: bool = False,
) -> dict[str, Any]:
    """A `message_deleted` event: the message as it was, in `previous_message`."""
    ts = unique_ts()
    previous: dict[str, Any] = {"type": "message", "text": previous_text, "ts": deleted_ts}
    if bot:
        previous.update(user=BOT_USER_ID, bot_id=BOT_ID, app_id=APP_ID)
    else:
        previous.update(user=user, team=team, client_msg_id=f"cm-{deleted_ts}")
    if thread_ts:
        previous["thread_ts"] = thread_ts
        previous["parent_user_id"] = BOT_USER_ID
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "deleted_ts": deleted_ts,
        "previous_message": previous,
        "channel": channel,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def bot_message(
    channel: str,
    thread_ts: str | None,
    text: str,
    *,
    bot_id: str = BOT_ID,
    user: str | None = BOT_USER_ID,
    subtype: str | None = None,
) -> dict[str, Any]:
    """A message posted by an app (ours by default): it carries `bot_id`."""
    ts = unique_ts()
    event: dict[str, Any] = {
        "type": "message",
        "text": text,
        "ts": ts,
        "bot_id": bot_id,
        "app_id": APP_ID,
        "bot_profile": {"id": bot_id, "app_id": APP_ID, "name": "travel-planner"},
        "channel": channel,
        "event_ts": ts,
        "channel_type": "channel",
    }
    if user:
        event["user"] = user
    if subtype:
        event["subtype"] = subtype
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def app_home_opened(user: str = "U0ANA", *, tab: str = "home") -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D0" + user[-4:], "tab": tab, "event_ts": unique_ts()}


def reaction_added(channel: str, ts: str, *, user: str = "U0BOB", reaction: str = "thumbsup") -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": unique_ts(),
    }


def url_verification(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> dict[str, Any]:
    return {"token": "verification-token", "challenge": challenge, "type": "url_verification"}


def block_actions(
    *,
    action_id: str = "some_button",
    user_id: str = "U0ANA",
    user_name: str = "ana",
    channel_id: str = "C0001",
    team_id: str = TEAM_ID,
    message_ts: str | None = None,
    thread_ts: str | None = None,
    action_ts: str | None = None,
    value: str = "v",
    message_text: str = "x",
    message_blocks: list[dict[str, Any]] | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0001/1/abc",
    block_id: str = "b1",
    button_text: str = "Click",
) -> str:
    """A block_actions interactivity request body (form with `payload=` JSON).

    A button on a message in a thread carries the thread's `thread_ts` in both
    `container` and `message` (as Slack sends it); the root message of a
    thread with replies carries its own ts as `thread_ts`. `action_ts` is
    unique per click (a retry of the same request carries the same one)."""
    ts = message_ts or unique_ts()
    container: dict[str, Any] = {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": False}
    message: dict[str, Any] = {"type": "message", "ts": ts, "text": message_text, "bot_id": BOT_ID, "user": BOT_USER_ID}
    if thread_ts:
        container["thread_ts"] = thread_ts
        message["thread_ts"] = thread_ts
    if message_blocks is not None:
        message["blocks"] = message_blocks
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": APP_ID,
        "token": "verification-token",
        "container": container,
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.{uuid.uuid4().hex}",
        "team": {"id": team_id, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
        "message": message,
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def button_click(
    message: dict[str, Any],
    action_id: str,
    *,
    user_id: str,
    channel_id: str,
    team_id: str = TEAM_ID,
    action_ts: str | None = None,
) -> str:
    """The block_actions request Slack sends when `user_id` presses the
    button `action_id` on `message` as it is now (the fake's copy): the
    button's own value, label and block_id, and the message's blocks.
    Raises LookupError if the message shows no such button: nobody could
    press it."""
    for block in message.get("blocks") or []:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if block.get("type") == "section" and block.get("accessory"):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return block_actions(
                    action_id=action_id, user_id=user_id, user_name=user_id.lower(), channel_id=channel_id,
                    team_id=team_id, message_ts=str(message["ts"]), thread_ts=message.get("thread_ts"),
                    action_ts=action_ts, value=str(element.get("value", "")), message_text=str(message.get("text", "")),
                    message_blocks=message.get("blocks"), block_id=str(block.get("block_id") or "b1"),
                    button_text=str(element["text"]["text"]),
                )
    raise LookupError(f"message {message.get('ts')} shows no button {action_id!r}")


def home_block_actions(
    *, action_id: str, trigger_id: str, user_id: str = "U0ANA", team_id: str = TEAM_ID, view_id: str = "VHOME01",
    action_ts: str | None = None,
) -> str:
    """A block_actions request body for a button on the App Home tab: the
    container is the view (no channel, no message), with the click's trigger_id."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": APP_ID,
        "token": "verification-token",
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": "test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {"id": view_id, "team_id": team_id, "type": "home", "blocks": [], "private_metadata": "",
                 "callback_id": "", "state": {"values": {}}, "app_id": APP_ID, "bot_id": BOT_ID},
        "actions": [
            {
                "action_id": action_id,
                "block_id": "plan_trip",
                "text": {"type": "plain_text", "text": "Plan a trip", "emoji": True},
                "value": "open",
                "type": "button",
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload)


# --------------------------------------------------------------------------
# sending


def send(
    url: str,
    body: str | bytes,
    headers: dict[str, str],
    *,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    timeout: float = 10.0,
) -> tuple[int, str, float]:
    """POST `body` to `url` (blocking); returns (status, response body, seconds)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    all_headers = dict(headers)
    if retry_num is not None:
        all_headers["X-Slack-Retry-Num"] = str(retry_num)
        all_headers["X-Slack-Retry-Reason"] = retry_reason
    request = urllib.request.Request(url, data=data, headers=all_headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    return status, text, time.perf_counter() - started


def send_signed(
    url: str,
    body: str,
    *,
    signing_secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str | None = None,
    retry_num: int | None = None,
) -> tuple[int, str, float]:
    """Sign `body` as Slack would and POST it."""
    headers = signed_headers(body, signing_secret=signing_secret, timestamp=timestamp, content_type=content_type)
    return send(url, body, headers, retry_num=retry_num)


async def asend(
    url: str,
    body: str | bytes,
    headers: dict[str, str],
    *,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    timeout: float = 10.0,
) -> tuple[int, str, float]:
    """`send` for code already on an event loop (uses aiohttp)."""
    import aiohttp

    all_headers = dict(headers)
    if retry_num is not None:
        all_headers["X-Slack-Retry-Num"] = str(retry_num)
        all_headers["X-Slack-Retry-Reason"] = retry_reason
    data = body.encode("utf-8") if isinstance(body, str) else body
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.post(url, data=data, headers=all_headers) as response:
            text = await response.text()
            return response.status, text, time.perf_counter() - started


__all__ = [
    "FORM",
    "JSON",
    "SIGNING_SECRET",
    "app_home_opened",
    "app_mention",
    "as_message_event",
    "asend",
    "block_actions",
    "bot_message",
    "channel_message",
    "compute_signature",
    "direct_message",
    "event_envelope",
    "file_share",
    "button_click",
    "home_block_actions",
    "json_body",
    "message_changed",
    "message_deleted",
    "reaction_added",
    "send",
    "send_signed",
    "signed_headers",
    "slash_command",
    "thread_broadcast",
    "thread_reply",
    "unique_ts",
    "url_verification",
]
