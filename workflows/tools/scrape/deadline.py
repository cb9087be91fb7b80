"""A wall-clock budget for one page fetch that no server can stretch.

Socket timeouts bound each `recv`, not the whole exchange: a server that
sends one byte every few seconds (in the headers, the TLS handshake or the
body) keeps every read under its timeout forever. So each socket the fetch
opens is registered here, and when the budget runs out a timer thread shuts
them down, which makes any blocked read return at once.
"""

from __future__ import annotations

import socket
import threading
import time


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()

    def remaining(self) -> float:
        return max(0.0, self._ends_at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._expired or self.remaining() <= 0

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the budget runs out (at once if it has)."""
        with self._lock:
            if not self._expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        # The plain socket method even for an ssl.SSLSocket: its own shutdown()
        # also drops the TLS state that a reader in another thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed, or detached by the TLS wrapper
