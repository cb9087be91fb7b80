"""`travel-planner run`: Bolt, the worker and the embedded durable store in
one process. Socket Mode when `SLACK_APP_TOKEN` is set, else HTTP on `$PORT`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from bot.settings import SlackSettings
from processes.slack_process import SlackChatPorts, serve_slack
from workflows.runtime import Runtime, open_embedded, research_collaborators


def main(env: Mapping[str, str]) -> int:
    slack = SlackSettings.from_env(env, allow_socket_mode=True)

    async def runtime(ports: SlackChatPorts) -> Runtime:
        return await open_embedded(env, research_collaborators(env, ports.port_for))

    return asyncio.run(serve_slack("run", env, slack, runtime, edge=True))
