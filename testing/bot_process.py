"""A real `travel-planner` process (`run`, `web` or `worker`) wired to
loopback fakes, and a Slack player that drives it with signed requests.

Every wait is a condition with a generous deadline (`DEADLINE`): a loaded
machine gets time, a fast one goes on as soon as the condition holds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testing.fakes.llm_server import ScriptedLLM
from testing.fakes.research import FakeSerper
from testing.fakes.slack_api import BOT_USER_ID, DEFAULT_TOKEN, FakeSlackWebAPI
from testing.fakes.slack_requests import (
    app_mention,
    as_message_event,
    event_envelope,
    send_signed,
    slash_command,
    thread_reply,
)
from testing.research_fakes import research_env
from testing.waiting import poll_until

SIGNING_SECRET = "0123456789abcdef0123456789abcdef"
CHANNEL = "C0TRIP"
#: Deadline for anything the bot does on its own (start, post, exit).
DEADLINE = 60.0
#: A `worker` serves no HTTP: it is ready once it has logged this line.
WORKER_READY = b"travel-planner worker: running trips"


def bot_env(api: FakeSlackWebAPI, llm: ScriptedLLM, serper: FakeSerper, state_dir: Path, port: int) -> dict[str, str]:
    return {
        **research_env(llm, serper, state_dir),
        "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api.api_url,
        "PORT": str(port),
        "TRAVEL_PLANNER_LOG_LEVEL": "INFO",
    }


class BotProcess:
    """One life of `python -m travel_planner.cli COMMAND`, started and killed for real.

    `env` is added to this process's environment (`inherit_environ=False`:
    it is the whole environment). The constructor waits until the process is
    ready (`healthy()`), up to `ready_within` seconds; None: it does not wait.
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        command: str = "run",
        *,
        inherit_environ: bool = True,
        ready_within: float | None = DEADLINE,
    ) -> None:
        self.port = int(env.get("PORT") or 0)
        self.command = command
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115
        self._offset = log_path.stat().st_size  # this life's output starts here
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "travel_planner.cli", command],
            env={**os.environ, **env} if inherit_environ else env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.started = time.monotonic()
        if ready_within is not None:
            self.wait_healthy(ready_within)

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def healthy(self, timeout: float = 1.0) -> bool:
        """Serving: `/healthz` answers (a `worker`, which serves no HTTP: its ready line is logged)."""
        if self.command == "worker":
            return WORKER_READY in self.log_path.read_bytes()[self._offset :]
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout) as r:
                return r.status == 200
        return False

    def wait_healthy(self, timeout: float = DEADLINE) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.command} exited with {self.proc.returncode}: {self.output()[-2000:]}")
            return self.healthy(timeout=5)

        poll_until(ready, timeout, interval=0.05)

    def output(self) -> str:
        """What this life logged."""
        return self.log_path.read_bytes()[self._offset :].decode("utf-8", "replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        """The exit code, once the process has ended by itself."""
        poll_until(lambda: self.proc.poll() is not None, timeout, interval=0.05)
        return self.proc.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(DEADLINE)
        self._log.close()

    def reap(self) -> int:
        """The exit code of a process that has ended (or is ending)."""
        code = self.proc.wait(DEADLINE)
        self._log.close()
        return code

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not ended within `DEADLINE`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(DEADLINE)
        else:
            code = self.proc.returncode
        self._log.close()
        return code


@dataclass
class SlackPlayer:
    """Plays Slack: sends commands and thread messages, reads the thread."""

    api: FakeSlackWebAPI
    events_url: str
    acks: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Like Slack, the fake sends the bot's own posts and edits back to it.
        self.api.deliver_events_to(self.events_url, SIGNING_SECRET)

    def post(self, body: str, retry_num: int | None = None) -> int:
        status, _, elapsed = send_signed(self.events_url, body, signing_secret=SIGNING_SECRET, retry_num=retry_num)
        self.acks.append(elapsed)
        return status

    def plan_trip(self, text: str, user: str = "U0ANA") -> dict[str, Any]:
        before = len(self.api.posts(CHANNEL))
        assert self.post(slash_command(text, channel_id=CHANNEL, user_id=user,
                                       response_url=self.api.response_url())) == 200
        return self.api.wait_for(lambda: [m for m in self.api.posts(CHANNEL)[before:] if not m.get("thread_ts")],
                                 timeout=DEADLINE)[0]

    def thread(self, root_ts: str) -> list[dict[str, Any]]:
        return self.api.posts(CHANNEL, thread_ts=root_ts)

    def questions(self, root_ts: str) -> list[str]:
        return [m["text"] for m in self.thread(root_ts) if _step_kind(m) == "ask"]

    def wait_questions(self, root_ts: str, n: int, timeout: float = DEADLINE) -> list[str]:
        self.api.wait_for(lambda: len(self.questions(root_ts)) >= n, timeout=timeout)
        return self.questions(root_ts)

    def reply(self, root_ts: str, text: str, user: str, *, retries: int = 0) -> str:
        event = thread_reply(CHANNEL, root_ts, text, user=user)
        body = json.dumps(event_envelope(event))
        assert self.post(body) == 200
        for n in range(1, retries + 1):
            assert self.post(body, retry_num=n) == 200
        return str(event["ts"])

    def mention_reply(self, root_ts: str, text: str, user: str) -> None:
        """A reply that mentions the bot: Slack sends app_mention and message."""
        mention = app_mention(CHANNEL, f"<@{BOT_USER_ID}> {text}", user=user, thread_ts=root_ts)
        assert self.post(json.dumps(event_envelope(mention))) == 200
        assert self.post(json.dumps(event_envelope(as_message_event(mention)))) == 200


def thread_questions(api: FakeSlackWebAPI, channel: str, root_ts: str) -> list[str]:
    """The planner's questions in a thread, in order."""
    return [m["text"] for m in api.posts(channel, thread_ts=root_ts) if _step_kind(m) == "ask"]


def _step_kind(message: dict[str, Any]) -> str:
    step = str(((message.get("metadata") or {}).get("event_payload") or {}).get("step", ""))
    name = step.rsplit("/", 1)[-1]
    return name.rstrip("0123456789")


def duplicate_posts(api: FakeSlackWebAPI) -> list[tuple[str, str]]:
    """(step, part) pairs posted more than once."""
    seen: dict[tuple[str, str], int] = {}
    for m in api.posts():
        payload = (m.get("metadata") or {}).get("event_payload") or {}
        if "step" in payload:
            key = (str(payload["step"]), str(payload.get("part", 0)))
            seen[key] = seen.get(key, 0) + 1
    return [k for k, n in seen.items() if n > 1]


@contextlib.contextmanager
def running_bot(env: dict[str, str], log_path: Path) -> Iterator[BotProcess]:
    bot = BotProcess(env, log_path)
    try:
        yield bot
    finally:
        if bot.proc.poll() is None:
            bot.stop()
