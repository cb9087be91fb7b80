"""The whole Slack edge running for a test: fake Slack API <- Bolt app <- aiohttp.

    with running_fake_slack() as api, start_slack_bot(api) as bot:
        status, body, elapsed = send_signed(bot.events_url, slash_command("Lisbon"))
        bot.wait_for(lambda: bot.trips.started)

Everything async (registry, Bolt, aiohttp server, web client) lives on one
`LoopThread`, as in production where it shares the durable engine's loop; the
test thread plays Slack with blocking HTTP requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import create_bolt_app
from bot.http_server import HEALTH_PATH, SLACK_EVENTS_PATH, build_web_app
from bot.identity import BotIdentity, fetch_bot_identity
from bot.services import BotServices
from bot.slack_client import make_web_client
from bot.workspaces import SingleWorkspace
from testing.loop import LoopThread
from testing.memory_registry import memory_registry
from testing.fakes.slack_api import FakeSlackWebAPI
from testing.fakes.slack_requests import SIGNING_SECRET
from testing.fakes.trips import RecordingTripControl
from workflows.ports import ThreadRegistry
from testing.waiting import poll_until

T = TypeVar("T")


@dataclass
class RunningSlackBot:
    api: FakeSlackWebAPI
    loop: LoopThread
    registry: ThreadRegistry
    trips: RecordingTripControl
    client: AsyncWebClient
    app: AsyncApp
    runner: web.AppRunner
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return self.base_url + SLACK_EVENTS_PATH

    @property
    def health_url(self) -> str:
        return self.base_url + HEALTH_PATH

    def run(self, awaitable: Awaitable[T], timeout: float = 10.0) -> T:
        return self.loop.run(awaitable, timeout)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        return poll_until(predicate, timeout)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until nothing the bot started is still running: no task left on its
        loop. A listener that runs after its ack (a button), and background work
        (an ephemeral answer), are tasks created before the ack is sent; so once
        the requests a test sent are answered and the loop is idle, the bot has
        done all it will do for them, and a test may assert what did not happen."""

        def running() -> int:
            this = asyncio.current_task()
            return sum(1 for task in asyncio.all_tasks() if task is not this)

        poll_until(lambda: self.loop.call(running) == 0, timeout)


@contextmanager
def start_slack_bot(
    api: FakeSlackWebAPI,
    *,
    registry_factory: Callable[[], ThreadRegistry] | None = None,
    trips_delay: float = 0.0,
    identity: BotIdentity | None | str = "fetch",
    signing_secret: str = SIGNING_SECRET,
    logger: logging.Logger | None = None,
) -> Iterator[RunningSlackBot]:
    """Start the Slack edge on 127.0.0.1 (random port) against `api`.

    `identity`: "fetch" calls auth.test before serving (as the entry point
    should); None leaves it to the lazy background fetch; or pass one.
    `registry_factory`, called on the bot's loop, gives it a registry other
    bots may share (two `web` processes on one Redis).
    """
    loop = LoopThread("slack-bot-loop")
    runner: web.AppRunner | None = None
    try:

        async def setup() -> RunningSlackBot:
            nonlocal runner
            registry = registry_factory() if registry_factory else memory_registry()
            trips = RecordingTripControl(registry, registry, delay=trips_delay)
            client = make_web_client(api.token, api.api_url)
            bot_identity = await fetch_bot_identity(client) if identity == "fetch" else identity
            services = BotServices(
                workspaces=SingleWorkspace(client, bot_identity),  # type: ignore[arg-type]
                directory=registry,
                inbox=registry,
                marks=registry,
                engine=trips,
                logger=logger or logging.getLogger("bot"),
            )
            app = create_bolt_app(services, signing_secret=signing_secret)
            runner = web.AppRunner(build_web_app(app), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            running = RunningSlackBot(api, loop, registry, trips, client, app, runner, port)
            api.deliver_events_to(running.events_url, signing_secret)  # our own posts come back, as in Slack
            return running

        bot = loop.run(setup())
        yield bot
    finally:
        api.deliver_events_to(None)
        if runner is not None:
            try:
                loop.run(runner.cleanup())
            except Exception:
                pass
        loop.stop()


__all__ = ["RunningSlackBot", "start_slack_bot"]
