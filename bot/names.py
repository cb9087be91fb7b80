"""Names of people and channels, looked up once each, with a bounded wait.

Replies are stored before Slack hears "ok", so a caller waits for a cold
lookup at most `wait` seconds; the lookup keeps running in the background
and fills the cache for the next message that needs the name. Concurrent
callers share one lookup.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

#: Names kept per cache (least recently used dropped first).
DEFAULT_SIZE = 2048


class NameCache:
    """`fetch(id)` returns the name, or None when Slack cannot say (then the
    next caller asks again); found names are kept."""

    def __init__(self, fetch: Callable[[str], Awaitable[str | None]], size: int = DEFAULT_SIZE) -> None:
        self._fetch = fetch
        self._size = size
        self._known: OrderedDict[str, str] = OrderedDict()
        self._pending: dict[str, asyncio.Future[str | None]] = {}

    def cached(self, key: str) -> str | None:
        name = self._known.get(key)
        if name is not None:
            self._known.move_to_end(key)
        return name

    async def get(self, key: str, wait: float) -> str | None:
        """The name, or None if it is unknown or not known within `wait` seconds."""
        name = self.cached(key)
        if name is not None:
            return name
        lookup = self._pending.get(key)
        if lookup is None:
            lookup = self._pending[key] = asyncio.ensure_future(self._look_up(key))
            lookup.add_done_callback(lambda _done: self._pending.pop(key, None))
        try:
            return await asyncio.wait_for(asyncio.shield(lookup), wait)
        except TimeoutError:
            return None

    async def _look_up(self, key: str) -> str | None:
        try:
            name = await self._fetch(key)
        except Exception:  # a name is nice to have, never required
            log.exception("looking up the name of %s failed", key)
            return None
        if name:
            self._known[key] = name
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return name or None


__all__ = ["NameCache"]
