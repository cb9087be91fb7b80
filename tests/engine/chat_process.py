"""Drive a real `travel-planner chat` process: read its questions, answer
them, SIGKILL it at chosen moments.

Every wait is a condition with a generous deadline (a loaded machine may be
slow; a fast one returns as soon as the condition holds)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from testing.waiting import poll_until

PROMPT = "planner> "
#: Deadline for anything the chat does on its own (print, finish, exit).
DEADLINE = 60.0


class ChatProcess:
    def __init__(self, env: dict[str, str], args: Sequence[str], stderr_path: str) -> None:
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "travel_planner.cli", "chat", *args],
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<EOF>")
            self._cond.notify_all()

    def wait_for(self, match: Callable[[list[str]], bool], timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not match(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == "<EOF>"):
                    raise AssertionError(f"timed out after {timeout}s; output so far: {self.lines}\n{self.stderr()}")
                self._cond.wait(left)

    def questions(self) -> list[str]:
        with self._cond:
            return [line[len(PROMPT):] for line in self.lines if line.startswith(PROMPT)]

    def send(self, text: str) -> bool:
        """Write one answer; False if the process is gone (the answer was not read)."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            return False
        return True

    def close_input(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def wait(self, timeout: float = DEADLINE) -> int:
        """The exit code, once the process has ended and its output is read."""
        code = self.proc.wait(timeout)
        self._stderr.close()
        self.wait_for(lambda lines: bool(lines) and lines[-1] == "<EOF>", timeout)
        return code

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def stderr(self) -> str:
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def answer_questions(
    chat: ChatProcess,
    answers: dict[str, str],
    until: Callable[[ChatProcess], bool],
    answered: set[str],
    timeout: float = 90.0,
) -> None:
    """Answer each question once (across restarts, via `answered`) until
    `until` holds or the process ends."""

    def settled() -> bool:
        if until(chat) or chat.proc.poll() is not None:
            return True
        for q in chat.questions():
            if q in answers and q not in answered and chat.send(answers[q]):
                answered.add(q)
        return False

    try:
        poll_until(settled, timeout=timeout, interval=0.02)
    except AssertionError:
        raise AssertionError(f"no progress in {timeout}s; output so far: {chat.output()}\n{chat.stderr()}") from None
