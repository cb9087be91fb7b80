"""`travel-planner web`: Bolt over HTTP against Postgres (DATABASE_URL) or a
Resonate server (RESONATE_URL); it starts trips and delivers replies, and
runs none (`worker` does)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from bot.settings import SlackSettings
from processes.slack_process import SlackChatPorts, check_multiprocess_settings, serve_slack
from workflows.runtime import Runtime, open_server_mode


def main(env: Mapping[str, str]) -> int:
    slack = SlackSettings.from_env(env, allow_socket_mode=False)
    check_multiprocess_settings("web", env, slack)

    async def runtime(_ports: SlackChatPorts) -> Runtime:
        return await open_server_mode(env, role="web", parts=None)  # posts nothing: no chat port

    return asyncio.run(serve_slack("web", env, slack, runtime, edge=True))
