"""`travel-planner tool search QUERY...` / `travel-planner tool scrape URL`.

Runs one tool once and prints exactly what the LLM would be given, so an
operator can check keys, providers and the page reader from a shell.
Exit codes: 0 result, 1 the tool reported an error, 2 configuration or usage
error (the message names the variable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping

from workflows.errors import ConfigError
from workflows.tools.outcomes import is_tool_error
from workflows.tools.scrape import PageReader
from workflows.tools.search import search_provider_from_env
from workflows.tools.specs import DEFAULT_RESULTS
from workflows.tools.web_tools import WebTools

EXIT_OK, EXIT_TOOL_ERROR, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="travel-planner tool", description="Run one web tool once and print what the LLM would read."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    search = commands.add_parser("search", help="internet_search: search the web")
    search.add_argument("query", nargs="+", help="the search query (several words are joined)")
    search.add_argument("-n", "--num-results", type=int, default=DEFAULT_RESULTS, help="1-10 (default 5)")
    scrape = commands.add_parser("scrape", help="scrape_website: read one page")
    scrape.add_argument("url")
    return parser


def tool_command(argv: list[str], env: Mapping[str, str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage error
        return EXIT_OK if exit_.code == 0 else EXIT_CONFIG
    try:
        # Build only the tool asked for: reading a page needs no search key.
        if args.command == "search":
            tools = WebTools(search=search_provider_from_env(env))
            output = asyncio.run(tools.internet_search(" ".join(args.query), args.num_results))
        else:
            tools = WebTools(reader=PageReader.from_env(env))
            output = asyncio.run(tools.scrape_website(args.url))
    except ConfigError as problem:
        print(f"travel-planner: configuration error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    print(output)
    return EXIT_TOOL_ERROR if is_tool_error(output) else EXIT_OK
