"""The `travel-planner` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from workflows.durable.state_dir import StateDirBusy, StateDirUnusable
from workflows.errors import ConfigError

#: Exit code for a configuration problem (missing or malformed setting).
CONFIG_ERROR = 2
#: Exit code when the durable state cannot be written (also the fail-stop's).
STATE_UNUSABLE = 75


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="travel-planner", description="A durable trip-planning agent for Slack and the terminal."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="plan a trip in the terminal (embedded durable store)")
    chat.add_argument("--trip", help="trip id to create or resume")
    chat.add_argument("request", nargs="*", help="what to plan, e.g. Lisbon in May, 4 people")

    sub.add_parser("run", help="Slack bot, worker and embedded store in one process")
    sub.add_parser("web", help="Slack HTTP endpoint: Postgres (DATABASE_URL) or a Resonate server (RESONATE_URL)")
    sub.add_parser("worker", help="trip worker: Postgres (DATABASE_URL) or a Resonate server (RESONATE_URL)")

    from travel_planner.db import add_parser as add_db_parser
    from travel_planner.trips import add_parser as add_trips_parser

    add_trips_parser(sub)
    add_db_parser(sub)

    tool = sub.add_parser("tool", help="run one research tool and print what the LLM would see")
    tool.add_argument("args", nargs=argparse.REMAINDER, help="search QUERY... | scrape URL")
    return parser


def _configure_logging(env: Mapping[str, str], command: str) -> None:
    # Servers report what they do; the terminal chat keeps stderr quiet.
    default = "INFO" if command in ("run", "web", "worker") else "WARNING"
    level = env.get("TRAVEL_PLANNER_LOG_LEVEL", default).upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if level != "DEBUG":
        # One line per promise and per HTTP request drowns what matters.
        for chatty in ("resonate", "httpx2", "httpx"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)
    env = dict(os.environ)
    args = _parser().parse_args(argv)
    _configure_logging(env, args.command)
    try:
        if args.command in ("chat", "run", "web", "worker"):
            from processes.telemetry import start_telemetry

            stop_telemetry = start_telemetry(env, args.command)
            if stop_telemetry is not None:
                try:
                    return _command(args, env)
                finally:
                    stop_telemetry()
        return _command(args, env)
    except ConfigError as exc:
        print(f"travel-planner: configuration error: {exc}", file=sys.stderr)
        return CONFIG_ERROR
    except StateDirBusy as exc:
        print(f"travel-planner: {exc}", file=sys.stderr)
        return CONFIG_ERROR
    except StateDirUnusable as exc:
        print(f"travel-planner: {exc}", file=sys.stderr)
        return STATE_UNUSABLE
    except KeyboardInterrupt:
        return 130


def _command(args: argparse.Namespace, env: dict[str, str]) -> int:
    """Run the command; the processes (`processes/`) are imported only when started."""
    if args.command == "chat":
        from processes import chat

        return chat.main(env, trip_id=args.trip, request=" ".join(args.request))
    if args.command == "run":
        from processes import run

        return run.main(env)
    if args.command == "web":
        from processes import web

        return web.main(env)
    if args.command == "worker":
        from processes import worker

        return worker.main(env)
    if args.command == "trips":
        from travel_planner.trips import trips_command

        return trips_command(args, env)
    if args.command == "db":
        from travel_planner.db import db_command

        return db_command(args, env, sys.stdout, sys.stderr)
    if args.command == "tool":
        from workflows.tools.cli import tool_command

        return tool_command(list(args.args), env)
    return 1


if __name__ == "__main__":
    sys.exit(main())
