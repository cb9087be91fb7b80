"""One scripted trip against a real `travel-planner run` process that is
SIGKILLed and restarted, and what the run proves.

A run starts the bot (HTTP mode, embedded store) wired to per-run loopback
fakes: `FakeSlackWebAPI`, `ScriptedLLM` playing `lisbon_script`, `FakeSerper`
and `PageSite`. A `Driver` then plays Slack and the people in the thread:

- it sends `/plan-trip` once, then answers each question once, when it shows
  up in the thread (matched by its text), whatever restarts happen;
- like Slack, it re-sends an event (with `X-Slack-Retry-Num`) until the bot
  answers it with a 2xx, and never re-sends one the bot acknowledged;
- the process dies at a failpoint (`TRAVEL_PLANNER_FAILPOINT`), or the driver
  SIGKILLs it after a given delay; either way the driver restarts it on the
  same state directory (disarmed) and carries on;
- in a quiet run (`RunSpec.quiet`) it holds the first answer back until the
  thread has been reminded and the trip parked (reminder and parking come
  after seconds, not days, in that run), then answers.

Every wait is on a condition: the run is stuck only when nothing moves for
`STALL_SECONDS` beyond what it knowingly waits for (a quiet run's timers);
the other deadlines are generous backstops against a hang.

At every kill, before the restart, it records how many requests each paid
fake has received and which paid results the durable store holds (decoded
from the state SQLite file). That is how "repeated" is judged honestly:

- a paid call (LLM request, search, page read) executed by the process that
  was killed, whose result the store did not hold at the kill, was in flight:
  it may run once more (once per kill that caught it in flight);
- every other execution beyond the first is a repeated completed paid call.

Identities: an LLM call is its position in the conversation (how many
messages follow the system prompt, which is what the script answers from),
so a replay that re-asks the same turn with different text still counts as a
repeat; a search is its query; a page read its path.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shutil
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from testing.bot_process import CHANNEL, SIGNING_SECRET, BotProcess, bot_env
from testing.loopback import free_port
from testing.fakes.llm_server import ScriptedLLM
from testing.fakes.research import FakeSerper, PageSite
from testing.fakes.scenario import PAGES, QUESTIONS, lisbon_script
from testing.fakes.slack_api import BOT_USER_ID, FakeSlackWebAPI
from testing.fakes.slack_requests import (
    app_mention,
    as_message_event,
    event_envelope,
    send_signed,
    slash_command,
    thread_reply,
)
from workflows.durable.history import read_embedded

DB_NAME = "travel-planner.sqlite3"
REQUEST = "Lisbon in May, 4 people"
#: (question, answer, user, mention?): who answers what, and how.
ANSWERS: tuple[tuple[str, str, str, bool], ...] = (
    (QUESTIONS[0], "May 1-4", "U0ANA", False),
    (QUESTIONS[1], "2000 EUR", "U0BEN", True),  # app_mention + message, like Slack
    (QUESTIONS[2], "vegetarian", "U0ANA", False),
)
#: Hand-overs at every turn, so the kill points include the successor segments.
TURNS_PER_SEGMENT = "1"

#: Seconds without any progress (post, LLM call, answer) before a run is stuck.
STALL_SECONDS = 20.0
#: A backstop against a run that keeps moving without ever finishing; the
#: verdict on a slow run comes from the stall condition, not from this.
RUN_DEADLINE_SECONDS = 240.0
#: Backstop for a process to become healthy after a start (for its end after
#: SIGTERM: `testing.bot_process.DEADLINE`).
HEALTHY_WITHIN_SECONDS = 60.0
#: After a death, until the fakes have handled every request the dead process sent.
IDLE_WITHIN_SECONDS = 30.0
POLL_SECONDS = 0.01

#: A quiet run: the answer held back (its index in ANSWERS), and the quiet
#: periods of that run before the reminder and then before the parking.
HELD_ANSWER = 0
QUIET_REMIND_SECONDS = 3.0
QUIET_PARK_SECONDS = 3.0


# --------------------------------------------------------------------------
# the durable store, read from outside


def read_promises(state_dir: Path) -> dict[str, tuple[str, Any]]:
    """promise id -> (state, decoded value) from the state database (read-only)."""
    path = state_dir / DB_NAME
    if not path.exists():
        return {}
    promises = read_embedded(path)
    if promises is None:
        raise RuntimeError(f"cannot read the durable store {path}")
    return {p.id: (p.state, p.value) for p in promises}


_SEARCH_RESULT = re.compile(r'^(?:Web search results for|No results for|No web results for) "(.*?)"')
_PAGE_RESULT = re.compile(r"^Page: (\S+)")


def llm_signature(message: dict[str, Any] | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What identifies an LLM answer: its text and its tool calls (ids aside)."""
    message = message or {}
    calls = tuple(
        (str((c.get("function") or {}).get("name", c.get("name", ""))),
         str((c.get("function") or {}).get("arguments", c.get("arguments", ""))))
        for c in message.get("tool_calls") or []
    )
    return str(message.get("content") or ""), calls


def recorded_identities(
    promises: dict[str, tuple[str, Any]], llm_ids: dict[tuple[str, tuple[tuple[str, str], ...]], str]
) -> tuple[set[str], list[str]]:
    """Paid-call identities whose result the store holds; and values not understood."""
    found: set[str] = set()
    unknown: list[str] = []
    for pid, (state, value) in promises.items():
        if state != "resolved" or value is None:
            continue
        if isinstance(value, dict) and {"message", "usage", "failure"} <= value.keys():
            if value.get("failure"):  # the scripted LLM never fails: something broke
                unknown.append(f"{pid}: a failed LLM outcome was stored: {value.get('failure')} {value.get('detail')}")
                continue
            ident = llm_ids.get(llm_signature(value.get("message")))
            if ident is None:
                unknown.append(f"{pid}: LLM outcome matching no request: {str(value)[:120]}")
            else:
                found.add(ident)
        elif isinstance(value, str) and value:
            m = _SEARCH_RESULT.match(value)
            if m:
                found.add(f"search:{m.group(1)}")
                continue
            m = _PAGE_RESULT.match(value)
            if m:
                found.add(f"scrape:{urlsplit(m.group(1)).path}")
                continue
            # Only tool steps store non-empty text (a post step stores "" unless
            # the thread is gone): a result not understood must not pass as
            # "not recorded", or a real repeat would pass as an in-flight rerun.
            unknown.append(f"{pid}: text result not recognised as a search or a page: {value[:120]!r}")
    return found, unknown


def chain_outcome(promises: dict[str, tuple[str, Any]], trip_id: str) -> dict[str, Any] | None:
    """The trip's result, following its segments; None while it runs."""
    current, hops = trip_id, 0
    while hops < 100:
        state, value = promises.get(current, ("missing", None))
        if state != "resolved" or not isinstance(value, dict):
            return None
        if value.get("status") == "continued":
            current, hops = str(value.get("successor")), hops + 1
            continue
        return value
    return None


# --------------------------------------------------------------------------
# the fakes


class _Connections:
    """Tracks a fake server's connections (by the client's port) from accept to shutdown."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._open: dict[int, int] = {}  # id(socket) -> the client's port
        accept, shutdown = server.get_request, server.shutdown_request

        def get_request() -> Any:
            request = accept()
            with self._lock:
                self._open[id(request[0])] = int(request[1][1])
            return request

        def shutdown_request(request: Any) -> None:
            try:
                shutdown(request)
            finally:
                with self._lock:
                    self._open.pop(id(request), None)

        server.get_request, server.shutdown_request = get_request, shutdown_request

    def idle(self, live_ports: frozenset[int] = frozenset()) -> bool:
        """No connection left but those from `live_ports` (processes still
        running keep their keep-alive connections open)."""
        waiting, _, _ = select.select([self._server.socket], [], [], 0)  # not yet accepted
        with self._lock:
            return not waiting and set(self._open.values()) <= live_ports


@dataclass
class Fakes:
    slack: FakeSlackWebAPI
    llm: ScriptedLLM
    serper: FakeSerper
    site: PageSite
    connections: list[_Connections] = field(default_factory=list)

    def marks(self) -> tuple[int, int, int]:
        return len(self.llm.calls), len(self.serper.requests), len(self.site.requests)

    def idle(self, live_ports: frozenset[int] = frozenset()) -> bool:
        """The paid fakes have handled every connection made to them but
        those of processes still running (their client ports: `live_ports`).

        After the bot's death a request it sent may be waiting to be accepted,
        or read and not yet recorded; its connections are closed, so the fakes
        get through them soon."""
        return all(c.idle(live_ports) for c in self.connections)

    def llm_identities(self, start: int = 0, stop: int | None = None) -> list[str]:
        return [f"llm#{_position(c.messages)}" for c in self.llm.calls[start:stop]]

    def search_identities(self, start: int = 0, stop: int | None = None) -> list[str]:
        out = []
        for path, body in self.serper.requests[start:stop]:
            try:
                out.append(f"search:{json.loads(body or '{}').get('q', '')}")
            except ValueError:
                out.append(f"search:?{path}")
        return out

    def scrape_identities(self, start: int = 0, stop: int | None = None) -> list[str]:
        return [f"scrape:{urlsplit(path).path}" for path, _ in self.site.requests[start:stop]]

    def llm_answer_ids(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], str]:
        """Signature of the scripted answer -> identity, for every request seen."""
        ids = {}
        for call in list(self.llm.calls):
            rest = [m for m in call.messages if m.get("role") != "system"]
            answer = self.llm.script(rest)
            message = {"content": answer.get("content"), "tool_calls": answer.get("tool_calls") or []}
            ids[llm_signature(message)] = f"llm#{len(rest)}"
        return ids


def _position(messages: list[dict[str, Any]]) -> int:
    return len([m for m in messages if m.get("role") != "system"])


@contextlib.contextmanager
def running_fakes() -> Iterator[Fakes]:
    slack = FakeSlackWebAPI()
    slack.add_channel(CHANNEL, name="trips")
    slack.add_user("U0ANA", display_name="Ana")
    slack.add_user("U0BEN", display_name="Ben")
    with slack, PageSite(PAGES) as site, FakeSerper() as serper:
        with ScriptedLLM(lisbon_script(site.url)) as llm:
            # A killed bot drops its connections mid-request: expected here, not news.
            for server in (slack.http.server, site.http.server, serper.http.server, llm.http.server):  # type: ignore[union-attr]
                server.handle_error = _quiet  # type: ignore[method-assign]
            paid = [_Connections(fake.http.server) for fake in (llm, serper, site)]
            yield Fakes(slack, llm, serper, site, paid)


def _quiet(request: object, client_address: object) -> None:
    return None


# --------------------------------------------------------------------------
# the process (`testing.bot_process.BotProcess`, one life each)


def process_env(base: dict[str, str], failpoint: str | None, *, quiet: bool = False) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("TRAVEL_PLANNER_", "SLACK_", "OPENAI_", "SERPER_", "RESONATE_", "REDIS_"))
    }
    env.update(base)
    env["TRAVEL_PLANNER_TURNS_PER_SEGMENT"] = TURNS_PER_SEGMENT
    if quiet:
        env["TRAVEL_PLANNER_REMIND_AFTER_HOURS"] = repr(QUIET_REMIND_SECONDS / 3600)
        env["TRAVEL_PLANNER_PARK_AFTER_HOURS"] = repr(QUIET_PARK_SECONDS / 3600)
    if failpoint:
        env["TRAVEL_PLANNER_FAILPOINT"] = failpoint
    return env


class Deployment(Protocol):
    """The processes a run plays the trip against, on one engine."""

    engine: str

    def start(self, failpoint: str | None) -> str: ...
    @property
    def front(self) -> BotProcess: ...
    def healthy(self) -> bool: ...
    def deaths(self) -> list[tuple[str, int]]: ...
    def replace(self, role: str, failpoint: str | None, log: Callable[[str], None]) -> str: ...
    def tend(self, errors: list[str], log: Callable[[str], None]) -> None: ...
    def kill_front(self) -> None: ...
    def live_ports(self) -> frozenset[int]: ...
    def read_promises(self) -> dict[str, tuple[str, Any]]: ...
    def stop(self) -> dict[str, int]: ...
    def close(self) -> None: ...
    def notes(self) -> dict[str, Any]: ...


class EmbeddedBot:
    """The embedded engine: one `travel-planner run` process that owns the
    store, restarted on the same state directory after each death (on a new
    port, so a request to the dead one cannot reach the next)."""

    engine = "embedded"

    def __init__(self, fakes: Fakes, workdir: Path, *, quiet: bool) -> None:
        self.f = fakes
        self.state_dir = workdir / "state"
        self.log_path = workdir / "bot.log"
        self.quiet = quiet
        self.life: BotProcess | None = None

    def start(self, failpoint: str | None) -> str:
        port = free_port()
        base = bot_env(self.f.slack, self.f.llm, self.f.serper, self.state_dir, port)
        env = process_env(base, failpoint, quiet=self.quiet)
        self.life = BotProcess(env, self.log_path, inherit_environ=False, ready_within=None)
        return f"on port {port}"

    @property
    def front(self) -> BotProcess:
        """The process Slack sends to."""
        assert self.life is not None
        return self.life

    def healthy(self) -> bool:
        return self.front.healthy()

    def deaths(self) -> list[tuple[str, int]]:
        """(role, exit code) of each process found dead since the last call."""
        if self.life is None or self.life.alive():
            return []
        return [("bot", self.life.reap())]

    def replace(self, role: str, failpoint: str | None, log: Callable[[str], None]) -> str:
        """After a death: the next life, armed with `failpoint`."""
        return self.start(failpoint)

    def tend(self, errors: list[str], log: Callable[[str], None]) -> None:
        """Called every tick; nothing to look after here."""

    def kill_front(self) -> None:
        self.front.kill()

    def live_ports(self) -> frozenset[int]:
        """Client ports of processes still running (none: the only one is dead)."""
        return frozenset()

    def read_promises(self) -> dict[str, tuple[str, Any]]:
        return read_promises(self.state_dir)

    def stop(self) -> dict[str, int]:
        return {"bot": self.front.stop()} if self.life is not None else {}

    def close(self) -> None:
        if self.life is not None and self.life.alive():
            self.life.kill()

    def notes(self) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------
# one run


@dataclass
class RunSpec:
    """`failpoints`: `<point>:<n>` armed in life 1, the next in life 2 (n
    counts from that life's start), and so on; later lives run disarmed.
    `kill_after`: SIGKILL delays in seconds, the first from the trip's first
    LLM request, each next one from the moment the restarted bot is healthy."""

    label: str
    failpoints: tuple[str, ...] = ()
    kill_after: tuple[float, ...] = ()
    #: False for a probe (is there an n-th occurrence?): not reaching it is no error.
    must_reach: bool = True
    #: Hold the first answer back until the trip is reminded and parked.
    quiet: bool = False

    @property
    def failpoint(self) -> str | None:
        return self.failpoints[0] if self.failpoints else None


@dataclass
class Kill:
    how: str  # "failpoint" | "random"
    point: str  # the failpoint that fired, or "random"
    at: float  # seconds since the run started
    marks: tuple[int, int, int]  # llm, search, scrape requests received so far
    recorded: set[str]  # paid identities held by the store at the kill (cumulative)
    role: str = "bot"  # the process that died: "bot" (embedded), "web" or "worker"


@dataclass
class RunResult:
    label: str
    workdir: Path
    spec: RunSpec | None = None
    seconds: float = 0.0
    kills: list[Kill] = field(default_factory=list)
    repeats: int = 0
    reruns: int = 0  # in-flight calls that ran again (allowed)
    lost: int = 0
    twice: int = 0
    duplicates: int = 0
    plan_mismatch: int = 0
    errors: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # what a failure looked like
    repeated: list[str] = field(default_factory=list)
    reran: list[str] = field(default_factory=list)  # in-flight calls that ran again (allowed)
    plan_text: str = ""
    outcome_plan: str = ""
    posts: int = 0
    conversation_seconds: float = 0.0  # first LLM request -> plan posted (crash-free runs)
    #: Postgres: seconds from each worker's death to the next step on the surviving worker.
    takeovers: list[float] = field(default_factory=list)
    #: Postgres: worker deaths with no other worker left to take over (a chain killed both).
    no_survivor: int = 0

    @property
    def ok(self) -> bool:
        return not (self.repeats or self.lost or self.twice or self.duplicates or self.plan_mismatch or self.errors)

    def describe(self) -> str:
        bits = [f"repeats={self.repeats}", f"lost={self.lost}", f"twice={self.twice}",
                f"duplicates={self.duplicates}", f"plan_mismatch={self.plan_mismatch}"]
        out = f"{self.label}: {' '.join(bits)}; logs in {self.workdir}"
        if self.repeated:
            out += f"; repeated: {', '.join(self.repeated)}"
        for error in [*self.errors, *self.details]:
            out += f"\n      - {error}"
        return out


@dataclass
class Reference:
    plan_text: str
    outcome_plan: str
    posts: int
    conversation_seconds: float


class _Outbox:
    """Events Slack still has to deliver (retried until a 2xx)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, body: str, what: str) -> None:
        self.items.append({"body": body, "what": what, "tries": 0, "ready": 0.0})


class Driver:
    def __init__(
        self, spec: RunSpec, fakes: Fakes, workdir: Path, reference: Reference | None,
        deployment: Deployment | None = None,
    ) -> None:
        self.spec = spec
        self.f = fakes
        self.workdir = workdir
        self.reference = reference
        self.deploy: Deployment = deployment or EmbeddedBot(fakes, workdir, quiet=spec.quiet)
        self.result = RunResult(spec.label, workdir, spec)
        self._t0 = time.monotonic()
        self._journal = open(workdir / "driver.log", "a")  # noqa: SIM115
        self._lives = 0
        self._outbox = _Outbox()
        self._answered: set[int] = set()
        self._acked: list[str] = []  # answers the bot acknowledged
        self._root_ts = ""
        self._recorded: set[str] = set()
        self._kill_plan = list(spec.kill_after)
        self._kill_at: float | None = None
        self._last_progress = time.monotonic()
        self._progress_key: tuple[int, ...] = ()
        self._plan_seen_at: float | None = None
        self._first_llm_at: float | None = None
        self._healthy = False
        self._start_failures = 0
        self._held_since: float | None = None  # a quiet run: when the held question showed up

    # -- bookkeeping -------------------------------------------------------

    def log(self, text: str) -> None:
        self._journal.write(f"{time.monotonic() - self._t0:8.3f} {text}\n")
        self._journal.flush()

    def _now(self) -> float:
        return time.monotonic() - self._t0

    # -- lives -------------------------------------------------------------

    def _spawn(self, failpoint: str | None) -> None:
        """Start a life without waiting for it: Slack keeps retrying meanwhile."""
        where = self.deploy.start(failpoint)
        self._healthy = False
        self._lives += 1
        self.log(f"life {self._lives} started {where} (failpoint {failpoint or '-'})")

    def _check_healthy(self) -> None:
        front = self.deploy.front
        if self._healthy or not self.deploy.healthy():
            if time.monotonic() - front.started > HEALTHY_WITHIN_SECONDS and not self._healthy:
                raise RuntimeError(f"the bot did not become healthy within {HEALTHY_WITHIN_SECONDS:.0f} s (see the logs)")
            return
        self._healthy = True
        # Like Slack, the fake sends the bot's own posts and edits back to it.
        self.f.slack.deliver_events_to(front.events_url, SIGNING_SECRET)
        self.log(f"life {self._lives} healthy")
        if self._lives > 1 and self._kill_plan:
            self._kill_at = time.monotonic() + self._kill_plan.pop(0)

    def _armed_for(self, life: int) -> str | None:
        """The failpoint to arm in the life after `life - 1` failpoint kills."""
        points = self.spec.failpoints
        return points[life - 1] if life <= len(points) else None

    def _next_failpoint(self) -> str | None:
        return self._armed_for(1 + sum(1 for k in self.result.kills if k.how == "failpoint"))

    def _failed_start(self, code: int) -> None:
        """A life that died before it served (e.g. its free port was taken
        meanwhile): start it again, twice at most."""
        if self.deploy.engine != "embedded":
            raise RuntimeError(f"a process exited with {code} at start-up (see the logs)")
        self._start_failures += 1
        self.log(f"life {self._lives} exited with {code} before it was healthy")
        if self._start_failures > 2:
            raise RuntimeError(f"the bot exited with {code} at start-up, 3 times (see bot.log)")
        self._spawn(self._next_failpoint())

    def _record_kill(self, how: str, point: str, role: str = "bot") -> None:
        # Count what the fakes received only once they have handled all of it.
        deadline = time.monotonic() + IDLE_WITHIN_SECONDS
        while not self.f.idle(self.deploy.live_ports()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the fakes still handled requests {IDLE_WITHIN_SECONDS:.0f} s after the kill")
            time.sleep(POLL_SECONDS)
        promises = self.deploy.read_promises()
        found, unknown = recorded_identities(promises, self.f.llm_answer_ids())
        self._recorded |= found
        for item in unknown:
            self.result.errors.append(f"unrecognised stored value: {item}")
        kill = Kill(how, point, self._now(), self.f.marks(), set(self._recorded), role)
        self.result.kills.append(kill)
        self.log(f"kill #{len(self.result.kills)} ({point}): marks={kill.marks} recorded={sorted(found)}")

    # -- Slack -------------------------------------------------------------

    def _deliver(self) -> None:
        now = time.monotonic()
        for item in list(self._outbox.items):
            if item["ready"] > now:
                continue
            retry = item["tries"] or None
            item["tries"] += 1
            try:
                status, _, took = send_signed(
                    self.deploy.front.events_url, item["body"], signing_secret=SIGNING_SECRET, retry_num=retry
                )
            except OSError as exc:
                status, took = 0, 0.0
                self.log(f"send {item['what']} (try {item['tries']}): {type(exc).__name__}")
            if 200 <= status < 300:
                self._outbox.items.remove(item)
                self.log(f"sent {item['what']} (try {item['tries']}): {status} in {took * 1000:.1f} ms")
                if item["what"].startswith("answer"):
                    self._acked.append(item["what"])
            else:
                if status:
                    self.log(f"send {item['what']} (try {item['tries']}): HTTP {status}")
                item["ready"] = now + 0.05

    def _thread(self) -> list[dict[str, Any]]:
        return self.f.slack.posts(CHANNEL, thread_ts=self._root_ts) if self._root_ts else []

    def _answer_new_questions(self, thread: list[dict[str, Any]]) -> None:
        for message in thread:
            if _kind(message) != "ask":
                continue
            for i, (question, answer, user, mention) in enumerate(ANSWERS):
                if i in self._answered or question not in str(message.get("text", "")):
                    continue
                if self.spec.quiet and i == HELD_ANSWER and not self._parked_visible(thread):
                    if self._held_since is None:
                        self._held_since = time.monotonic()
                        self.log(f"question {i + 1} seen; holding the answer until the trip is parked")
                    continue
                self._answered.add(i)
                self.log(f"question {i + 1} seen; answering {answer!r} as {user}")
                if mention:
                    event = app_mention(CHANNEL, f"<@{BOT_USER_ID}> {answer}", user=user, thread_ts=self._root_ts)
                    self._outbox.add(json.dumps(event_envelope(event)), f"answer {i + 1} (app_mention)")
                    self._outbox.add(json.dumps(event_envelope(as_message_event(event))), f"answer {i + 1} (message)")
                else:
                    event = thread_reply(CHANNEL, self._root_ts, answer, user=user)
                    self._outbox.add(json.dumps(event_envelope(event)), f"answer {i + 1}")

    def _parked_visible(self, thread: list[dict[str, Any]]) -> bool:
        """People can see the trip parked: the notice in the thread, the root message."""
        root = self.f.slack.message(CHANNEL, self._root_ts) or {}
        return bool(_parked_notices(thread)) and "Parked" in str(root.get("text", ""))

    def _quiet_seconds_left(self) -> float:
        """While an answer is held: the quiet periods the run knowingly waits out."""
        if self._held_since is None or HELD_ANSWER in self._answered:
            return 0.0
        return max(0.0, self._held_since + QUIET_REMIND_SECONDS + QUIET_PARK_SECONDS - time.monotonic())

    def _plan_trip(self) -> None:
        body = slash_command(REQUEST, channel_id=CHANNEL, user_id="U0ANA", response_url=self.f.slack.response_url())
        try:
            status, _, _ = send_signed(self.deploy.front.events_url, body, signing_secret=SIGNING_SECRET)
        except OSError as exc:
            # Killed before its answer left (an early failpoint): Slack shows the
            # user a timeout and never retries a command; the trip may be under way.
            self.log(f"/plan-trip got no answer ({type(exc).__name__}); waiting for the root message")
        else:
            if status != 200:
                raise RuntimeError(f"/plan-trip answered HTTP {status}")
        roots = self.f.slack.wait_for(
            lambda: [m for m in self.f.slack.posts(CHANNEL) if not m.get("thread_ts")], timeout=HEALTHY_WITHIN_SECONDS
        )
        self._root_ts = str(roots[0]["ts"])
        self.log(f"root message {self._root_ts}")

    @property
    def trip_id(self) -> str:
        return "slack-T0001-" + CHANNEL + "-" + self._root_ts.replace(".", "_")

    # -- the loop ----------------------------------------------------------

    def play(self) -> None:
        started = time.monotonic()
        self._spawn(self._next_failpoint())
        while not self._healthy:
            deaths = self.deploy.deaths()
            if deaths:
                self._failed_start(deaths[0][1])
                continue
            self._check_healthy()
            time.sleep(POLL_SECONDS)
        self._plan_trip()
        deadline = started + RUN_DEADLINE_SECONDS
        while True:
            now = time.monotonic()
            if now > deadline:
                raise _Stuck(f"the run did not finish within {RUN_DEADLINE_SECONDS:.0f} s")
            if self._first_llm_at is None and self.f.llm.calls:
                self._first_llm_at = self.f.llm.calls[0].started
                if self._kill_plan:
                    self._kill_at = self._first_llm_at + self._kill_plan.pop(0)
            deaths = self.deploy.deaths()
            if deaths:
                self._handle_deaths(deaths)
                continue
            if self._kill_at is not None and now >= self._kill_at and self._plan_seen_at is None:
                self._kill_at = None
                self.log(f"SIGKILL life {self._lives} (random)")
                self.deploy.kill_front()
                self._record_kill("random", "random")
                self._spawn(None)
                continue
            self.deploy.tend(self.result.errors, self.log)
            self._check_healthy()
            thread = self._thread()
            self._answer_new_questions(thread)
            if self._outbox.items:
                self._deliver()
            self._watch_progress(thread)
            if self._plan_seen_at is None and any(_kind(m) == "plan" for m in thread):
                self._plan_seen_at = now
                self.log("plan posted")
                if self._first_llm_at is not None:
                    self.result.conversation_seconds = now - self._first_llm_at
            # Done once the store says the trip ended (a kill right after the
            # plan post leaves it unfinished: the loop restarts and waits).
            if self._plan_seen_at is not None and self._healthy and not self._outbox.items and self._finished():
                break
            time.sleep(POLL_SECONDS)
        for role, code in self.deploy.stop().items():
            self.log(f"{role} stopped (exit {code})")
            if code != 0:
                self.result.errors.append(f"{role} exited with {code} on SIGTERM")

    def _handle_deaths(self, deaths: list[tuple[str, int]]) -> None:
        """Processes found dead: a failpoint's SIGKILL is recorded and the
        deployment replaces the process (armed with the next point)."""
        for role, code in deaths:
            self.log(f"{role} died (exit {code}) in life {self._lives}")
            if code != -signal.SIGKILL and not self._healthy and role != "worker":
                self._failed_start(code)
                continue
            if code != -signal.SIGKILL:
                raise RuntimeError(f"the {role} process exited with {code} (not a failpoint SIGKILL)")
            self._record_kill("failpoint", self._next_failpoint() or "?", role)
            where = self.deploy.replace(role, self._next_failpoint(), self.log)
            self._lives += 1
            if role != "worker":
                self._healthy = False
            self.log(f"life {self._lives}: {role} replaced {where} (failpoint {self._next_failpoint() or '-'})")

    def _finished(self) -> bool:
        outcome = chain_outcome(self.deploy.read_promises(), self.trip_id)
        if outcome is None:
            return False
        self.result.outcome_plan = str(outcome.get("plan", ""))
        if outcome.get("status") != "done":
            self.result.errors.append(f"the trip ended {outcome.get('status')!r}")
        self.log(f"trip finished: {outcome.get('status')}")
        return True

    def _watch_progress(self, thread: list[dict[str, Any]]) -> None:
        key = (len(thread), *self.f.marks(), len(self._acked), len(self._outbox.items), self._lives)
        if key != self._progress_key:
            self._progress_key = key
            self._last_progress = time.monotonic()
        elif time.monotonic() - self._last_progress > STALL_SECONDS + self._quiet_seconds_left():
            waiting = [ANSWERS[i][0] for i in range(len(ANSWERS)) if i not in self._answered]
            raise _Stuck(
                f"no progress for {STALL_SECONDS:.0f} s (answers acked: {self._acked}; "
                f"questions not seen yet: {waiting}; posts in thread: {len(thread)})"
            )

    # -- verdict -----------------------------------------------------------

    def judge(self) -> None:
        r = self.result
        thread = self._thread()
        r.posts = len(thread)
        plans = [m for m in thread if _kind(m) == "plan"]
        r.plan_text = str(plans[0].get("text", "")) if plans else ""

        # Duplicate posts: a (step, part) twice, or the same text twice.
        keys = Counter(_step_part(m) for m in thread if _step_part(m) is not None)
        texts = Counter(str(m.get("text", "")) for m in thread)
        r.duplicates = max(sum(n - 1 for n in keys.values()), sum(n - 1 for n in texts.values()))
        for question in QUESTIONS:
            asked = sum(1 for m in thread if _kind(m) == "ask" and question in str(m.get("text", "")))
            if asked > 1:
                r.errors.append(f"question {question!r} posted {asked} times")
        if self.spec.quiet:
            # Nobody answered for a while: one reminder, one parking, each exactly once.
            held = ANSWERS[HELD_ANSWER][0]
            reminded = [m for m in thread if _kind(m) == "notice" and "waiting for an answer" in str(m.get("text", ""))
                        and held in str(m.get("text", ""))]
            for what, found in (("reminder", reminded), ("parked notice", _parked_notices(thread))):
                if len(found) != 1:
                    r.errors.append(f"a quiet run posted {len(found)} {what}s (1 expected)")
        roots = [m for m in self.f.slack.posts(CHANNEL) if not m.get("thread_ts")]
        if len(roots) != 1:
            r.errors.append(f"{len(roots)} root messages in the channel")

        # Lost or doubled replies: the final LLM request holds each answer exactly once.
        calls = list(self.f.llm.calls)
        if plans and calls:
            final = "\n".join(str(m.get("content") or "") for m in calls[-1].messages if m.get("role") == "user")
            for _, answer, _, _ in ANSWERS:
                n = final.count(answer)
                r.lost += n == 0
                r.twice += n > 1
        else:
            for i, (_, answer, _, _) in enumerate(ANSWERS):
                seen = [
                    "\n".join(str(m.get("content") or "") for m in c.messages if m.get("role") == "user").count(answer)
                    for c in calls
                ]
                acked = any(a.startswith(f"answer {i + 1}") for a in self._acked)
                r.lost += acked and max(seen, default=0) == 0
                r.twice += max(seen, default=0) > 1

        # Plan: what people see and what the workflow returned.
        if self.reference is not None:
            if r.plan_text != self.reference.plan_text or r.outcome_plan != self.reference.outcome_plan:
                r.plan_mismatch = 1
                (self.workdir / "plan.txt").write_text(f"{r.plan_text}\n-----\n{r.outcome_plan}\n")
                (self.workdir / "reference-plan.txt").write_text(
                    f"{self.reference.plan_text}\n-----\n{self.reference.outcome_plan}\n"
                )
                r.details.append("plan differs: " + _first_difference(
                    f"{self.reference.plan_text}\n{self.reference.outcome_plan}", f"{r.plan_text}\n{r.outcome_plan}"
                ))
            if r.posts < self.reference.posts:
                r.errors.append(f"{r.posts} posts in the thread, {self.reference.posts} expected")

        # Repeated completed paid calls, with the in-flight allowance.
        if self.spec.must_reach:
            fired = [k.point for k in r.kills if k.how == "failpoint"]
            for point in self.spec.failpoints[len(fired):]:
                r.errors.append(f"failpoint {point} was never reached")
        self._count_repeats()

    def _count_repeats(self) -> None:
        r = self.result
        f = self.f
        bounds = [(0, 0, 0), *[k.marks for k in r.kills], f.marks()]
        lives: list[list[str]] = []
        for (l0, s0, p0), (l1, s1, p1) in zip(bounds, bounds[1:], strict=False):
            lives.append([*f.llm_identities(l0, l1), *f.search_identities(s0, s1), *f.scrape_identities(p0, p1)])
        r.repeats, r.reruns, r.repeated, r.reran = count_repeats(lives, [k.recorded for k in r.kills])

    @property
    def reached_failpoint(self) -> bool:
        return any(k.how == "failpoint" for k in self.result.kills)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.deploy.close()
        self._journal.close()


def rerun_summary(results: list[RunResult]) -> str:
    """Which in-flight calls ran again, most frequent first."""
    counts = Counter(ident for r in results for ident in r.reran)
    if not counts:
        return "no paid call was in flight at a kill"
    return "in flight at a kill, ran again: " + ", ".join(f"{i} x{n}" for i, n in counts.most_common())


def _first_difference(expected: str, got: str) -> str:
    a, b = expected.splitlines(), got.splitlines()
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: expected {x[:100]!r}, got {y[:100]!r}"
    return f"expected {len(a)} lines, got {len(b)}"


def count_repeats(
    lives: list[list[str]], recorded: list[set[str]]
) -> tuple[int, int, list[str], list[str]]:
    """(repeats, allowed reruns, what repeated, what reran) for the paid calls each life made.

    `recorded[k]`: what the store held when life k+1 was killed (cumulative).
    A call life k made that the store did not hold at its kill was in flight:
    it may run once more, once per such kill. Every other extra run repeats a
    completed paid call.
    """
    allowed: Counter[str] = Counter()
    for held, executed in zip(recorded, lives, strict=False):
        for ident in set(executed) - held:
            allowed[ident] += 1
    execs = Counter(ident for life in lives for ident in life)
    repeats = reruns = 0
    repeated: list[str] = []
    reran: list[str] = []
    for ident, n in sorted(execs.items()):
        extra = n - 1
        if extra <= 0:
            continue
        legit = min(extra, allowed[ident])
        reruns += legit
        reran += [ident] * legit
        if extra > legit:
            repeats += extra - legit
            repeated.append(f"{ident} x{n} (in flight at {allowed[ident]} kill(s))")
    return repeats, reruns, repeated, reran


class _Stuck(Exception):
    pass


def _kind(message: dict[str, Any]) -> str:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    return str(payload.get("kind", ""))


def _parked_notices(thread: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in thread if _kind(m) == "notice" and "parked this trip" in str(m.get("text", ""))]


def _step_part(message: dict[str, Any]) -> tuple[str, str] | None:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    if "step" not in payload:
        return None
    return str(payload["step"]), str(payload.get("part", 0))


def run_trip(spec: RunSpec, workdir: Path, reference: Reference | None, engine: str = "embedded") -> RunResult:
    """Play the whole scripted trip once, with the kills `spec` asks for,
    against one `run` process (embedded) or `web` + 2 `worker`s (postgres)."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with running_fakes() as fakes:
        try:
            deployment = _deployment(engine, fakes, workdir, spec)
        except Exception as exc:
            result = RunResult(spec.label, workdir, spec, errors=[f"no deployment: {type(exc).__name__}: {exc}"])
            result.seconds = time.monotonic() - started
            return result
        driver = Driver(spec, fakes, workdir, reference, deployment)
        try:
            driver.play()
        except _Stuck as exc:
            driver.result.errors.append(f"stuck: {exc}")
        except Exception as exc:
            driver.result.errors.append(f"{type(exc).__name__}: {exc}")
            driver.log(traceback.format_exc())
        finally:
            driver.close()
        try:
            driver.judge()
        except Exception as exc:
            driver.result.errors.append(f"judging failed: {type(exc).__name__}: {exc}")
        notes = deployment.notes()
        driver.result.takeovers = list(notes.get("takeovers", []))
        driver.result.no_survivor = int(notes.get("no_survivor", 0))
        with contextlib.suppress(Exception):
            deployment.close()
    driver.result.seconds = time.monotonic() - started
    return driver.result


ENGINES = ("embedded", "postgres")


def _deployment(engine: str, fakes: Fakes, workdir: Path, spec: RunSpec) -> Deployment:
    if engine == "embedded":
        return EmbeddedBot(fakes, workdir, quiet=spec.quiet)
    if engine == "postgres":
        from reliability.postgres_cluster import PostgresCluster

        server_url, schema = _shared_postgres()
        return PostgresCluster(fakes, workdir, quiet=spec.quiet, server_url=server_url, schema=schema)
    msg = f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}"
    raise ValueError(msg)


def _shared_postgres() -> tuple[str, bytes]:
    """The Postgres server runs get their databases on, and the schema (once per process)."""
    from reliability.postgres_cluster import postgres_server

    with _shared_lock:
        if "postgres" not in _shared:
            _shared["postgres"] = postgres_server()
        return _shared["postgres"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------
# many runs


_shared_lock = threading.RLock()
_shared: dict[str, Any] = {}


def work_root() -> Path:
    """This process's scratch directory for runs (one per process)."""
    import tempfile

    with _shared_lock:
        if "root" not in _shared:
            _shared["root"] = Path(tempfile.mkdtemp(prefix="reliability-crash-"))
            atexit.register(_tidy, _shared["root"])
        return Path(_shared["root"])


def _tidy(root: Path) -> None:
    """At exit: drop the scratch directory unless a failed run's logs are in it."""
    if not root.exists() or not any(k.startswith("reference") for k in _shared):  # the crash-free run failed: keep it
        return
    kept = [p for p in root.glob("*/*") if p.is_dir() and not p.parent.name.startswith("reference")]
    if not kept:
        shutil.rmtree(root, ignore_errors=True)


def shared_reference(engine: str = "embedded") -> tuple[Reference, RunResult]:
    """The crash-free run every crashed run is compared with (once per process and engine)."""
    root = work_root()
    key = "reference" if engine == "embedded" else f"reference-{engine}"
    with _shared_lock:
        if key not in _shared:
            result = run_trip(RunSpec("no crash"), root / key, None, engine)
            if not result.ok or not result.plan_text:
                raise RuntimeError(f"the crash-free run failed: {result.describe()}")
            ref = Reference(result.plan_text, result.outcome_plan, result.posts, result.conversation_seconds)
            _shared[key] = (ref, result)
        return _shared[key]  # type: ignore[no-any-return]


def run_many(
    specs: list[RunSpec],
    root: Path,
    reference: Reference,
    jobs: int,
    on_result: Callable[[RunResult], None] | None = None,
    follow_up: Callable[[RunResult], RunSpec | None] | None = None,
    engine: str = "embedded",
) -> list[RunResult]:
    """Run `specs`, up to `jobs` at once; `follow_up` may add a run after each
    result (e.g. the next occurrence of a failpoint). Results in start order."""
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    counter = iter(range(1_000_000))

    def one(spec: RunSpec) -> RunResult:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.label)[:60]
        return run_trip(spec, root / f"{next(counter):03d}-{slug}", reference, engine)

    results: dict[int, RunResult] = {}
    order = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        pending: dict[Future[RunResult], int] = {}
        for spec in specs:
            pending[pool.submit(one, spec)] = order
            order += 1
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                result = future.result()
                results[index] = result
                if on_result is not None:
                    on_result(result)
                nxt = follow_up(result) if follow_up is not None else None
                if nxt is not None:
                    pending[pool.submit(one, nxt)] = order
                    order += 1
    return [results[i] for i in sorted(results)]


def cleanup(results: list[RunResult], keep: bool) -> None:
    """Remove the directories of runs that passed (unless asked to keep them)."""
    if keep:
        return
    for result in results:
        if result.ok:
            shutil.rmtree(result.workdir, ignore_errors=True)


def summary_row(label: str, results: list[RunResult]) -> list[object]:
    """One table row summing runs: the columns of both crash suites."""
    return [
        label,
        len(results),
        sum(len(r.kills) for r in results),
        sum(r.repeats for r in results),
        sum(r.reruns for r in results),
        sum(r.lost for r in results),
        sum(r.twice for r in results),
        sum(r.duplicates for r in results),
        sum(r.plan_mismatch for r in results),
        sum(len(r.errors) for r in results),
    ]
