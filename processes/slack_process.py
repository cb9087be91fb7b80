"""The life of a Slack process (`run`, `web`, `worker`): the workspaces it
serves, the runtime with the Slack chat ports its trips post through, the
Slack edge when it has one, and a clean stop on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping

from bot.installations import close_installation_store
from bot.settings import SlackSettings
from bot.slack_chat import SlackChatPort
from bot.workspaces import Workspaces
from processes.slack_edge import serving_slack
from processes.workspaces import served_workspaces
from workflows.errors import ConfigError
from workflows.ports import PostLedger
from workflows.runtime import Runtime, server_engine

log = logging.getLogger("bot")  # as the processes always logged


class SlackChatPorts:
    """The Slack chat ports the runtime makes (one per registry), closed at the end."""

    def __init__(self, workspaces: Workspaces) -> None:
        self.workspaces = workspaces
        self._ports: list[SlackChatPort] = []

    def port_for(self, ledger: PostLedger) -> SlackChatPort:
        self._ports.append(SlackChatPort(self.workspaces, ledger))
        return self._ports[-1]

    async def aclose(self) -> None:
        for port in self._ports:
            await port.aclose()


#: Opens the process's runtime; trips post through ports it takes from `SlackChatPorts`.
type OpenRuntime = Callable[[SlackChatPorts], Awaitable[Runtime]]


def check_multiprocess_settings(command: str, env: Mapping[str, str], slack: SlackSettings) -> None:
    """`web` and `worker` share their state: the settings that say where it is, or a ConfigError."""
    server_engine(env)  # DATABASE_URL or RESONATE_URL, else a ConfigError naming them
    if not env.get("REDIS_URL", "").strip():
        raise ConfigError("REDIS_URL", f"`travel-planner {command}` needs it (multi-process mode)")
    if slack.oauth is not None and not env.get("DATABASE_URL", "").strip():
        raise ConfigError(
            "DATABASE_URL", f"`travel-planner {command}` with OAuth installs keeps them in Postgres for every process"
        )


async def serve_slack(
    command: str, env: Mapping[str, str], slack: SlackSettings, open_runtime: OpenRuntime, *, edge: bool
) -> int:
    """Run the process until SIGTERM or SIGINT; `edge`: it serves Slack's requests."""
    async with contextlib.AsyncExitStack() as stack:
        workspaces, installations = await served_workspaces(env, slack)
        if installations is not None:
            stack.push_async_callback(close_installation_store, installations)
        ports = SlackChatPorts(workspaces)
        runtime = await open_runtime(ports)
        stack.push_async_callback(runtime.close)
        stack.push_async_callback(ports.aclose)

        # Everything loaded so far (libraries, the replayed store) lives for the
        # whole process: move it out of the collector's way, so a full collection
        # during a busy minute does not stall acks for tens of milliseconds.
        gc.collect()
        gc.freeze()

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        if edge:
            await stack.enter_async_context(serving_slack(command, slack, workspaces, installations, runtime))
        else:
            log.info("travel-planner %s: running trips (%s engine)", command, server_engine(env))
        await stop.wait()
        log.info("travel-planner %s: shutting down", command)
    return 0


__all__ = ["OpenRuntime", "SlackChatPorts", "check_multiprocess_settings", "serve_slack"]
