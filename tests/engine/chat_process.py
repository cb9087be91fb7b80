"""Drive a real `travel-planner chat` process: read its questions, answer
them, SIGKILL it at chosen moments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

PROMPT = "planner> "


class ChatProcess:
    def __init__(self, env: dict[str, str], args: Sequence[str], stderr_path: str) -> None:
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

    def wait_for(self, match: Callable[[list[str]], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not match(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == "<EOF>" and not match(self.lines)):
                    raise AssertionError(f"timed out; output so far: {self.lines}")
                self._cond.wait(left)

    def questions(self) -> list[str]:
        with self._cond:
            return [line[len(PROMPT):] for line in self.lines if line.startswith(PROMPT)]

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def close_input(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._stderr.close()

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._stderr.close()
        return code

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


def answer_questions(
    chat: ChatProcess, answers: dict[str, str], until: Callable[[ChatProcess], bool], answered: set[str]
) -> None:
    """Answer each question once (across restarts, via `answered`) until `until` holds."""
    while not until(chat) and chat.proc.poll() is None:
        pending = [q for q in chat.questions() if q in answers and q not in answered]
        for q in pending:
            chat.send(answers[q])
            answered.add(q)
        time.sleep(0.02)
