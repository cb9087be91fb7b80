"""The registry the bot and engine tests use: the real SQLite one, in memory.

No test double: `SqliteThreadRegistry` on a private `:memory:` database is
as fast as a dict and has the real semantics (the contract suite in
tests/registry/ proves them).
"""

from __future__ import annotations

import sqlite3

from workflows.registry import SqliteThreadRegistry


def memory_registry() -> SqliteThreadRegistry:
    """A fresh registry of its own. Call it on the thread (event loop) that
    will use it: the SQLite connection is bound to its creating thread."""
    return SqliteThreadRegistry(sqlite3.connect(":memory:", isolation_level=None))
