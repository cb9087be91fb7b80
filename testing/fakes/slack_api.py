"""`FakeSlackWebAPI`: a real HTTP server on 127.0.0.1 playing the Slack Web API.

Point a client at it with ``base_url=api.api_url`` (``http://127.0.0.1:PORT/api/``).
It runs in its own threads (``ThreadingHTTPServer``), so an asyncio client on
any loop can call it, and a configured latency delays only that request.

What it does, like Slack:

- methods: chat.postMessage / chat.update / chat.postEphemeral /
  chat.getPermalink, conversations.join / .info / .replies,
  assistant.threads.setStatus, auth.test, users.info (with is_admin /
  is_owner), views.publish (at most 100 blocks), views.open (a modal, checked
  like Slack: `trip_views.check_modal`; a trigger_id the fake issued
  (`issue_trigger`), once and within 3 s), files.getUploadURLExternal +
  the upload URL + files.completeUploadExternal (which, like Slack, shares the
  file as a message from the app in the channel or thread); anything else
  answers ``{"ok": false, "error": "unknown_method"}``;
- bodies: ``application/x-www-form-urlencoded``, ``application/json`` and GET
  query strings (slack-sdk uses all three); the bearer token (or a ``token``
  parameter) must match, else ``invalid_auth``;
- chat.postMessage and chat.update enforce the message limits (50 blocks,
  3,000 characters a section, 12,000 for all markdown blocks together, a
  plain_text header of at most 150 characters, context and actions sizes,
  40,000 characters of text: ``msg_too_long``), refuse block and element
  types Slack does not know, repeated block_ids and action_ids, buttons as
  Slack checks them (a plain_text label of 1-75 characters, a value of at
  most 2,000), and check `table` blocks (at most 100 rows of 1 to 20
  raw_text / raw_number / rich_text cells, column_settings of `align` and
  `is_wrapped`, one table a message, none in a view: ``invalid_blocks``;
  `reject_table_blocks` refuses every table), and channel membership
  (``not_in_channel`` in a public channel until the bot joined it,
  ``channel_not_found`` in a private one it was not invited to);
- chat.postMessage refuses a ``thread_ts`` that names no message of the
  channel (``thread_not_found``) and metadata without an ``event_type`` or
  with a payload that is not an object (``invalid_metadata_format``), and is
  rate limited per channel like Slack (about one post a second, bursts
  allowed: HTTP 429, ``ratelimited``, ``Retry-After``);
- chat.postMessage to a user id posts in the app's DM with that person
  (`dm_channel(user)`), as Slack does;
- chat.update refuses a message the bot did not post
  (``cant_update_message``) and one that does not exist
  (``message_not_found``);
- with `deliver_events_to(url, signing_secret)`, every post, upload and edit
  of the app comes back to it as its signed Events API ``message`` event, as
  Slack sends them;
- conversations.replies returns the thread (root first), with message
  metadata only when ``include_all_metadata`` is set, paginated with cursors;
- a ``response_url`` endpoint (``api.response_url(name)``) records what an app
  answers to a slash command.

Every call is recorded (`calls`) with method, params, headers, HTTP status and
time. Faults: `fail` (N times an HTTP 429 with Retry-After, or 500; with
``after_doing=True`` the call is carried out first and its answer is then
lost: a 500, or with ``drop=True`` a connection closed without an answer),
`error` (Slack-level ``ok: false`` errors, optionally only for one channel),
`latency` / `method_latency`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from testing.fakes.context_actions import MAX_BUTTON_VALUE, button_text_error, context_actions_error
from testing.fakes.slack_views import TriggerIds, ViewError, check_input_block, check_modal, view_submission
from testing.loopback import LoopbackHTTP
from testing.waiting import poll_until

DEFAULT_TOKEN = "xoxb-test-token"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0001"
APP_ID = "A0001"


#: `ApiCall.status` of a call whose connection was closed without an answer.
DROPPED = -1

#: Slack refuses longer message text with `msg_too_long`.
MAX_TEXT_CHARS = 40_000


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    http_method: str
    status: int
    response: dict[str, Any] | None
    time: float  # time.monotonic() when the request arrived


@dataclass(slots=True)
class FakeWorkspace:
    """One workspace that installed the app: its bot token and bot user."""

    team_id: str
    token: str
    bot_user_id: str
    bot_id: str
    revoked: bool = False


@dataclass(slots=True)
class FakeChannel:
    id: str
    name: str = ""
    is_private: bool = False
    is_member: bool = False
    is_im: bool = False
    team: str = TEAM_ID

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name or self.id.lower(),
            "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_member": self.is_member,
            "is_archived": False,
        }


@dataclass(slots=True)
class _Fault:
    status: int
    remaining: int
    retry_after: int | None = None
    after_doing: bool = False  # carry the call out, then lose its answer
    drop: bool = False  # lose it by closing the connection (else: answer `status`)


@dataclass(slots=True)
class _SlackError:
    error: str
    remaining: int | None  # None: until cleared
    channel: str | None = None


@dataclass
class FakeSlackWebAPI:
    token: str = DEFAULT_TOKEN
    bot_user_id: str = BOT_USER_ID
    bot_id: str = BOT_ID
    team_id: str = TEAM_ID
    latency: float = 0.0
    #: when True, chat.postMessage answers `invalid_blocks` to any markdown block
    reject_markdown_blocks: bool = False
    #: when True, chat.postMessage and chat.update answer `invalid_blocks` to
    #: any table block (a workspace that does not take them yet)
    reject_table_blocks: bool = False
    #: conversations.replies page size cap (Slack caps some apps at 15)
    replies_page_cap: int = 1000
    #: chat.postMessage per channel: a bucket of `post_burst` posts refilled
    #: at `posts_per_second` (Slack: "1 per second, bursts allowed").
    posts_per_second: float = 1.0
    post_burst: int = 20

    method_latency: dict[str, float] = field(default_factory=dict)
    channels: dict[str, FakeChannel] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    shared_files: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ApiCall] = field(default_factory=list)

    #: OAuth: the app's credentials, the redirect URL configured for it, and
    #: which workspace the next person to approve an install belongs to.
    client_id: str = "1111.2222"
    client_secret: str = "fake-client-secret"
    oauth_redirect_url: str = ""
    installing_team: str = "T0002"

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._tls = threading.local()
        self.workspaces: dict[str, FakeWorkspace] = {}  # token -> workspace
        self.add_workspace(self.team_id, token=self.token, bot_user_id=self.bot_user_id, bot_id=self.bot_id)
        self._codes: dict[str, str] = {}  # OAuth code -> team id
        self._faults: dict[str, list[_Fault]] = {}
        self._errors: dict[str, list[_SlackError]] = {}
        self._ts = itertools.count(1)
        self.http: LoopbackHTTP | None = None  # while started
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._events_to: tuple[str, str] | None = None
        self._event_queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._event_thread: threading.Thread | None = None
        #: (event envelope, HTTP status or exception name) of every echoed event
        self.delivered_events: list[tuple[dict[str, Any], str]] = []
        self.triggers = TriggerIds()
        #: view id -> the modal views.open opened, with who it is for
        self.opened_views: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------
    # lifecycle

    def start(self) -> FakeSlackWebAPI:
        self.http = LoopbackHTTP(_Handler, self, name="fake-slack-api").start()
        return self

    def stop(self) -> None:
        if self._event_thread is not None:
            self._event_queue.put(None)
            self._event_thread.join(timeout=5)
            self._event_thread = None
        if self.http is not None:
            self.http.stop()
            self.http = None

    def deliver_events_to(self, url: str | None, signing_secret: str = "") -> None:
        """Send the app's own posts, uploads and edits back to `url` as signed
        Events API deliveries (in order, from one thread), as Slack does; None stops."""
        with self._lock:
            self._events_to = (url, signing_secret) if url else None
            if url and self._event_thread is None:
                self._event_thread = threading.Thread(target=self._deliver_events, name="fake-slack-events", daemon=True)
                self._event_thread.start()

    def __enter__(self) -> FakeSlackWebAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self.http is not None, "start() the fake first"
        return self.http.url("/")

    @property
    def api_url(self) -> str:
        """The `base_url` for slack-sdk clients."""
        return self.url + "api/"

    def response_url(self, name: str = "default") -> str:
        """A response_url for a slash command payload; see `responses[name]`."""
        return f"{self.url}response/{name}"

    # ------------------------------------------------------------------
    # setup

    def add_workspace(
        self, team_id: str, *, token: str = "", bot_user_id: str = "", bot_id: str = ""
    ) -> FakeWorkspace:
        """A workspace with the app installed, its own bot token and bot user."""
        workspace = FakeWorkspace(
            team_id,
            token or f"xoxb-{team_id.lower()}-{uuid.uuid4().hex[:12]}",
            bot_user_id or f"U{team_id}BOT",
            bot_id or f"B{team_id}",
        )
        with self._lock:
            self.workspaces[workspace.token] = workspace
        return workspace

    def workspace(self, team_id: str) -> FakeWorkspace | None:
        with self._lock:
            found = [w for w in self.workspaces.values() if w.team_id == team_id and not w.revoked]
        return found[-1] if found else None

    def uninstall(self, team_id: str) -> None:
        """Someone removed the app: its tokens stop working, and Slack sends
        `tokens_revoked` and `app_uninstalled` (when events are delivered)."""
        with self._lock:
            gone = [w for w in self.workspaces.values() if w.team_id == team_id and not w.revoked]
            for w in gone:
                w.revoked = True
        if gone:
            bots = [w.bot_user_id for w in gone]
            self._echo({"type": "tokens_revoked", "tokens": {"bot": bots}, "event_ts": self.next_ts()}, team=team_id)
            self._echo({"type": "app_uninstalled", "event_ts": self.next_ts()}, team=team_id)

    def add_channel(
        self, channel_id: str, *, is_private: bool = False, is_member: bool = False, name: str = "", team: str = ""
    ) -> None:
        """A channel; the bot is not a member until it joins (or `is_member`)."""
        with self._lock:
            self.channels[channel_id] = FakeChannel(channel_id, name, is_private, is_member, team=team or self.team_id)

    def add_user(
        self,
        user_id: str,
        display_name: str = "",
        real_name: str = "",
        *,
        is_admin: bool = False,
        is_owner: bool = False,
    ) -> None:
        with self._lock:
            self.users[user_id] = {
                "id": user_id,
                "name": (display_name or user_id).lower(),
                "real_name": real_name or display_name,
                "is_admin": is_admin,
                "is_owner": is_owner,
                "is_primary_owner": False,
                "profile": {"display_name": display_name, "real_name": real_name or display_name},
            }

    def dm_channel(self, user: str) -> str:
        """The id of the app's DM with `user` (the fake's own: "D" + the user id)."""
        channel = "D" + user.removeprefix("U").removeprefix("W")
        self._channel(channel)
        return channel

    def issue_trigger(self, user: str, *, age: float = 0.0) -> str:
        """A trigger_id as Slack puts in an interaction payload for `user`;
        `age`: issued that many seconds ago (an expired one: more than 3)."""
        return self.triggers.issue(user, age=age)

    def submission(self, view_id: str, answers: dict[str, Any], *, user: str = "") -> str:
        """The view_submission request body Slack sends when `user` submits the
        modal `view_id` with `answers` (block_id -> the value typed or picked).
        Like Slack's client, refuses to submit what Slack would not send: an
        unknown block, a required input left empty."""
        with self._lock:
            opened = self.opened_views[view_id]
        return view_submission(opened, answers, user=user or opened["user"], trigger_id=self.issue_trigger(opened["user"]))

    def next_ts(self) -> str:
        with self._lock:
            n = next(self._ts)
        return f"{1_700_000_000 + n}.{n:06d}"

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0HUMAN",
        thread_ts: str | None = None,
        ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        bot: bool = False,
    ) -> str:
        """Put a message in a channel as if someone (or, with bot=True, we) posted it."""
        ts = ts or self.next_ts()
        message: dict[str, Any] = {"type": "message", "channel": channel, "ts": ts, "text": text, "user": user}
        if thread_ts:
            message["thread_ts"] = thread_ts
        if metadata is not None:
            message["metadata"] = metadata
        if bot:
            ws = self.workspace(self._channel(channel).team) or self._primary()
            message.update(user=ws.bot_user_id, bot_id=ws.bot_id, app_id=APP_ID)
        with self._lock:
            if bot:  # the bot can only have posted where it is a member
                self._channel(channel).is_member = True
            self.messages.append(message)
        return ts

    def delete_message(self, channel: str, ts: str) -> bool:
        """Someone deleted a message (Slack then sends `message_deleted`)."""
        with self._lock:
            kept = [m for m in self.messages if not (m["channel"] == channel and m["ts"] == ts)]
            gone = len(kept) < len(self.messages)
            previous = next((m for m in self.messages if m["channel"] == channel and m["ts"] == ts), None)
            self.messages[:] = kept
        if gone and previous is not None:
            event_ts = self.next_ts()
            self._echo({
                "type": "message", "subtype": "message_deleted", "hidden": True, "deleted_ts": ts,
                "channel": channel, "ts": event_ts, "event_ts": event_ts, "channel_type": "channel",
                "previous_message": {k: v for k, v in previous.items() if not k.startswith("_") and k != "channel"},
            }, team=self._channel(channel).team)
        return gone

    # ------------------------------------------------------------------
    # faults

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: int | None = 0,
        after_doing: bool = False,
        drop: bool = False,
    ) -> None:
        """The next `times` calls of `method` answer HTTP `status` (429 carries Retry-After).

        `after_doing`: the call is carried out first (the message is posted),
        then its answer is lost: HTTP `status`, or with `drop` the connection
        closes without any answer."""
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault(status, times, retry_after if status == 429 else None, after_doing, drop)
            )

    def error(self, method: str, error: str, *, times: int | None = 1, channel: str | None = None) -> None:
        """`method` answers ``{"ok": false, "error": error}`` (`times` None: until cleared)."""
        with self._lock:
            self._errors.setdefault(method, []).append(_SlackError(error, times, channel))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._errors.clear()

    # ------------------------------------------------------------------
    # assertions

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Messages the app posted (chat.postMessage), in order."""
        with self._lock:
            return [
                m
                for m in self.messages
                if m.get("app_id") == APP_ID
                and m.get("_via") == "chat.postMessage"
                and (channel is None or m["channel"] == channel)
                and (thread_ts is None or m.get("thread_ts") == thread_ts)
            ]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
        return poll_until(predicate, timeout, interval)

    def thread_files(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Files shared into a thread (files.completeUploadExternal), in order."""
        with self._lock:
            return [f for f in self.shared_files if f.get("channel_id") == channel and f.get("thread_ts") == thread_ts]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current state of one message (after any chat.update)."""
        with self._lock:
            for m in self.messages:
                if m["channel"] == channel and m["ts"] == ts:
                    return dict(m)
        return None

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # ------------------------------------------------------------------
    # request handling (server threads)

    def _channel(self, channel_id: str) -> FakeChannel:
        with self._lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                # A DM with the bot is the bot's; any other channel it has to join first.
                is_im = channel_id.startswith("D")
                channel = self.channels[channel_id] = FakeChannel(
                    channel_id, is_im=is_im, is_member=is_im, team=self._ws().team_id
                )
            return channel

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method) or []
            while queue and queue[0].remaining <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].remaining -= 1
            return queue[0]

    def _take_error(self, method: str, params: dict[str, Any]) -> str | None:
        channel = str(params.get("channel") or params.get("channel_id") or "")
        with self._lock:
            for item in self._errors.get(method) or []:
                if item.remaining is not None and item.remaining <= 0:
                    continue
                if item.channel is not None and item.channel != channel:
                    continue
                if item.remaining is not None:
                    item.remaining -= 1
                return item.error
        return None

    def _record(self, call: ApiCall) -> None:
        with self._lock:
            self.calls.append(call)

    def handle(
        self, http_method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        arrived = time.monotonic()
        split = urlsplit(path)
        route = split.path
        if route.startswith("/response/"):
            return self._handle_response_url(route[len("/response/") :], headers, raw, arrived)
        if route.startswith("/upload/"):
            return self._handle_upload(route[len("/upload/") :], headers, raw, arrived)
        if route == "/oauth/v2/authorize":
            return self._handle_authorize(dict(parse_qsl(split.query)), headers, arrived)
        if not route.startswith("/api/"):
            return 404, {"content-type": "text/plain"}, b"not found"
        method = route[len("/api/") :]
        try:
            params = _parse_params(headers, raw, split.query)
        except ValueError as exc:
            return self._reply(
                method, {}, headers, http_method, arrived, 400, {"ok": False, "error": f"bad_request: {exc}"}
            )

        delay = self.method_latency.get(method, self.latency)
        if delay:
            time.sleep(delay)

        fault = self._take_fault(method)
        if fault is not None and not fault.after_doing:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            body = {"ok": False, "error": "ratelimited" if fault.status == 429 else "internal_error"}
            return self._reply(method, params, headers, http_method, arrived, fault.status, body, extra)

        token = params.get("token") or _bearer(headers)
        with self._lock:
            workspace = self.workspaces.get(str(token or ""))
        if method not in ("api.test", "oauth.v2.access") and (workspace is None or workspace.revoked):
            error = "token_revoked" if workspace is not None else "invalid_auth"
            return self._reply(method, params, headers, http_method, arrived, 200, {"ok": False, "error": error})
        self._tls.workspace = workspace
        if method == "oauth.v2.access":
            params = {**params, "_basic_auth": headers.get("authorization", "")}

        injected = self._take_error(method, params)
        if injected is not None:
            return self._reply(method, params, headers, http_method, arrived, 200, {"ok": False, "error": injected})

        if method == "chat.postMessage" and not self._take_post_token(str(params.get("channel") or "")):
            body = {"ok": False, "error": "ratelimited"}
            return self._reply(method, params, headers, http_method, arrived, 429, body, {"Retry-After": "1"})

        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            body = {"ok": False, "error": "unknown_method"}
        else:
            try:
                body = handler(params)
            except _SlackFailure as failure:
                body = {"ok": False, "error": failure.error}
        if fault is not None:
            # Done, and the answer is lost on the way back.
            if fault.drop:
                self._record(ApiCall(method, params, headers, http_method, DROPPED, body, arrived))
                return DROPPED, {}, b""
            return self._reply(
                method, params, headers, http_method, arrived, fault.status, {"ok": False, "error": "internal_error"}
            )
        return self._reply(method, params, headers, http_method, arrived, 200, body)

    def _take_post_token(self, channel: str) -> bool:
        """Slack's chat.postMessage limit: a token bucket per channel."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(channel, (float(self.post_burst), now))
            tokens = min(float(self.post_burst), tokens + (now - at) * self.posts_per_second)
            if tokens < 1.0:
                self._buckets[channel] = (tokens, now)
                return False
            self._buckets[channel] = (tokens - 1.0, now)
            return True

    # -- events the app's own messages cause ---------------------------------

    def _primary(self) -> FakeWorkspace:
        with self._lock:
            return self.workspaces[self.token]

    def _ws(self) -> FakeWorkspace:
        """The workspace whose token the current request carries."""
        return getattr(self._tls, "workspace", None) or self._primary()

    def _echo(self, event: dict[str, Any], team: str = "") -> None:
        with self._lock:
            if self._events_to is None:
                return
        ws = self.workspace(team) if team else self._ws()
        self._event_queue.put({"event": event, "team": team or self._ws().team_id,
                               "bot_user_id": ws.bot_user_id if ws else ""})

    def _deliver_events(self) -> None:
        while True:
            item = self._event_queue.get()
            if item is None:
                return
            with self._lock:
                target = self._events_to
            if target is None:
                continue
            url, secret = target
            envelope = {
                "token": "verification-token",
                "team_id": item["team"],
                "api_app_id": APP_ID,
                "event": item["event"],
                "type": "event_callback",
                "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
                "event_time": int(time.time()),
                "authorizations": [
                    {"enterprise_id": None, "team_id": item["team"], "user_id": item["bot_user_id"],
                     "is_bot": True, "is_enterprise_install": False}
                ],
            }
            body = json.dumps(envelope).encode()
            stamp = str(int(time.time()))
            signature = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
            request = urllib.request.Request(
                url, data=body, method="POST",
                headers={"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                         "X-Slack-Signature": signature},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    outcome = str(response.status)
            except urllib.error.HTTPError as exc:
                outcome = str(exc.code)
            except OSError as exc:  # the app is down (a crash test): Slack would retry later; we drop it
                outcome = type(exc).__name__
            with self._lock:
                self.delivered_events.append((envelope, outcome))

    def _message_event(self, message: dict[str, Any]) -> dict[str, Any]:
        """The Events API `message` event for one of the app's messages."""
        event = {k: v for k, v in message.items() if not k.startswith("_") and k != "metadata"}
        team = self._channel(message["channel"]).team
        event["bot_profile"] = {"id": message.get("bot_id"), "app_id": APP_ID, "name": "travel-planner", "team_id": team}
        event["event_ts"] = message["ts"]
        event["channel_type"] = "im" if message["channel"].startswith("D") else (
            "group" if self._channel(message["channel"]).is_private else "channel")
        event["team"] = team
        return event

    def _reply(
        self,
        method: str,
        params: dict[str, Any],
        headers: dict[str, str],
        http_method: str,
        arrived: float,
        status: int,
        body: dict[str, Any],
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        self._record(ApiCall(method, params, headers, http_method, status, body, arrived))
        out_headers = {"content-type": "application/json; charset=utf-8", **(extra_headers or {})}
        return status, out_headers, json.dumps(body).encode()

    def _handle_response_url(
        self, name: str, headers: dict[str, str], raw: bytes, arrived: float
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {"_raw": raw.decode("utf-8", "replace")}
        with self._lock:
            self.responses.setdefault(name, []).append(payload)
        self._record(ApiCall("response_url", {"name": name, **payload}, headers, "POST", 200, None, arrived))
        return 200, {"content-type": "text/plain"}, b"ok"

    def _handle_upload(
        self, file_id: str, headers: dict[str, str], raw: bytes, arrived: float
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            upload = self.uploads.get(file_id)
            if upload is not None:
                upload["content"] = raw
        self._record(
            ApiCall(
                "upload",
                {"file_id": file_id, "bytes": len(raw)},
                headers,
                "POST",
                200 if upload else 404,
                None,
                arrived,
            )
        )
        if upload is None:
            return 404, {"content-type": "text/plain"}, b"no such upload"
        return 200, {"content-type": "text/plain"}, b"OK - " + str(len(raw)).encode()

    # ------------------------------------------------------------------
    # methods

    def _m_api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "args": params}

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test Team",
            "user": "travel-planner",
            "team_id": self._ws().team_id,
            "user_id": self._ws().bot_user_id,
            "bot_id": self._ws().bot_id,
            "is_enterprise_install": False,
        }

    def _handle_authorize(
        self, query: dict[str, str], headers: dict[str, str], arrived: float
    ) -> tuple[int, dict[str, str], bytes]:
        """The page where a person approves the install: Slack then sends the
        browser to the app's redirect URL with a one-time code and the state."""
        self._record(ApiCall("oauth.authorize", dict(query), headers, "GET", 302, None, arrived))
        if query.get("client_id") != self.client_id:
            return 400, {"content-type": "text/plain"}, b"invalid_client_id"
        if not self.oauth_redirect_url:
            return 400, {"content-type": "text/plain"}, b"no redirect URL configured for this app"
        code = uuid.uuid4().hex
        with self._lock:
            self._codes[code] = self.installing_team
        target = self.oauth_redirect_url + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": target, "content-type": "text/plain"}, b""

    def _m_oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        authorized = params.get("_basic_auth") == expected or (
            params.get("client_id") == self.client_id and params.get("client_secret") == self.client_secret
        )
        if not authorized:
            raise _SlackFailure("invalid_client_id")
        with self._lock:
            team = self._codes.pop(str(params.get("code") or ""), None)  # single use
        if team is None:
            raise _SlackFailure("invalid_code")
        workspace = self.workspace(team) or self.add_workspace(team)
        return {
            "ok": True,
            "access_token": workspace.token,
            "token_type": "bot",
            "scope": "chat:write,commands",
            "bot_user_id": workspace.bot_user_id,
            "app_id": APP_ID,
            "team": {"id": team, "name": f"Team {team}"},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": "U0INSTALLER"},
        }

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            raise _SlackFailure("user_not_found")
        return {"ok": True, "user": user}

    def _check_can_post(self, channel: FakeChannel) -> None:
        if channel.team != self._ws().team_id:  # another workspace's channel: invisible to this token
            raise _SlackFailure("channel_not_found")
        if channel.is_private and not channel.is_member:
            raise _SlackFailure("channel_not_found")
        if not channel.is_member:
            raise _SlackFailure("not_in_channel")

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        target = str(params.get("channel") or "")
        if target[:1] in ("U", "W"):  # a person: the app's DM with them
            target = self.dm_channel(target)
        channel = self._channel(target)
        self._check_can_post(channel)
        text = params.get("text")
        blocks = _json_value(params.get("blocks"))
        metadata = _json_value(params.get("metadata"))
        if not text and not blocks:
            raise _SlackFailure("no_text")
        if text and len(str(text)) > MAX_TEXT_CHARS:
            raise _SlackFailure("msg_too_long")
        if blocks is not None:
            _check_blocks(blocks, self.reject_markdown_blocks, tables=not self.reject_table_blocks)
        if metadata is not None:
            _check_metadata(metadata)
        thread_ts = str(params.get("thread_ts") or "")
        if thread_ts and self.message(channel.id, thread_ts) is None:
            raise _SlackFailure("thread_not_found")
        ts = self.next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel.id,
            "ts": ts,
            "text": text or "",
            "user": self._ws().bot_user_id,
            "bot_id": self._ws().bot_id,
            "app_id": APP_ID,
            "_via": "chat.postMessage",
        }
        if blocks is not None:
            message["blocks"] = blocks
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        if metadata:
            message["metadata"] = metadata
        for flag in ("unfurl_links", "unfurl_media", "reply_broadcast", "mrkdwn"):
            if flag in params:
                message[flag] = _truthy(params[flag])
        with self._lock:
            self.messages.append(message)
        self._echo(self._message_event(message))
        public = {k: v for k, v in message.items() if not k.startswith("_")}
        return {"ok": True, "channel": channel.id, "ts": ts, "message": public}

    def _m_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel") or ""), str(params.get("message_ts") or "")
        with self._lock:
            if not any(m["channel"] == channel and m["ts"] == ts for m in self.messages):
                raise _SlackFailure("message_not_found")
        return {"ok": True, "channel": channel, "permalink": f"https://test.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        if "blocks" in params and params["blocks"] is not None:
            _check_blocks(_json_value(params["blocks"]), self.reject_markdown_blocks, tables=not self.reject_table_blocks)
        if len(str(params.get("text") or "")) > MAX_TEXT_CHARS:
            raise _SlackFailure("msg_too_long")
        with self._lock:
            for message in self.messages:
                if message["channel"] == channel_id and message["ts"] == ts:
                    if message.get("bot_id") != self._ws().bot_id:
                        raise _SlackFailure("cant_update_message")
                    previous = {k: v for k, v in message.items() if not k.startswith("_")}
                    if "text" in params:
                        message["text"] = params["text"]
                    if "blocks" in params:
                        message["blocks"] = _json_value(params["blocks"])
                    edit_ts = self.next_ts()
                    message["edited"] = {"user": self._ws().bot_user_id, "ts": edit_ts}
                    changed = self._message_event(message)
                    self._echo({
                        "type": "message", "subtype": "message_changed", "hidden": True,
                        "message": {k: v for k, v in changed.items() if k not in ("channel", "event_ts", "channel_type")},
                        "previous_message": previous, "channel": channel_id, "ts": edit_ts, "event_ts": edit_ts,
                        "channel_type": changed["channel_type"],
                    })
                    return {"ok": True, "channel": channel_id, "ts": ts, "text": message["text"]}
        raise _SlackFailure("message_not_found")

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        self._check_can_post(channel)
        with self._lock:
            self.ephemerals.append(dict(params))
        return {"ok": True, "message_ts": self.next_ts()}

    def _m_conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel.is_private or channel.is_im:
            raise _SlackFailure("method_not_supported_for_channel_type")
        with self._lock:
            channel.is_member = True
        return {"ok": True, "channel": channel.to_dict()}

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel.is_private and not channel.is_member:
            raise _SlackFailure("channel_not_found")
        return {"ok": True, "channel": channel.to_dict()}

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel.is_private and not channel.is_member:
            raise _SlackFailure("channel_not_found")
        if not channel.is_member:
            raise _SlackFailure("not_in_channel")
        ts = str(params.get("ts") or "")
        with self._lock:
            thread = [
                dict(m)
                for m in self.messages
                if m["channel"] == channel.id and (m["ts"] == ts or m.get("thread_ts") == ts)
            ]
        if not thread:
            raise _SlackFailure("thread_not_found")
        thread.sort(key=lambda m: (m["ts"] != ts, float(m["ts"])))
        with_metadata = _truthy(params.get("include_all_metadata"))
        for message in thread:
            for key in [k for k in message if k.startswith("_") or k == "channel"]:
                del message[key]
            if not with_metadata:
                message.pop("metadata", None)
        limit = max(1, min(int(params.get("limit") or 1000), self.replies_page_cap))
        start = int(str(params.get("cursor") or "").removeprefix("next:") or 0)
        page = thread[start : start + limit]
        has_more = start + limit < len(thread)
        body: dict[str, Any] = {"ok": True, "messages": page, "has_more": has_more}
        body["response_metadata"] = {"next_cursor": f"next:{start + limit}" if has_more else ""}
        return body

    def _m_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Channel (top-level) messages, newest first, from `oldest` on."""
        channel = self._channel(str(params.get("channel") or ""))
        if not channel.is_member:
            raise _SlackFailure("not_in_channel")
        oldest = float(params.get("oldest") or 0)
        with self._lock:
            top = [
                dict(m)
                for m in self.messages
                if m["channel"] == channel.id and not m.get("thread_ts") and float(m["ts"]) >= oldest
            ]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        with_metadata = _truthy(params.get("include_all_metadata"))
        for message in top:
            for key in [k for k in message if k.startswith("_") or k == "channel"]:
                del message[key]
            if not with_metadata:
                message.pop("metadata", None)
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        start = int(str(params.get("cursor") or "").removeprefix("next:") or 0)
        page = top[start : start + limit]
        has_more = start + limit < len(top)
        return {"ok": True, "messages": page, "has_more": has_more,
                "response_metadata": {"next_cursor": f"next:{start + limit}" if has_more else ""}}

    def _m_assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel_id") or not params.get("thread_ts") or "status" not in params:
            raise _SlackFailure("invalid_arguments")
        with self._lock:
            self.statuses.append(
                {
                    "channel_id": params["channel_id"],
                    "thread_ts": params["thread_ts"],
                    "status": params["status"],
                    "time": time.monotonic(),
                }
            )
        return {"ok": True}

    def _m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        view = _json_value(params.get("view"))
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _SlackFailure("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            raise _SlackFailure("invalid_arguments")
        _check_blocks(view.get("blocks") or [], False, max_blocks=100, tables=False)
        with self._lock:
            self.views[str(params.get("user_id"))] = view
        return {"ok": True, "view": {"id": "V" + uuid.uuid4().hex[:8].upper(), **view}}

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        view = _json_value(params.get("view"))
        try:
            user = self.triggers.take(str(params.get("trigger_id") or ""))
            check_modal(view)
        except ViewError as exc:
            raise _SlackFailure(exc.error) from exc
        _check_blocks(view["blocks"], False, max_blocks=100, tables=False)
        view_id = "V" + uuid.uuid4().hex[:10].upper()
        opened = {
            "id": view_id, "team_id": self._ws().team_id, "app_id": APP_ID, "bot_id": self._ws().bot_id,
            "private_metadata": "", "state": {"values": {}}, "hash": uuid.uuid4().hex[:16],
            "root_view_id": view_id, "previous_view_id": None, **view,
        }
        with self._lock:
            self.opened_views[view_id] = {"view": opened, "user": user, "team": self._ws().team_id}
        return {"ok": True, "view": opened}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not params.get("length"):
            raise _SlackFailure("invalid_arguments")
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        with self._lock:
            self.uploads[file_id] = {"filename": params["filename"], "length": int(params["length"]), "content": None}
        return {"ok": True, "upload_url": f"{self.url}upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = _json_value(params.get("files")) or []
        if params.get("channel_id"):
            self._check_can_post(self._channel(str(params["channel_id"])))
        done = []
        with self._lock:
            for item in files:
                upload = self.uploads.get(item.get("id"))
                if upload is None or upload.get("content") is None:
                    raise _SlackFailure("file_not_found")
                shared = {
                    "id": item["id"],
                    "title": item.get("title") or upload["filename"],
                    "name": upload["filename"],
                    "content": upload["content"],
                    "channel_id": params.get("channel_id"),
                    "thread_ts": params.get("thread_ts"),
                    "initial_comment": params.get("initial_comment"),
                }
                self.shared_files.append(shared)
                done.append({"id": item["id"], "title": shared["title"], "name": shared["name"]})
                if params.get("channel_id"):
                    # Slack shares the file as a message from the app in the channel/thread.
                    message: dict[str, Any] = {
                        "type": "message",
                        "channel": str(params["channel_id"]),
                        "ts": self.next_ts(),
                        "text": str(params.get("initial_comment") or ""),
                        "user": self._ws().bot_user_id,
                        "bot_id": self._ws().bot_id,
                        "app_id": APP_ID,
                        "upload": True,
                        "files": [{"id": item["id"], "name": upload["filename"], "title": shared["title"]}],
                        "_via": "files.completeUploadExternal",
                    }
                    if params.get("thread_ts"):
                        message["thread_ts"] = str(params["thread_ts"])
                    self.messages.append(message)
                    echoed = self._message_event(message)
                    echoed["subtype"] = "file_share"
                    self._echo(echoed)
        return {"ok": True, "files": done}


class _SlackFailure(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self, http_method: str) -> None:
        fake: FakeSlackWebAPI = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, body = fake.handle(http_method, self.path, headers, raw)
        if status == DROPPED:  # done, and the connection goes away without an answer
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a test ended mid-call)

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization") or ""
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def _parse_params(headers: dict[str, str], raw: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not raw:
        return params
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    text = raw.decode("utf-8")
    if content_type == "application/json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        params.update(data)
    elif content_type in ("application/x-www-form-urlencoded", ""):
        params.update(parse_qsl(text, keep_blank_values=True))
    else:
        raise ValueError(f"unsupported content type {content_type!r}")
    return params


def _json_value(value: Any) -> Any:
    """Form bodies carry blocks/metadata as JSON strings; JSON bodies as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _SlackFailure("invalid_json") from exc
    return value


def _check_metadata(metadata: Any) -> None:
    """Slack's message metadata: an `event_type` name and an object payload."""
    if not isinstance(metadata, dict):
        raise _SlackFailure("invalid_metadata_format")
    event_type = metadata.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise _SlackFailure("invalid_metadata_format")
    if not isinstance(metadata.get("event_payload", {}), dict):
        raise _SlackFailure("invalid_metadata_format")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


#: Block types Slack knows; any other is refused (`invalid_blocks`).
KNOWN_BLOCK_TYPES = frozenset({
    "actions", "card", "carousel", "context", "context_actions", "divider", "file", "header", "image", "input",
    "markdown", "plan", "rich_text", "section", "table", "task_card", "video",
})
#: Slack's table block: rows, cells a row, column settings; one table a message.
MAX_TABLE_ROWS, MAX_TABLE_CELLS = 100, 20
_TABLE_CELL_TYPES = frozenset({"raw_text", "raw_number", "rich_text"})


def _check_table(block: dict[str, Any]) -> None:
    if set(block) - {"type", "block_id", "rows", "column_settings"}:
        raise _SlackFailure("invalid_blocks")
    rows = block.get("rows")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_TABLE_ROWS:
        raise _SlackFailure("invalid_blocks")
    for row in rows:
        if not isinstance(row, list) or not 1 <= len(row) <= MAX_TABLE_CELLS:
            raise _SlackFailure("invalid_blocks")
        for cell in row:
            if not isinstance(cell, dict) or cell.get("type") not in _TABLE_CELL_TYPES:
                raise _SlackFailure("invalid_blocks")
            if cell["type"] == "raw_text" and not isinstance(cell.get("text"), str):
                raise _SlackFailure("invalid_blocks")
            if cell["type"] == "rich_text" and not isinstance(cell.get("elements"), list):
                raise _SlackFailure("invalid_blocks")
    settings = block.get("column_settings", [])
    if not isinstance(settings, list) or len(settings) > MAX_TABLE_CELLS:
        raise _SlackFailure("invalid_blocks")
    for setting in settings:
        if setting is None:
            continue
        if not isinstance(setting, dict) or set(setting) - {"align", "is_wrapped"}:
            raise _SlackFailure("invalid_blocks")
        if "align" in setting and setting["align"] not in ("left", "center", "right"):
            raise _SlackFailure("invalid_blocks")
        if "is_wrapped" in setting and not isinstance(setting["is_wrapped"], bool):
            raise _SlackFailure("invalid_blocks")


#: Interactive elements an actions block (or a section's accessory) may hold.
_ELEMENT_TYPES = frozenset({
    "button", "checkboxes", "datepicker", "datetimepicker", "timepicker", "overflow", "radio_buttons",
    "static_select", "external_select", "users_select", "conversations_select", "channels_select",
    "multi_static_select", "multi_users_select", "multi_conversations_select", "multi_channels_select",
    "multi_external_select", "image", "workflow_button", "rich_text_input", "plain_text_input",
    "email_text_input", "url_text_input", "number_input", "file_input",
})  # feedback_buttons and icon_button: only in a context_actions block


def _check_element(element: Any, action_ids: set[str]) -> None:
    """An interactive element as Slack checks it: a known type, an action_id
    (at most 255 characters) unique in the message; a button's label plain
    text of 1 to 75 characters, its value at most 2,000, its url 3,000, its
    style primary or danger."""
    if not isinstance(element, dict) or element.get("type") not in _ELEMENT_TYPES:
        raise _SlackFailure("invalid_blocks")
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not action_id or len(action_id) > 255 or action_id in action_ids:
            raise _SlackFailure("invalid_blocks")
        action_ids.add(action_id)
    if element["type"] != "button":
        return
    if button_text_error(element.get("text")):
        raise _SlackFailure("invalid_blocks")
    if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE or len(str(element.get("url", ""))) > 3000:
        raise _SlackFailure("invalid_blocks")
    if element.get("style") not in (None, "primary", "danger"):
        raise _SlackFailure("invalid_blocks")


def _check_blocks(blocks: Any, reject_markdown: bool, max_blocks: int = 50, *, tables: bool = True) -> None:
    """Refuse what Slack refuses. `tables`: whether table blocks are taken
    (messages take them; views do not)."""
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise _SlackFailure("invalid_blocks_format")
    if len(blocks) > max_blocks:
        raise _SlackFailure("invalid_blocks")
    if any(b.get("type") not in KNOWN_BLOCK_TYPES for b in blocks):
        raise _SlackFailure("invalid_blocks")
    if sum(b.get("type") == "table" for b in blocks) > (1 if tables else 0):
        raise _SlackFailure("invalid_blocks")  # one table a message, none where tables are not taken
    markdown_total = 0
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for block in blocks:
        kind = block.get("type")
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255 or block_id in block_ids:
                raise _SlackFailure("invalid_blocks")
            block_ids.add(block_id)
        if kind == "section" and block.get("accessory") is not None:
            _check_element(block["accessory"], action_ids)
        if kind == "table":
            _check_table(block)
        elif kind == "divider":
            if set(block) - {"type", "block_id"}:
                raise _SlackFailure("invalid_blocks")
        elif kind == "markdown":
            if reject_markdown:
                raise _SlackFailure("invalid_blocks")
            text = block.get("text")
            if not isinstance(text, str) or not text:
                raise _SlackFailure("invalid_blocks")
            markdown_total += len(text)
        elif kind == "section":
            text = (block.get("text") or {}).get("text", "")
            if len(text) > 3000 or not text:
                raise _SlackFailure("invalid_blocks")
        elif kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or not text.get("text") or len(text["text"]) > 150:
                raise _SlackFailure("invalid_blocks")
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                raise _SlackFailure("invalid_blocks")
            if any(len(str(e.get("text", ""))) > 3000 for e in elements if isinstance(e, dict)):
                raise _SlackFailure("invalid_blocks")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > 25:
                raise _SlackFailure("invalid_blocks")
            for element in elements:
                _check_element(element, action_ids)
        elif kind == "context_actions":
            error = context_actions_error(block, action_ids)
            if error:
                raise _SlackFailure(error)
        elif kind == "input":
            try:
                check_input_block(block)
            except ViewError as exc:
                raise _SlackFailure(exc.error) from exc
    if markdown_total > 12_000:
        raise _SlackFailure("msg_blocks_too_long")


@contextmanager
def running_fake_slack(**kwargs: Any) -> Iterator[FakeSlackWebAPI]:
    api = FakeSlackWebAPI(**kwargs).start()
    try:
        yield api
    finally:
        api.stop()


__all__ = [
    "APP_ID",
    "DROPPED",
    "MAX_TEXT_CHARS",
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_TOKEN",
    "TEAM_ID",
    "ApiCall",
    "FakeChannel",
    "FakeSlackWebAPI",
    "FakeWorkspace",
    "running_fake_slack",
]
