"""Everything a trip's steps reach the outside through, in one dependency.

Registered once with `Resonate.with_dependency`; steps get it with
`ctx.get_dependency(TripServices)`. Nothing here is stored durably.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from workflows.config import TripSettings
from workflows.llm import ChatModel
from workflows.ports import ChatPort, Inbox, PromiseResolver, TripDirectory
from workflows.versions import TripVersions


class ResearchTools(Protocol):
    """The planner's web tools (see workflows/tools)."""

    async def internet_search(self, search_query: str, num_results: int = 5) -> str: ...

    async def scrape_website(self, url: str) -> str: ...


@dataclass(slots=True)
class TripServices:
    model: ChatModel
    tools: ResearchTools
    tool_specs: list[dict[str, Any]]
    untrusted_rule: str
    chat: ChatPort
    directory: TripDirectory
    inbox: Inbox
    #: The trip engine, as the steps see it: what wakes a suspended trip.
    engine: PromiseResolver
    settings: TripSettings
    versions: TripVersions
    #: Wall time (epoch seconds) as the durable store keeps it: the embedded
    #: store's injected clock, so a test that moves it moves the trip's "now".
    clock: Callable[[], float] = time.time
