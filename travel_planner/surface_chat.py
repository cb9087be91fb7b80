"""A `ChatPort` that posts where each trip lives, for a command that wakes
trips of any surface (`travel-planner trips cancel` with no process running):
Slack threads through `SlackChatPort` (SLACK_BOT_TOKEN or the OAuth
installations, SLACK_API_URL), anything else as text on the terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from workflows.errors import ConfigError
from workflows.ports import PostLedger, ThreadRef, TripRecord
from workflows.posts import Plan


def slack_token(env: Mapping[str, str]) -> str:
    """The bot token that posts to a Slack trip's thread (a ConfigError without one)."""
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    if not token.startswith("xoxb-"):
        raise ConfigError(
            "SLACK_BOT_TOKEN",
            "needed to tell a Slack trip's thread that it was cancelled (xoxb-..., or the OAuth settings `run` uses)",
        )
    return token


class SurfaceChatPort:
    """Each call goes to the port of its thread's surface, opened on first use."""

    def __init__(self, ledger: PostLedger, env: Mapping[str, str], out: TextIO) -> None:
        self._ledger = ledger
        self._env = env
        self._out = out
        self._slack: Any = None
        self._text: Any = None

    def _port(self, thread: ThreadRef) -> Any:
        if thread.get("surface") == "slack":
            if self._slack is None:
                from bot.installations import OAuthCredentials, installed_workspaces
                from bot.slack_chat import SlackChatPort
                from bot.slack_client import make_web_client, slack_api_url
                from bot.workspaces import DeferredWorkspaces, SingleWorkspace

                oauth = OAuthCredentials.from_env(self._env)
                if oauth is None:  # one token; each trip's workspace must be its team
                    workspaces: Any = SingleWorkspace(make_web_client(slack_token(self._env), slack_api_url(self._env)))
                else:  # each workspace's own token, from the installations

                    async def open_installed() -> Any:
                        return (await installed_workspaces(self._env, oauth))[0]

                    workspaces = DeferredWorkspaces(open_installed)
                self._slack = SlackChatPort(workspaces, self._ledger)
            return self._slack
        if self._text is None:
            from travel_planner.terminal import TerminalChatPort

            self._text = TerminalChatPort(self._ledger, self._out)
        return self._text

    async def ask(self, thread: ThreadRef, question: str, *, key: str, choices: Sequence[str] = ()) -> None:
        await self._port(thread).ask(thread, question, key=key, choices=choices)

    async def progress(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).progress(thread, text, key=key)

    async def progress_done(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).progress_done(thread, text, key=key)

    async def final_plan(self, thread: ThreadRef, plan: Plan, *, key: str) -> None:
        await self._port(thread).final_plan(thread, plan, key=key)

    async def show_state(self, thread: ThreadRef, state: str, *, trip: TripRecord, plan_key: str = "") -> None:
        await self._port(thread).show_state(thread, state, trip=trip, plan_key=plan_key)

    async def notice(self, thread: ThreadRef, text: str, *, key: str) -> None:
        await self._port(thread).notice(thread, text, key=key)

    async def set_status(self, thread: ThreadRef, status: str) -> None:
        await self._port(thread).set_status(thread, status)

    async def vote(self, thread: ThreadRef, view: Any, *, key: str) -> None:
        await self._port(thread).vote(thread, view, key=key)

    async def aclose(self) -> None:
        if self._slack is not None:
            await self._slack.aclose()


__all__ = ["SurfaceChatPort", "slack_token"]
