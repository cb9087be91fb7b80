"""Chaotic Slack delivery (issue 5, item 3), against a real `travel-planner run`.

Every case is one trip in a Slack thread, driven by signed Events API
requests the way Slack sends them, and scored from what the scripted LLM was
asked and what reached the fake Slack Web API:

- `retries`: every answer delivered 1 to 4 times (the same event_id, retries
  carrying `X-Slack-Retry-Num`), the retries racing the first delivery;
- `mention_pairs`: answers that mention the bot arrive as `app_mention` and
  `message` (both orders, and both at once), some retried;
- `out_of_order_busy`: two replies arrive in the opposite of their Slack `ts`
  order while the planner researches;
- `out_of_order_waiting`: the same while the planner waits for an answer;
- `while_researching`: replies land during the LLM call that starts research,
  during the search itself, and while the next question is being written;
- `five_people`: five people answer within 100 ms (shuffled, some retried);
- `handover_*` (separate processes, one segment per turn): replies arrive while
  a paused hand-over to the successor segment is in progress
  (`TRAVEL_PLANNER_FAILPOINT=after:handover:1:pause=...`); the full profile
  also pauses before the hand-over, before the reply promise is published and
  before the inbox is claimed.

A case passes when every reply reached the LLM exactly once, replies taken
together reached it in `ts` order (strictly, across turns too, for the
out-of-order cases), the plan quotes every answer once, and no post appeared
twice in the thread.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import random
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reliability.profile import Profile
from reliability.table import Table
from testing.bot_process import CHANNEL, SIGNING_SECRET, BotProcess, bot_env
from testing.loopback import free_port
from testing.fakes.llm_server import LlmCall, ScriptedLLM, call_tools, say
from testing.fakes.research import FakeSerper
from testing.fakes.slack_api import BOT_USER_ID, FakeSlackWebAPI
from testing.fakes.slack_requests import (
    app_mention,
    as_message_event,
    event_envelope,
    send_signed,
    slash_command,
    thread_reply,
)

USERS = {"U0ANA": "Ana", "U0BEN": "Ben", "U0CAT": "Cat", "U0DAN": "Dan", "U0EVE": "Eve"}
_CASE_TAG = re.compile(r"\[case:([A-Za-z0-9_-]+)\]")
COLUMNS = [
    "case", "deliveries", "replies expected", "LLM saw", "duplicates", "lost", "out of order", "dup posts", "s",
]
MUST_BE_ZERO = ("duplicates", "lost", "out of order", "dup posts")


# ---------------------------------------------------------------------------
# the rig: one bot process and its fakes, shared by several trips


class ScriptRouter:
    """The ScriptedLLM script: hands each request to the script of its trip,
    found by the `[case:NAME]` tag in the trip request (the first message)."""

    def __init__(self) -> None:
        self._scripts: dict[str, Callable[[list[dict[str, Any]]], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def register(self, tag: str, script: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> None:
        with self._lock:
            self._scripts[tag] = script

    def __call__(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        tag = case_tag(messages)
        with self._lock:
            script = self._scripts.get(tag or "")
        if script is None:
            return say(f"No script for this trip ({tag!r}).\n\nTRIP PLANNING COMPLETE")
        return script(messages)


def case_tag(messages: list[dict[str, Any]]) -> str | None:
    first = str((messages[0].get("content") if messages else "") or "")
    match = _CASE_TAG.search(first)
    return match.group(1) if match else None


class HookedSerper(FakeSerper):
    """FakeSerper that runs a hook (once) when a query containing a marker arrives."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list[tuple[str, Callable[[], None]]] = []
        self._hook_lock = threading.Lock()

    def on_query(self, marker: str, action: Callable[[], None]) -> None:
        with self._hook_lock:
            self._hooks.append((marker, action))

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        query = str(json.loads(body or b"{}").get("q", ""))
        with self._hook_lock:
            due = [h for h in self._hooks if h[0] in query]
            self._hooks = [h for h in self._hooks if h[0] not in query]
        for _, action in due:
            action()
        return super().answer(method, path, body)


class RoutedLLM(ScriptedLLM):
    """The ScriptedLLM of a rig. A script may also answer ``{"_raw": bytes}``:
    those bytes go back as the 200 body, as they are (a broken provider)."""

    def __init__(self, router: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> None:
        self._tls = threading.local()

        def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
            answer = router(messages)
            self._tls.raw = answer.get("_raw")
            return answer

        super().__init__(script)

    def _respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes, float]:
        self._tls.raw = None
        status, headers, data, delay = super()._respond(body)
        raw = getattr(self._tls, "raw", None)
        if raw is not None and status == 200:
            return 200, {}, raw, delay
        return status, headers, data, delay


class Rig:
    """A real `travel-planner run` with a fake Slack Web API, a scripted LLM
    (routed per trip) and a fake search API. Use as a context manager."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        env: dict[str, str] | None = None,
        serper: FakeSerper | None = None,
    ) -> None:
        self.name = name
        # A fresh directory per rig: the fake Slack's ts restart at every run,
        # so a reused state directory would hold trips with the same ids.
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
        self.log_path = self.workdir / "bot.log"
        self.router = ScriptRouter()
        self._stack = contextlib.ExitStack()
        try:
            # Many trips share this one channel at once, far more than a real
            # channel carries: the per-channel post limit is raised here (the
            # product under Slack's real limit: tests/slack/test_rate_limits.py).
            self.api = self._stack.enter_context(FakeSlackWebAPI(posts_per_second=50.0, post_burst=200))
            self.api.add_channel(CHANNEL, name="trips")
            for user, display in USERS.items():
                self.api.add_user(user, display_name=display)
            self.serper = self._stack.enter_context(serper or HookedSerper())
            self.llm = self._stack.enter_context(RoutedLLM(self.router))
            for fake in (self.api, self.serper, self.llm):
                _hush(fake)
            full_env = bot_env(self.api, self.llm, self.serper, self.workdir / "state", free_port())
            full_env.update(env or {})
            self.env = full_env
            self.bot = BotProcess(full_env, self.log_path)
            self._stack.callback(self._stop_bot)
            # Like Slack, the fake sends the bot's own posts and edits back to it.
            self.api.deliver_events_to(self.bot.events_url, SIGNING_SECRET)
        except BaseException:
            self._stack.close()
            raise
        self.started = time.monotonic()

    def _stop_bot(self) -> None:
        try:
            self.bot.stop()
        except Exception:  # did not stop on SIGTERM in time: never leave it running
            with contextlib.suppress(Exception):
                self.bot.proc.kill()
                self.bot.proc.wait(10)

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- Slack in -----------------------------------------------------------------

    def post(self, body: str, *, retry_num: int | None = None) -> tuple[int, str, float]:
        return send_signed(self.bot.events_url, body, signing_secret=SIGNING_SECRET, retry_num=retry_num)

    def start_trip(self, request: str, user: str = "U0ANA", timeout: float = 20.0) -> str:
        status, text, _ = self.post(
            slash_command(request, channel_id=CHANNEL, user_id=user, response_url=self.api.response_url())
        )
        if status != 200:
            raise AssertionError(f"/plan-trip answered {status}: {text}")
        marker = _CASE_TAG.search(request)
        needle = marker.group(0) if marker else request[:40]
        roots = self.api.wait_for(
            lambda: [m for m in self.api.posts(CHANNEL) if not m.get("thread_ts") and needle in m.get("text", "")],
            timeout=timeout,
        )
        return str(roots[0]["ts"])

    # -- Slack out ----------------------------------------------------------------

    def thread(self, root_ts: str) -> list[dict[str, Any]]:
        return self.api.posts(CHANNEL, thread_ts=root_ts)

    def of_kind(self, root_ts: str, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.thread(root_ts) if step_kind(m) == kind]

    def llm_calls(self, tag: str) -> list[LlmCall]:
        return [
            c for c in list(self.llm.calls)
            if c.answered and c.status == 200 and case_tag([m for m in c.messages if m.get("role") != "system"]) == tag
        ]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _hush(fake: object) -> None:
    """The fakes' servers print a traceback when the bot process drops a
    keep-alive connection at exit; that is expected here, not news."""
    server = getattr(fake, "_server", None)
    if server is not None:
        server.handle_error = lambda *args: None


def step_kind(message: dict[str, Any]) -> str:
    """"ask", "progress", "plan", "notice" from the post's metadata step key."""
    step = str(((message.get("metadata") or {}).get("event_payload") or {}).get("step", ""))
    return step.rsplit("/", 1)[-1].rstrip("0123456789")


def message_text(message: dict[str, Any]) -> str:
    """What people read in a post: its blocks' text when it has blocks (the
    `text` field is only the notification fallback), else `text`."""
    parts = []
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            text = text.get("text")
        if isinstance(text, str):
            parts.append(text)
    return "\n".join(parts) if parts else str(message.get("text") or "")


def duplicate_posts_in(rig: Rig, root_ts: str) -> int:
    """Posts in the thread whose (step, part) was posted before."""
    seen: Counter[tuple[str, int]] = Counter()
    for m in rig.thread(root_ts):
        payload = (m.get("metadata") or {}).get("event_payload") or {}
        if "step" in payload:
            seen[(str(payload["step"]), str(payload.get("part", 0)))] += 1
    return sum(n - 1 for n in seen.values() if n > 1)


# ---------------------------------------------------------------------------
# one case = one trip


@dataclass
class Hook:
    when: Callable[[list[dict[str, Any]]], bool]
    action: Callable[[], None]
    fired: bool = False


@dataclass
class Outcome:
    name: str
    deliveries: int
    expected: int
    saw: int
    duplicates: int
    lost: int
    out_of_order: int
    dup_posts: int
    seconds: float
    claims: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""

    def row(self) -> list[Any]:
        return [
            self.name, self.deliveries, self.expected, self.saw, self.duplicates, self.lost,
            self.out_of_order, self.dup_posts, round(self.seconds, 1),
        ]

    @property
    def ok(self) -> bool:
        return not self.error and not (self.duplicates or self.lost or self.out_of_order or self.dup_posts)


def user_answers(messages: list[dict[str, Any]]) -> list[str]:
    """People's messages after the trip request (one per claimed batch)."""
    return [str(m.get("content") or "") for m in messages[1:] if m.get("role") == "user"]


class Case:
    """A trip whose script asks until every expected answer has reached it.

    After each batch of answers it researches once (one search), then asks the
    next question, or, once every token was seen, posts a plan quoting every
    answer. A lost reply therefore shows as a trip that never finishes.
    """

    def __init__(self, rig: Rig, name: str, answers: int, *, strict_order: bool = False) -> None:
        self.rig = rig
        self.name = name
        self.tokens = [f"{name}-r{i}-{secrets.token_hex(3)}" for i in range(answers)]
        self.strict_order = strict_order
        self.ts: dict[str, str] = {}
        self.deliveries = 0
        self.hooks: list[Hook] = []
        self.notes: list[str] = []
        self.root_ts = ""
        #: What people do in the thread (set by the case); then the plan is awaited.
        self.drive: Callable[[], None] = self.start
        self._lock = threading.Lock()
        self._pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"case-{name}")
        self._token_re = re.compile(re.escape(name) + r"-r\d+-[0-9a-f]{6}")
        rig.router.register(name, self.script)

    # -- the LLM's side ----------------------------------------------------------

    def script(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        for hook in self.hooks:
            if not hook.fired and hook.when(messages):
                hook.fired = True
                hook.action()
        answers = user_answers(messages)
        if messages[-1].get("role") == "user" and answers:
            return call_tools(("internet_search", {"search_query": f"{self.name} round {len(answers)}", "num_results": 2}))
        text = "\n".join(answers)
        if all(t in text for t in self.tokens):
            return say(f"# Plan for {self.name}\n\nWhat you told me:\n\n{text}\n\nTRIP PLANNING COMPLETE")
        return say(f"Question {len(answers) + 1} for {self.name}?")

    def on_llm(self, when: Callable[[list[dict[str, Any]]], bool], action: Callable[[], None]) -> None:
        self.hooks.append(Hook(when, action))

    # -- the people's side -------------------------------------------------------

    def start(self) -> str:
        self.root_ts = self.rig.start_trip(f"[case:{self.name}] Lisbon in May, 4 people")
        return self.root_ts

    def questions(self) -> list[str]:
        return [m.get("text", "") for m in self.rig.of_kind(self.root_ts, "ask")]

    def wait_questions(self, n: int, timeout: float = 20.0) -> None:
        self.rig.api.wait_for(lambda: len(self.questions()) >= n or self.plans(), timeout=timeout)

    def plans(self) -> list[dict[str, Any]]:
        return self.rig.of_kind(self.root_ts, "plan")

    def new_ts(self) -> str:
        return self.rig.api.next_ts()

    def reply_event(self, i: int, user: str, *, ts: str | None = None, mention: bool = False) -> dict[str, Any]:
        token = self.tokens[i]
        ts = ts or self.new_ts()
        self.ts[token] = ts
        if mention:
            return app_mention(CHANNEL, f"<@{BOT_USER_ID}> answer {token}", user=user, ts=ts, thread_ts=self.root_ts)
        return thread_reply(CHANNEL, self.root_ts, f"answer {token}", user=user, ts=ts)

    def deliver(self, event: dict[str, Any], copies: int = 1, *, together: bool = True) -> None:
        """One Slack event delivered `copies` times (same event_id; copies 2+
        carry X-Slack-Retry-Num). `together`: the retries race the first."""
        body = json.dumps(event_envelope(event))
        sends: list[Callable[[], tuple[int, str, float]]] = [lambda: self.rig.post(body)]
        sends += [lambda n=n: self.rig.post(body, retry_num=n) for n in range(1, copies)]
        with self._lock:
            self.deliveries += copies
        if together and copies > 1:
            results = [f.result() for f in [self._pool.submit(s) for s in sends]]
        else:
            results = [s() for s in sends]
        bad = [r for r in results if r[0] != 200]
        if bad:
            raise AssertionError(f"the bot answered {bad[0][0]} to a delivery: {bad[0][1]}")

    def deliver_mention_pair(self, mention: dict[str, Any], order: str, copies: int = 1) -> None:
        """`app_mention` + `message` for one message: "mention-first",
        "message-first" or "together" (both at once)."""
        message = as_message_event(mention)
        if order == "together":
            futures = [self._pool.submit(self.deliver, e, copies) for e in (mention, message)]
            for f in futures:
                f.result()
            return
        first, second = (mention, message) if order == "mention-first" else (message, mention)
        self.deliver(first, copies)
        self.deliver(second, copies)

    def deliver_many(self, events: list[tuple[dict[str, Any], int, float]]) -> float:
        """Send several events (event, copies, seconds after the start) from
        their own threads; returns the spread between the first and the last
        request leaving, in seconds."""
        barrier = threading.Barrier(len(events))
        started: list[float] = []

        def one(event: dict[str, Any], copies: int, offset: float) -> None:
            barrier.wait()
            if offset > 0:
                time.sleep(offset)
            started.append(time.monotonic())
            self.deliver(event, copies, together=True)

        pool = cf.ThreadPoolExecutor(max_workers=len(events))
        try:
            for f in [pool.submit(one, *e) for e in events]:
                f.result()
        finally:
            pool.shutdown()
        return max(started) - min(started)

    # -- scoring -----------------------------------------------------------------

    def batch_of(self, token: str) -> int:
        """Which batch of answers (1-based) carried `token` to the LLM; 0: not yet."""
        for call in reversed(self.rig.llm_calls(self.name)):
            answers = user_answers([m for m in call.messages if m.get("role") != "system"])
            for i, text in enumerate(answers, 1):
                if token in text:
                    return i
        return 0

    def plan_complete(self) -> bool:
        """The plan is posted with every part (a long plan comes in several)."""
        plans = self.plans()
        if not plans:
            return False
        payload = (plans[0].get("metadata") or {}).get("event_payload") or {}
        return len(plans) >= int(payload.get("parts") or 1)

    def wait_plan(self, timeout: float) -> None:
        self.rig.api.wait_for(self.plan_complete, timeout=timeout)

    def outcome(self, seconds: float, error: str = "") -> Outcome:
        calls = self.rig.llm_calls(self.name)
        messages = [m for m in calls[-1].messages if m.get("role") != "system"] if calls else []
        claims = [self._token_re.findall(text) for text in user_answers(messages)]
        seen = [t for claim in claims for t in claim]
        counts = Counter(seen)
        lost = [t for t in self.tokens if t not in counts]
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        plan_text = "\n".join(message_text(m) for m in self.plans())
        if plan_text:
            plan_counts = Counter(self._token_re.findall(plan_text))
            duplicates += sum(n - 1 for n in plan_counts.values() if n > 1)
            lost += [t for t in self.tokens if t not in plan_counts and t not in lost]
        if not plan_text and not error:
            error = "no plan was posted"
        out_of_order = self._inversions(claims)
        notes = list(self.notes)
        if not self.strict_order and len(claims) > 1:
            flat = [t for c in claims for t in c]
            across = sum(1 for a, b in zip(flat, flat[1:], strict=False) if float(self.ts.get(a, 0)) > float(self.ts.get(b, 0)))
            if across:
                notes.append(f"{self.name}: {across} pair(s) read in arrival order across batches (a reply that arrives "
                             "after the planner took a later one cannot be put before it; not counted)")
        return Outcome(
            name=self.name,
            deliveries=self.deliveries,
            expected=len(self.tokens),
            saw=len(counts),
            duplicates=duplicates,
            lost=len(lost),
            out_of_order=out_of_order,
            dup_posts=duplicate_posts_in(self.rig, self.root_ts) if self.root_ts else 0,
            seconds=seconds,
            claims=claims,
            notes=notes,
            error=error,
        )

    def _inversions(self, claims: list[list[str]]) -> int:
        """Pairs the LLM saw against their Slack ts order: within one claimed
        batch always; across batches too when the case is strict."""

        def key(token: str) -> float:
            return float(self.ts.get(token, "inf"))

        bad = 0
        for claim in claims:
            bad += sum(1 for a, b in zip(claim, claim[1:], strict=False) if key(a) > key(b))
        if self.strict_order:
            flat = [t for c in claims for t in c]
            within = {(a, b) for c in claims for a, b in zip(c, c[1:], strict=False)}
            bad += sum(1 for a, b in zip(flat, flat[1:], strict=False) if key(a) > key(b) and (a, b) not in within)
        return bad

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def answers_seen(messages: list[dict[str, Any]]) -> int:
    return len(user_answers(messages))


def researching_after(n: int) -> Callable[[list[dict[str, Any]]], bool]:
    """The LLM call that starts research after the n-th batch of answers."""
    return lambda m: answers_seen(m) == n and m[-1].get("role") == "user"


def writing_question_after(n: int) -> Callable[[list[dict[str, Any]]], bool]:
    """The LLM call that reads the research after batch n and writes the next question."""
    return lambda m: answers_seen(m) == n and m[-1].get("role") == "tool"


# ---------------------------------------------------------------------------
# the cases (each drives one trip; they share a bot and run concurrently)


def case_retries(rig: Rig, rnd: random.Random, name: str = "retries") -> Case:
    case = Case(rig, name, 4)

    def drive() -> None:
        case.start()
        for i, copies in enumerate(rnd.sample([1, 2, 3, 4], 4)):
            case.wait_questions(i + 1)
            case.deliver(case.reply_event(i, "U0ANA" if i % 2 else "U0BEN"), copies)

    case.drive = drive
    return case


def case_mention_pairs(rig: Rig, rnd: random.Random, name: str = "mention_pairs") -> Case:
    case = Case(rig, name, 3)
    orders = ["mention-first", "message-first", "together"]

    def drive() -> None:
        case.start()
        for i, order in enumerate(orders):
            case.wait_questions(i + 1)
            case.deliver_mention_pair(case.reply_event(i, "U0BEN", mention=True), order, copies=1 + i % 2)

    case.drive = drive
    return case


def case_out_of_order_busy(rig: Rig, rnd: random.Random, name: str = "out_of_order_busy") -> Case:
    """Replies 1 and 2 are written in that order (ts) but reach the bot as 2,
    then 1, while the planner researches: the LLM must read 1 before 2."""
    case = Case(rig, name, 3, strict_order=True)

    def late_pair() -> None:
        ts1, ts2 = case.new_ts(), case.new_ts()
        e1 = case.reply_event(1, "U0ANA", ts=ts1)
        e2 = case.reply_event(2, "U0BEN", ts=ts2)
        case.deliver(e2, 2)
        case.deliver(e1)

    case.on_llm(researching_after(1), late_pair)

    def drive() -> None:
        case.start()
        case.wait_questions(1)
        case.deliver(case.reply_event(0, "U0CAT"))

    case.drive = drive
    return case


def case_out_of_order_waiting(rig: Rig, rnd: random.Random, name: str = "out_of_order_waiting") -> Case:
    """The same reversed pair, arriving back to back while the planner waits."""
    case = Case(rig, name, 2, strict_order=True)

    def drive() -> None:
        case.start()
        case.wait_questions(1)
        ts1, ts2 = case.new_ts(), case.new_ts()
        e1 = case.reply_event(0, "U0ANA", ts=ts1)
        e2 = case.reply_event(1, "U0BEN", ts=ts2)
        case.deliver(e2)
        case.deliver(e1)

    case.drive = drive
    return case


def case_while_researching(rig: Rig, rnd: random.Random, name: str = "while_researching") -> Case:
    case = Case(rig, name, 4)
    serper: HookedSerper = rig.serper  # type: ignore[assignment]
    case.on_llm(researching_after(1), lambda: case.deliver(case.reply_event(1, "U0BEN"), 2))
    serper.on_query(f"{case.name} round 1", lambda: case.deliver(case.reply_event(2, "U0CAT")))
    case.on_llm(
        writing_question_after(1),
        lambda: case.deliver_mention_pair(case.reply_event(3, "U0DAN", mention=True), "message-first"),
    )

    def drive() -> None:
        case.start()
        case.wait_questions(1)
        case.deliver(case.reply_event(0, "U0ANA"))

    case.drive = drive
    return case


def case_five_people(rig: Rig, rnd: random.Random, name: str = "five_people") -> Case:
    case = Case(rig, name, 5)

    def drive() -> None:
        case.start()
        case.wait_questions(1)
        users = list(USERS)
        # ts in speaking order; each arrives at a random moment of the same
        # 100 ms, so arrival order is not speaking order. Two are retried.
        offsets = sorted(rnd.uniform(0, 0.1) for _ in range(5))
        rnd.shuffle(offsets)
        offsets[0] = 0.0
        events = [(case.reply_event(i, users[i]), 1 + (i % 2), offsets[i]) for i in range(5)]
        spread = case.deliver_many(events)
        case.notes.append(
            f"{name}: 5 replies ({sum(e[1] for e in events)} deliveries) left within {spread * 1000:.0f} ms"
        )
        if spread > 0.1:
            case.notes.append(f"{name}: WARNING the burst took longer than 100 ms on this machine")

    case.drive = drive
    return case


SHARED_CASES: dict[str, Callable[[Rig, random.Random], Case]] = {
    "retries": case_retries,
    "mention_pairs": case_mention_pairs,
    "out_of_order_busy": case_out_of_order_busy,
    "out_of_order_waiting": case_out_of_order_waiting,
    "while_researching": case_while_researching,
    "five_people": case_five_people,
}


def run_shared_cases(
    workdir: Path, names: list[str], seed: int, timeout: float, *, copies: int = 1
) -> list[Outcome]:
    """The shared-bot cases, concurrently, against one `travel-planner run`
    (`copies` > 1 runs each case that many times at once, as name_2, ...)."""
    rnd = random.Random(seed)
    with Rig(workdir, "chaos") as rig:
        cases = [
            SHARED_CASES[n](rig, random.Random(rnd.random()), n if k == 0 else f"{n}_{k + 1}")
            for k in range(copies)
            for n in names
        ]
        return _drive_all(cases, timeout)


def _drive_all(cases: list[Case], timeout: float) -> list[Outcome]:
    def run_one(case: Case) -> Outcome:
        started = time.monotonic()
        error = ""
        try:
            case.drive()
            case.wait_plan(timeout)
        except Exception as exc:  # scored below: an unfinished trip shows as lost replies
            error = f"{type(exc).__name__}: {exc}"
        finally:
            case.close()
        return case.outcome(time.monotonic() - started, error)

    with cf.ThreadPoolExecutor(max_workers=max(1, len(cases))) as pool:
        return list(pool.map(run_one, cases))


# ---------------------------------------------------------------------------
# replies during a paused durable boundary (one process per pause point)


@dataclass(frozen=True)
class PauseCase:
    name: str
    failpoint: str  # TRAVEL_PLANNER_FAILPOINT, with a pause action
    pause: float


def pause_cases(profile: Profile) -> list[PauseCase]:
    fast = [PauseCase("handover_after", "after:handover:1", 2.0)]
    if profile.fast:
        return fast
    return fast + [
        PauseCase("handover_before", "before:handover:1", 2.0),
        PauseCase("before_publish_waiter", "before:publish_waiter_step:2", 1.5),
        PauseCase("before_claim", "before:claim_step:1", 1.5),
    ]


def run_pause_case(workdir: Path, spec: PauseCase, timeout: float) -> Outcome:
    """One trip, one segment per turn, the process paused at `spec.failpoint`:
    replies are sent as soon as the pause starts (a mention pair, retried),
    and the next one as soon as a new question shows, pause or not."""
    env = {
        "TRAVEL_PLANNER_TURNS_PER_SEGMENT": "1",
        "TRAVEL_PLANNER_FAILPOINT": f"{spec.failpoint}:pause={spec.pause:g}",
    }
    started = time.monotonic()
    with Rig(workdir, spec.name, env=env) as rig:
        case = Case(rig, spec.name, 4)
        reached = f"failpoint {spec.failpoint} reached: pause"
        resumed = f"failpoint {spec.failpoint} resumed"
        error = ""
        try:
            case.start()
            case.wait_questions(1)
            case.deliver(case.reply_event(0, "U0ANA"))
            rig.api.wait_for(lambda: reached in rig.log_text(), timeout=20)
            case.deliver_mention_pair(case.reply_event(1, "U0BEN", mention=True), "together", copies=2)
            case.deliver(case.reply_event(2, "U0CAT"), 2)
            during = resumed not in rig.log_text()
            case.notes.append(
                f"{spec.name}: 2 replies sent {'during' if during else 'AFTER'} the {spec.pause:g} s pause at {spec.failpoint}"
            )
            # Once the planner has read those two (as answer batch b), answer
            # the question it asks next ("Question b+1").
            batch = rig.api.wait_for(lambda: case.batch_of(case.tokens[2]), timeout=20)
            rig.api.wait_for(
                lambda: any(f"Question {batch + 1} for" in q for q in case.questions()) or case.plans(), timeout=20
            )
            during = resumed not in rig.log_text()
            case.deliver(case.reply_event(3, "U0DAN"))
            case.notes.append(f"{spec.name}: the last reply was sent {'during' if during else 'after'} the pause")
            case.wait_plan(timeout)
            if resumed not in rig.log_text():
                rig.api.wait_for(lambda: resumed in rig.log_text(), timeout=10)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            case.close()
        outcome = case.outcome(time.monotonic() - started, error)
        if not case.plans():
            outcome.lost = max(outcome.lost, len(case.tokens) - outcome.saw)
        return outcome


# ---------------------------------------------------------------------------
# the suite


def workdir_for(profile: Profile, suite: str) -> Path:
    base = profile.options.get("workdir")
    if base:
        path = Path(base) / suite
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix=f"reliability-{suite}-"))


def shared_case_names(profile: Profile) -> list[str]:
    return list(SHARED_CASES)


def run(profile: Profile) -> Table:
    profile.embedded_only("chaos_delivery")
    started = time.monotonic()
    seed = profile.seed if profile.seed is not None else 5
    timeout = 30.0 if profile.fast else 60.0
    workdir = workdir_for(profile, "chaos_delivery")
    # The full profile runs every shared case three times at once (more interleavings).
    copies = 1 if profile.fast else int(profile.options.get("copies", 3))
    outcomes = run_shared_cases(workdir, shared_case_names(profile), seed, timeout, copies=copies)
    for spec in pause_cases(profile):
        outcomes.append(run_pause_case(workdir, spec, timeout))
    table = outcomes_table(f"chaos_delivery [{profile.name}]", outcomes)
    table.notes.append(f"seed {seed}; bot logs in {workdir}")
    table.seconds = time.monotonic() - started
    if table.ok and not profile.options.get("workdir"):
        shutil.rmtree(workdir, ignore_errors=True)
        table.notes[-1] = f"seed {seed}; logs removed (all OK); --set workdir=DIR keeps them"
    return table


def outcomes_table(title: str, outcomes: list[Outcome]) -> Table:
    table = Table(title=title, columns=list(COLUMNS), must_be_zero=MUST_BE_ZERO)
    for o in outcomes:
        table.add(*o.row())
        table.notes += o.notes
        if o.error:
            table.problems.append(f"{o.name}: {o.error}")
        table.notes.append(f"{o.name}: batches the LLM read: {[len(c) for c in o.claims]}")
    return table


__all__ = [
    "Case", "HookedSerper", "Outcome", "PauseCase", "Rig", "ScriptRouter", "case_tag", "outcomes_table",
    "pause_cases", "run", "run_pause_case", "run_shared_cases", "step_kind", "user_answers", "workdir_for",
]
