"""The whole Slack planner in this process: the real engine (embedded store),
`SlackChatPort` and the Bolt app over HTTP, against the fake Slack Web API,
the scripted LLM and the fake search/pages. Like `travel-planner run`, minus
the process start (about 2 s each), so lifecycle tests stay fast; one
real-process test (tests/e2e/test_lifecycle_slack.py) covers the rest.

    with slack_planner(api, env) as sp:
        player = SlackPlayer(api, sp.events_url)
        root = player.plan_trip("Lisbon")
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from bot.app import create_bolt_app
from bot.http_server import SLACK_EVENTS_PATH, build_web_app
from bot.identity import fetch_bot_identity
from bot.installations import OAuthCredentials, close_installation_store, installed_workspaces, oauth_settings
from bot.services import BotServices
from bot.slack_chat import SlackChatPort
from bot.slack_client import make_web_client
from bot.threads import trip_id_for_thread
from bot.workspaces import SingleWorkspace, Workspaces
from testing.bot_process import CHANNEL, SIGNING_SECRET
from testing.clock import ManualClock
from testing.loop import LoopThread
from testing.fakes.slack_api import TEAM_ID, FakeSlackWebAPI
from testing.fakes.slack_requests import block_actions, send_signed
from workflows.ports import PostLedger
from workflows.runtime import Runtime, open_embedded, research_collaborators
from testing.waiting import poll_until

T = TypeVar("T")


@dataclass
class SlackPlanner:
    api: FakeSlackWebAPI
    loop: LoopThread
    runtime: Runtime
    port: int
    workspaces: Workspaces

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SLACK_EVENTS_PATH}"

    def run(self, awaitable: Awaitable[T], timeout: float = 20.0) -> T:
        return self.loop.run(awaitable, timeout)

    def trip(self, root_ts: str, *, team: str = TEAM_ID, channel: str = CHANNEL) -> Any:
        return self.run(self.runtime.registry.get_trip(trip_id_for_thread(team, channel, root_ts)))

    def outcome(self, root_ts: str, timeout: float = 20.0, *, team: str = TEAM_ID, channel: str = CHANNEL) -> dict[str, Any]:
        trip_id = trip_id_for_thread(team, channel, root_ts)
        return self.run(self.runtime.engine.outcome(trip_id), timeout)

    def click(self, action_id: str, *, user: str, message_ts: str, thread_ts: str | None = None,
              message_blocks: list[dict[str, Any]] | None = None, action_ts: str | None = None) -> tuple[int, float]:
        body = block_actions(action_id=action_id, user_id=user, channel_id=CHANNEL, message_ts=message_ts,
                             thread_ts=thread_ts, message_blocks=message_blocks, action_ts=action_ts)
        status, _, elapsed = send_signed(self.events_url, body, signing_secret=SIGNING_SECRET)
        return status, elapsed

    def wait(self, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
        return poll_until(predicate, timeout)


@contextlib.contextmanager
def slack_planner(
    api: FakeSlackWebAPI, env: dict[str, str], *, oauth: bool = False, clock: ManualClock | None = None
) -> Iterator[SlackPlanner]:
    """`clock`: the durable store's clock (timers come due as a test moves it).
    `oauth`: installs through Bolt's OAuth flow (the fake's client id and
    secret; installations in SQLite beside the state), as `run` does with
    SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET; else one token."""
    loop = LoopThread("slack-planner-loop")
    state: dict[str, Any] = {}
    try:

        async def setup() -> SlackPlanner:
            client = make_web_client(api.token, api.api_url)
            ports: list[SlackChatPort] = []
            settings = None
            if oauth:
                credentials = OAuthCredentials(api.client_id, api.client_secret, "test-state-secret-0123456789")
                workspaces, store = await installed_workspaces({**env, "SLACK_API_URL": api.api_url}, credentials)
                settings = oauth_settings(credentials, store, api_url=api.api_url)
                state["store"] = store
            else:
                workspaces = SingleWorkspace(client, await fetch_bot_identity(client))
            state["workspaces"] = workspaces

            def chat(ledger: PostLedger) -> SlackChatPort:
                ports.append(SlackChatPort(workspaces, ledger, status_refresh_seconds=0))
                return ports[-1]

            timing = {} if clock is None else {"clock": clock, "tick_seconds": 0.02}
            runtime = await open_embedded(env, research_collaborators(env, chat), **timing)
            state.update(runtime=runtime, ports=ports)
            services = BotServices(
                workspaces=workspaces,
                directory=runtime.registry,
                inbox=runtime.registry,
                marks=runtime.registry,
                engine=runtime.engine,
                price_per_mtok=runtime.settings.price_per_mtok,
            )
            app = create_bolt_app(
                services,
                signing_secret=SIGNING_SECRET,
                client=make_web_client(None, api.api_url),
                oauth_settings=settings,
            )
            runner = web.AppRunner(build_web_app(app), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            state["runner"] = runner
            return SlackPlanner(api, loop, runtime, runner.addresses[0][1], workspaces)

        yield loop.run(setup(), 30)
    finally:

        async def teardown() -> None:
            if "runner" in state:
                await state["runner"].cleanup()
            for port in state.get("ports", []):
                await port.aclose()
            if "runtime" in state:
                await state["runtime"].close()
            if "store" in state:
                await close_installation_store(state["store"])

        with contextlib.suppress(Exception):
            loop.run(teardown(), 30)
        loop.stop()


__all__ = ["SlackPlanner", "slack_planner"]
