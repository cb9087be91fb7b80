"""The embedded store's disk format: a SQLite (WAL) journal plus one snapshot.

Every state-changing operation is appended before its answer leaves the
store; start-up loads the snapshot and replays the journal after it. Bodies
are zlib-compressed when that pays (JSON with base64 values compresses well),
which keeps durable bytes close to the transcript's own.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from dataclasses import dataclass

import msgspec
from resonate.connections.local import unwrap_request_envelope
from resonate.error import ServerError

from workflows.durable.server_state import JournaledServerState

logger = logging.getLogger(__name__)

#: Bodies shorter than this are stored as they are.
COMPRESS_FROM_BYTES = 256

OP_REQUEST = "req"
OP_TICK = "tick"
OP_RECOVER = "recover"
OP_PRUNE = "prune"
OP_COMPACT = "compact"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS durable_journal (
    -- AUTOINCREMENT: seqs must never be reused after a snapshot empties the table
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    op TEXT NOT NULL,
    z INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS durable_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    z INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
"""


class StoreWriteError(Exception):
    """The journal could not be written: the store must stop (fail-stop)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return (
            f"the durable state could not be written ({self.detail}); stopping "
            "so that no step runs without being recorded. Free disk space or "
            "fix permissions on TRAVEL_PLANNER_STATE_DIR, then start again: "
            "nothing recorded so far is lost."
        )


@dataclass(frozen=True, slots=True)
class LoadedState:
    state: JournaledServerState
    last_seq: int
    replayed: int
    snapshot_bytes: int


def _pack(body: bytes) -> tuple[int, bytes]:
    if len(body) >= COMPRESS_FROM_BYTES:
        packed = zlib.compress(body, 1)
        if len(packed) < len(body):
            return 1, packed
    return 0, body


def _unpack(z: int, body: bytes) -> bytes:
    return zlib.decompress(body) if z else bytes(body)


class DurableJournal:
    """Appends operations and snapshots to the state database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.executescript(_SCHEMA)
        self.entries_since_snapshot = 0
        self.bytes_since_snapshot = 0
        self.snapshot_bytes = 0

    def append(self, at: int, op: str, body: bytes = b"") -> int:
        z, stored = _pack(body)
        try:
            cur = self._conn.execute(
                "INSERT INTO durable_journal (at, op, z, body) VALUES (?, ?, ?, ?)",
                (at, op, z, stored),
            )
        except sqlite3.Error as exc:
            raise StoreWriteError(str(exc)) from exc
        self.entries_since_snapshot += 1
        self.bytes_since_snapshot += len(stored)
        return int(cur.lastrowid or 0)

    def load(self) -> LoadedState:
        row = self._conn.execute(
            "SELECT seq, z, body FROM durable_snapshot WHERE id = 1"
        ).fetchone()
        if row is None:
            state, after, snap_bytes = JournaledServerState(), 0, 0
        else:
            after, z, body = row
            state = JournaledServerState.from_snapshot(_unpack(z, body))
            snap_bytes = len(body)
        replayed = 0
        last = after
        self.bytes_since_snapshot = 0
        self.snapshot_bytes = snap_bytes
        for seq, at, op, z, body in self._conn.execute(
            "SELECT seq, at, op, z, body FROM durable_journal WHERE seq > ? "
            "ORDER BY seq",
            (after,),
        ):
            apply_entry(state, at, op, _unpack(z, body))
            self.bytes_since_snapshot += len(body)
            last = seq
            replayed += 1
        self.entries_since_snapshot = replayed
        return LoadedState(state, last, replayed, snap_bytes)

    def write_snapshot(self, state: JournaledServerState, seq: int, at: int) -> None:
        """Replace the snapshot and drop the journal it covers, atomically."""
        z, body = _pack(state.to_snapshot())
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT OR REPLACE INTO durable_snapshot (id, seq, at, z, body) "
                "VALUES (1, ?, ?, ?, ?)",
                (seq, at, z, body),
            )
            self._conn.execute("DELETE FROM durable_journal WHERE seq <= ?", (seq,))
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise StoreWriteError(str(exc)) from exc
        self.entries_since_snapshot = 0
        self.bytes_since_snapshot = 0
        self.snapshot_bytes = len(body)

    def stored_bytes(self) -> int:
        """Bytes of durable state: snapshot plus journal bodies."""
        snap = self._conn.execute(
            "SELECT COALESCE(SUM(LENGTH(body)), 0) FROM durable_snapshot"
        ).fetchone()[0]
        journal = self._conn.execute(
            "SELECT COALESCE(SUM(LENGTH(body)), 0) FROM durable_journal"
        ).fetchone()[0]
        return int(snap) + int(journal)


def apply_entry(state: JournaledServerState, at: int, op: str, body: bytes) -> None:
    """Re-apply one journaled operation (replay)."""
    if op == OP_REQUEST:
        req = unwrap_request_envelope(msgspec.json.decode(body))
        try:
            state.apply(at, req)
        except ServerError:
            pass  # it failed the same way live; the state is what it was then
    elif op == OP_TICK:
        state.tick(at)
    elif op == OP_RECOVER:
        state.recover(at)
    elif op == OP_PRUNE:
        state.prune(msgspec.json.decode(body, type=list[str]))
    elif op == OP_COMPACT:
        state.compact(msgspec.json.decode(body, type=list[str]))
    else:
        msg = f"unknown journal operation {op!r}: was this state written by a newer version?"
        raise ValueError(msg)
    state.outgoing.clear()
