"""Waiting for something the system does in the background: from a test's
thread (`poll_until`), or on the event loop (`until`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def poll_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Return the first truthy value of `predicate()`, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    """On the event loop: the first truthy value of `predicate()`, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s" + (f": {what}" if what else ""))
        await asyncio.sleep(0.01)
