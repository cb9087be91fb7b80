"""`travel-planner worker`: runs trips against Postgres (DATABASE_URL) or a
Resonate server (RESONATE_URL). It serves no Slack requests: it posts to
Slack only through the chat port."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from bot.settings import SlackSettings
from processes.slack_process import SlackChatPorts, check_multiprocess_settings, serve_slack
from workflows.runtime import Runtime, open_server_mode, research_collaborators


def main(env: Mapping[str, str]) -> int:
    slack = SlackSettings.from_env(env, allow_socket_mode=False)
    check_multiprocess_settings("worker", env, slack)

    async def runtime(ports: SlackChatPorts) -> Runtime:
        return await open_server_mode(env, role="worker", parts=research_collaborators(env, ports.port_for))

    return asyncio.run(serve_slack("worker", env, slack, runtime, edge=False))
