"""A real redis-server for tests, benchmarks and the reliability suites:
started on a free port, stopped at the end.

`RedisServer` has `.url`, `.port`, `.restart(keep_data=...)`, `.stop()`,
`.start()`. It is ours alone (a temp dir, no persistence unless asked), so
nothing touches a Redis it did not start. Share one by using a unique key
namespace per test rather than flushing; a test that restarts or stops the
server should use its own (`with RedisServer() as server: ...`, or the
`private_redis_server` fixture of tests/conftest.py, where the suite's
fixtures are).

`redis-server` is looked up as $REDIS_SERVER_BIN, then on PATH, then
/usr/bin/redis-server; tests needing it are skipped when it is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from testing.loopback import free_port


def find_redis_server() -> str | None:
    candidates = [os.environ.get("REDIS_SERVER_BIN"), shutil.which("redis-server")]
    candidates.append("/usr/bin/redis-server")
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    return None


def _ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process bound to 127.0.0.1 on a fixed port."""

    def __init__(self, binary: str | None = None, port: int | None = None) -> None:
        found = binary or find_redis_server()
        if found is None:
            raise FileNotFoundError("redis-server not found (set REDIS_SERVER_BIN)")
        self.binary = found
        self.port = port or free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="redis-test-")
        self.dir = Path(self._tmp.name)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for_db(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start (loading dump.rdb from an earlier `restart(keep_data=True)`)."""
        if self.running:
            return
        log = self.dir / "redis.log"
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--dbfilename",
                "dump.rdb",
                "--logfile",
                str(log),
                "--daemonize",
                "no",
            ],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if _ping(self.port):
                return
            time.sleep(0.02)
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"redis-server did not come up on port {self.port}:\n{detail}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL with kill=True); data not saved."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            if kill:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def restart(self, *, keep_data: bool = False, kill: bool = False) -> None:
        """Stop and start again on the same port.

        keep_data=False: the new server is empty (Redis without persistence).
        keep_data=True: SAVE first, so the new server loads the same data
        (Redis with persistence). Clients reconnect on their next command;
        server-side script caches are empty after a restart either way.
        """
        dump = self.dir / "dump.rdb"
        if keep_data:
            self._command(b"SAVE")
        self.stop(kill=kill)
        if not keep_data:
            dump.unlink(missing_ok=True)
        self.start()

    def _command(self, name: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(name + b"\r\n")
            answer = sock.recv(256)
        if not answer.startswith(b"+"):
            raise RuntimeError(f"redis {name!r} failed: {answer!r}")
        return answer

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_redis_server(attempts: int = 3) -> RedisServer:
    """A started server on a free port (tried again if the port was taken
    between choosing it and binding it)."""
    last: Exception | None = None
    for _ in range(attempts):
        server = RedisServer()
        try:
            server.start()
            return server
        except RuntimeError as exc:
            server.close()
            last = exc
    raise RuntimeError(f"could not start redis-server: {last}")


__all__ = ["RedisServer", "find_redis_server", "start_redis_server"]
