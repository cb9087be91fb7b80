"""The embedded state directory: one SQLite database, one owning process."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

DB_NAME = "travel-planner.sqlite3"
LOCK_NAME = "owner.lock"


class StateDirBusy(Exception):
    """Another live process owns the state directory."""

    def __init__(self, path: str, owner: str) -> None:
        super().__init__(path, owner)
        self.path = path
        self.owner = owner

    def __str__(self) -> str:
        who = f" (pid {self.owner})" if self.owner else ""
        return (
            f"another travel-planner process{who} is using the state directory "
            f"{self.path}; stop it first, or set TRAVEL_PLANNER_STATE_DIR to "
            "another directory"
        )


class StateDirUnusable(Exception):
    """The state directory cannot be created, locked or written."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"the state directory {self.path} cannot be used ({self.reason}); make it writable "
            "(or point TRAVEL_PLANNER_STATE_DIR elsewhere) and start again: nothing recorded is lost"
        )


class StateDir:
    """Owns the state directory for the life of the process.

    `flock` is released by the kernel when the process dies, SIGKILL included,
    so a crash never leaves a stale lock behind.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateDirUnusable(str(self.path), exc.strerror or str(exc)) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self._lock_fd, 32, 0).decode(errors="replace").strip()
            os.close(self._lock_fd)
            raise StateDirBusy(str(self.path), owner) from None
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, str(os.getpid()).encode(), 0)
        self.db = open_database(self.path / DB_NAME)

    def close(self) -> None:
        self.db.close()
        os.close(self._lock_fd)


#: SQLite's `synchronous` for the state database (see `open_database`):
#: NORMAL, because FULL measured 6.7 ms more per durable step (a WAL sync per
#: commit, on the event loop) against a budget of 1 ms.
SYNCHRONOUS = "NORMAL"
_SYNCHRONOUS_LEVELS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}


def open_database(path: Path, *, synchronous: str = SYNCHRONOUS) -> sqlite3.Connection:
    """Autocommit connection in WAL mode, used from the event-loop thread only.

    Every commit survives a process crash (SIGKILL) whatever `synchronous` is.
    With WAL and `NORMAL` the WAL is synced only at checkpoints, so a power
    loss or an OS crash can roll back the last commits before it, though it
    never corrupts the database; `FULL` also syncs the WAL at each commit, so
    an acknowledged commit survives those too (on storage that honours fsync).
    `benchmarks/durable_overhead.py` measures what FULL costs per step.
    """
    level = _SYNCHRONOUS_LEVELS.get(synchronous.upper())
    if level is None:
        msg = f"synchronous must be one of {', '.join(_SYNCHRONOUS_LEVELS)}, got {synchronous!r}"
        raise ValueError(msg)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={level}")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn
