"""A TCP proxy in front of a real Postgres that counts the client's round trips.

Every request a client makes of Postgres ends in a message that asks for an
answer: a simple Query ('Q') or, for the extended protocol, a Sync ('S'); the
client then waits for ReadyForQuery. So the count of those two messages is the
count of round trips. The proxy reads the frontend's message framing (a type
byte and a 4-byte length, after the untyped startup packet) and forwards every
byte unchanged in both directions.

    with CountingProxy(server_url) as proxy:
        ...connect to proxy.url(database)...
        proxy.round_trips()
"""

from __future__ import annotations

import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

#: Startup-phase requests the server answers with one byte ('S' or 'N'):
#: SSLRequest, GSSENCRequest. The startup packet proper follows them.
_NEGOTIATION_CODES = {80877103, 80877104}


class CountingProxy:
    def __init__(self, server_url: str) -> None:
        parts = urlsplit(server_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._parts = parts
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, database: str | None = None) -> str:
        """`server_url` through the proxy (TLS and GSS off: the proxy reads the bytes)."""
        port = self._listener.getsockname()[1]
        netloc = self._parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{port}"
        netloc_new = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
        path = f"/{database}" if database else self._parts.path
        return urlunsplit((self._parts.scheme, netloc_new, path, "sslmode=disable&gssencmode=disable", ""))

    def round_trips(self) -> int:
        with self._lock:
            return self._counts.get("Q", 0) + self._counts.get("S", 0)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._frontend, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    @staticmethod
    def _read(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _frontend(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while True:  # the untyped startup phase
                head = self._read(client, 8)
                length, code = struct.unpack("!ii", head)
                server.sendall(head + self._read(client, length - 8))
                if code not in _NEGOTIATION_CODES:
                    break
            while True:
                head = self._read(client, 5)
                kind, length = head[:1].decode("ascii", "replace"), struct.unpack("!i", head[1:])[0]
                body = self._read(client, length - 4)
                with self._lock:
                    self._counts[kind] = self._counts.get(kind, 0) + 1
                server.sendall(head + body)
        except (EOFError, OSError):
            pass
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


__all__ = ["CountingProxy"]
