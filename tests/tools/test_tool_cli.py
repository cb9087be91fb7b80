"""`travel-planner tool search|scrape`: one tool, once, printing what the LLM reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.loopback import Handler
from workflows.tools.cli import tool_command

ARTICLE = ("<html><body><article><h1>Cascais</h1>"
           + "<p>Trains to Cascais leave Cais do Sodré every 20 minutes and take 40 minutes along the coast.</p>" * 3
           + "</article></body></html>")


def serper(h: Handler) -> None:
    q = json.loads(h.request_body)["q"]
    if q == "nothing":
        h.reply_json({"organic": []})
    elif q == "denied":
        h.reply_json({"message": "Unauthorized."}, 403)
    else:
        h.reply_json({"organic": [{"title": f"Guide to {q}", "link": "https://guide.example/", "snippet": "Tips."}]})


def test_scrape_of_loopback_without_allow_hosts_is_refused(loopback, capsys) -> None:
    server = loopback(lambda h: h.reply(200, ARTICLE))
    code = tool_command(["scrape", server.url("/admin")], {})
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("Could not read page: that address is not allowed")
    assert server.connections == 0


def test_scrape_prints_what_the_llm_reads(loopback, capsys) -> None:
    server = loopback(lambda h: h.reply(200, ARTICLE))
    code = tool_command(["scrape", server.url("/cascais")], {"SCRAPE_ALLOW_HOSTS": "127.0.0.1"})
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"Page: {server.url('/cascais')}\n<<<UNTRUSTED_WEB_CONTENT id=")
    assert "Trains to Cascais leave Cais do Sodré" in out


def test_search_joins_words_and_prints_results(loopback, capsys) -> None:
    server = loopback(serper)
    env = {"SERPER_API_KEY": "k", "SERPER_URL": server.url("")}
    code = tool_command(["search", "-n", "3", "lisbon", "hotels"], env)
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith('Web search results for "lisbon hotels" (1 result):')
    assert "1. Guide to lisbon hotels" in out
    assert server.seen[0].json() == {"q": "lisbon hotels", "num": 3}


def test_no_results_is_success(loopback, capsys) -> None:
    server = loopback(serper)
    assert tool_command(["search", "nothing"], {"SERPER_API_KEY": "k", "SERPER_URL": server.url("")}) == 0
    assert capsys.readouterr().out.startswith('No results for "nothing"')


def test_a_search_failure_exits_1(loopback, capsys) -> None:
    server = loopback(serper)
    assert tool_command(["search", "denied"], {"SERPER_API_KEY": "k", "SERPER_URL": server.url("")}) == 1
    assert capsys.readouterr().out.startswith("Search failed: the search provider rejected our API key")


def test_missing_key_exits_2_naming_the_variable(capsys) -> None:
    assert tool_command(["search", "lisbon"], {}) == 2
    captured = capsys.readouterr()
    assert "SERPER_API_KEY" in captured.err and captured.out == ""


def test_scrape_needs_no_search_key(capsys) -> None:
    assert tool_command(["scrape", "file:///etc/passwd"], {}) == 1
    assert capsys.readouterr().out.startswith("Could not read page: only http and https")


def test_bad_scrape_setting_exits_2(capsys) -> None:
    assert tool_command(["scrape", "https://example.com/"], {"SCRAPE_DEADLINE_SECONDS": "-1"}) == 2
    assert "SCRAPE_DEADLINE_SECONDS" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["search"], ["scrape"], ["search", "-n", "many", "x"]])
def test_usage_errors_exit_2(argv: list[str], capsys) -> None:
    assert tool_command(argv, {}) == 2
    assert "usage: travel-planner tool" in capsys.readouterr().err


def test_help_exits_0(capsys) -> None:
    assert tool_command(["--help"], {}) == 0
    assert "search" in capsys.readouterr().out


def test_the_console_script_refuses_loopback(loopback, tmp_path: Path) -> None:
    # The acceptance check from the issue, through the real entry point.
    server = loopback(lambda h: h.reply(200, ARTICLE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPE_", "SEARCH_", "SERPER_"))}
    done = subprocess.run(
        [sys.executable, "-m", "travel_planner.cli", "tool", "scrape", server.url("/admin")],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("Could not read page: that address is not allowed")
    assert server.connections == 0
