"""A `SlackChatPort` on a real registry against the fake Slack Web API,
with a trip thread to post in (its root message posted by the bot)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_chat import SlackChatPort
from bot.slack_client import make_web_client
from bot.threads import slack_thread_ref, trip_id_for_thread
from testing.loop import LoopThread
from testing.memory_registry import memory_registry
from testing.fakes.slack_api import TEAM_ID, FakeSlackWebAPI
from workflows.ports import ThreadRegistry

CHANNEL = "C0CHAT"


@dataclass
class Chat:
    api: FakeSlackWebAPI
    loop: LoopThread
    registry: ThreadRegistry
    client: AsyncWebClient
    port: SlackChatPort
    thread: dict[str, str]
    trip_id: str

    def run(self, awaitable: Any, timeout: float = 10.0) -> Any:
        return self.loop.run(awaitable, timeout)

    def key(self, n: int) -> str:
        return f"{self.trip_id}:{n}"

    def posts(self) -> list[dict[str, Any]]:
        return self.api.posts(channel=CHANNEL)


def make_chat(api: FakeSlackWebAPI, loop: LoopThread, **port_kwargs: Any) -> Chat:
    registry = loop.call(memory_registry)
    client = make_web_client(api.token, api.api_url)
    port_kwargs.setdefault("status_refresh_seconds", 0.05)
    port_kwargs.setdefault("lost_answer_pause_seconds", 0.01)
    port = SlackChatPort(client, registry, **port_kwargs)
    root = api.add_message(CHANNEL, "Trip planning started by <@U0ANA>: Rome", bot=True)
    return Chat(
        api, loop, registry, client, port, slack_thread_ref(TEAM_ID, CHANNEL, root), trip_id_for_thread(TEAM_ID, CHANNEL, root)
    )
