"""Posting exactly once per key, on a `PostLedger`, for every chat port.

A step that posts can run again: after a crash, or when its answer was lost.
So each post goes through three marks in the ledger: "intent" before it is
sent, "done" (with the surface's id for the post) after. A key marked done is
never sent again. A key marked only intent may or may not have reached the
surface (the process died in between): the chat port may look for it there
(`find`); if it does not, or finds nothing, the post is sent again.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable

from workflows.ports import PostLedger


class ExactlyOnce:
    """Runs each post at most once per ledger key (see the module docstring).

    Within one process a lock per key keeps two concurrent calls for the same
    key from both sending."""

    def __init__(self, ledger: PostLedger) -> None:
        self._ledger = ledger
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def post(
        self,
        key: str,
        send: Callable[[], Awaitable[str]],
        *,
        find: Callable[[], Awaitable[str | None]] | None = None,
    ) -> str:
        """The ref of the post under `key`: as recorded, as `find` finds it
        after an intent, or as `send` returns it now (then recorded)."""
        async with self._lock_for(key):
            record = await self._ledger.post_record(key)
            if record is not None and record.state == "done":
                return record.ref
            if record is None:
                await self._ledger.record_post_intent(key)
            elif find is not None:
                found = await find()
                if found is not None:
                    await self._ledger.record_post_done(key, found)
                    return found
            ref = await send()
            await self._ledger.record_post_done(key, ref)
            return ref

    async def posted(self, key: str) -> str | None:
        """The ref of the post under `key` if it is done, else None."""
        record = await self._ledger.post_record(key)
        return record.ref if record is not None and record.state == "done" else None

    def _lock_for(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock
