"""`travel-planner trips`: list, show (steps and transcript read-only from the
embedded store) and cancel, with and without a process owning the store."""

from __future__ import annotations

import asyncio
import io
import time

import pytest

from tests.engine.harness import planner, until
from testing.research_fakes import research_env, research_fakes
from testing.fakes.scenario import QUESTIONS, lisbon_script
from travel_planner.cli import main
from travel_planner.trip_cancel import cancel_trip
from workflows.durable.state_dir import DB_NAME, open_database
from workflows.ports import TripRecord
from workflows.registry import SqliteThreadRegistry


def run_cli(monkeypatch, capsys, env: dict[str, str], *argv: str) -> tuple[int, str]:
    for name in ("REDIS_URL", "RESONATE_URL", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["trips", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def two_questions_in(env: dict[str, str], trip_id: str = "lisbon") -> None:
    """A trip asked Q1, got an answer, researched, asked Q2 (and handed over)."""
    async with planner(env) as p:
        await p.start(trip_id, "Lisbon in May")
        await p.wait_for("ask", 1)
        await p.reply(trip_id, "May 1-4")
        await p.wait_for("ask", 2)
        await until(p.settled_on_a_timer)  # the wait for Q2 is published, the trip suspended on it


def test_no_state_yet(monkeypatch, capsys, tmp_path) -> None:
    code, out = run_cli(monkeypatch, capsys, {"TRAVEL_PLANNER_STATE_DIR": str(tmp_path / "none")})
    assert code == 0 and "No trips yet" in out
    assert not (tmp_path / "none").exists()  # looking creates nothing
    code, out = run_cli(monkeypatch, capsys, {"TRAVEL_PLANNER_STATE_DIR": str(tmp_path / "none")}, "show", "x")
    assert code == 1 and "Unknown trip" in out


def test_list_and_show_a_trip(monkeypatch, capsys, tmp_path) -> None:
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path, TRAVEL_PLANNER_TURNS_PER_SEGMENT="1")
        asyncio.run(two_questions_in(env))

        code, out = run_cli(monkeypatch, capsys, env)
        assert code == 0
        [row] = [line for line in out.splitlines() if line.startswith("lisbon ")]
        assert "waiting" in row and "4 AI calls, 480 tokens, 2 web lookups" in row and "Lisbon in May" in row
        assert time.strftime("%Y-%m-%d") in row

        code, out = run_cli(monkeypatch, capsys, env, "show", "lisbon")
        assert code == 0
        assert f"waiting for:   {QUESTIONS[1]}" in out
        steps = out.split("Segments and steps:")[1].split("Transcript:")[0]
        assert "segment 0 (lisbon) resolved: continued" in steps and "segment 1 (lisbon:" in steps
        assert "hand-over" in steps
        assert f"said: {QUESTIONS[0]}" in steps and "[ana] May 1-4" in steps
        assert "called internet_search(Lisbon hotels)" in steps
        assert "waiting for people" in steps  # the pending reply promise
        transcript = out.split("Transcript:")[1]
        lines = [line.strip() for line in transcript.splitlines() if line.strip()]
        assert lines[0] == "ana: Lisbon in May"
        assert lines[1] == f"planner: {QUESTIONS[0]}"
        assert lines[2] == "ana: May 1-4"
        assert lines[-1] == f"planner: {QUESTIONS[1]}"
        assert any(line.startswith("tool result: Page:") for line in lines)

        code, out = run_cli(monkeypatch, capsys, env, "show", "nope")
        assert code == 1


def test_cancel_with_no_process_running_opens_the_store_briefly(monkeypatch, capsys, tmp_path) -> None:
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)
        asyncio.run(two_questions_in(env))
        calls = len(llm.calls)

        code, out = run_cli(monkeypatch, capsys, env, "cancel", "lisbon")
        assert code == 0, out
        assert "Cancelled trip lisbon" in out
        assert "Trip cancelled by" in out and "(command line)" in out  # the trip told its (terminal) thread
        assert len(llm.calls) == calls  # no LLM call to stop

        code, out = run_cli(monkeypatch, capsys, env)
        assert "cancelled" in [line for line in out.splitlines() if line.startswith("lisbon ")][0]
        code, out = run_cli(monkeypatch, capsys, env, "cancel", "lisbon")
        assert code == 0 and "already ended (cancelled)" in out
        code, out = run_cli(monkeypatch, capsys, env, "cancel", "nope")
        assert code == 1


def test_cancel_of_a_slack_trip_needs_the_slack_token(monkeypatch, capsys, tmp_path) -> None:
    conn = open_database(tmp_path / DB_NAME)
    registry = SqliteThreadRegistry(conn)
    thread = {"surface": "slack", "team": "T1", "channel": "C1", "thread_ts": "1.2"}
    asyncio.run(registry.register_trip(TripRecord("slack-T1-C1-1_2", "slack:T1:C1:1.2", thread, "U1", "Rome")))
    conn.close()
    env = {"TRAVEL_PLANNER_STATE_DIR": str(tmp_path), "OPENAI_API_KEY": "sk-x"}
    code, out = run_cli(monkeypatch, capsys, env, "cancel", "slack-T1-C1-1_2")
    assert code == 2
    assert "configuration error: SLACK_BOT_TOKEN" in out


@pytest.mark.timeout(30)
def test_cancel_while_a_process_owns_the_store_goes_through_the_registry(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("workflows.runtime.KICK_INTERVAL_SECONDS", 0.2)  # the owner looks every 0.2 s
    with research_fakes(lisbon_script) as (llm, serper, site):
        env = research_env(llm, serper, tmp_path)

        async def scenario() -> tuple[str, str, int, int]:
            async with planner(env) as p:  # owns the state directory, like `run`
                await p.start("owned", "Lisbon")
                await p.wait_for("ask", 1)
                await asyncio.sleep(0.1)
                calls = len(llm.calls)
                out = io.StringIO()
                code = await cancel_trip(env, "owned", out)
                record = await p.runtime.registry.get_trip("owned")
                return out.getvalue(), record.state, code, len(llm.calls) - calls

        out, state, code, more_calls = asyncio.run(scenario())

    assert code == 0
    assert "the running travel-planner (pid" in out and "stopped it" in out
    assert state == "cancelled" and more_calls == 0


def test_in_server_mode_trips_come_from_redis_and_show_says_where_history_lives(
    monkeypatch, capsys, tmp_path, private_redis_server
) -> None:
    from workflows.registry import RedisThreadRegistry, open_redis_client

    async def register() -> None:
        client = open_redis_client(private_redis_server.url)
        registry = RedisThreadRegistry(client)
        thread = {"surface": "slack", "team": "T1", "channel": "C1", "thread_ts": "1.2"}
        await registry.register_trip(TripRecord("slack-T1-C1-1_2", "slack:T1:C1:1.2", thread, "U1", "Rome"))
        await registry.update_trip("slack-T1-C1-1_2", state="waiting", last_question="When?",
                                   usage={"llm_calls": 2, "prompt_tokens": 10, "completion_tokens": 5})
        await client.aclose()

    asyncio.run(register())
    env = {"REDIS_URL": private_redis_server.url, "RESONATE_URL": "http://127.0.0.1:1",
           "TRAVEL_PLANNER_STATE_DIR": str(tmp_path)}
    code, out = run_cli(monkeypatch, capsys, env)
    assert code == 0 and "slack-T1-C1-1_2" in out and "2 AI calls, 15 tokens, 0 web lookups" in out
    assert "server store" in out
    code, out = run_cli(monkeypatch, capsys, env, "show", "slack-T1-C1-1_2")
    assert code == 0 and "waiting for:   When?" in out and "live in the Resonate server" in out
    code, out = run_cli(monkeypatch, capsys, env, "show", "nope")
    assert code == 1


def test_trips_shows_the_estimated_cost_with_cached_input_at_its_own_price(
    monkeypatch, capsys, tmp_path, private_redis_server
) -> None:
    from workflows.registry import RedisThreadRegistry, open_redis_client

    usage = {"llm_calls": 4, "prompt_tokens": 2_000_000, "completion_tokens": 100_000, "cached_tokens": 1_500_000}

    async def register() -> None:
        client = open_redis_client(private_redis_server.url)
        registry = RedisThreadRegistry(client)
        thread = {"surface": "slack", "team": "T1", "channel": "C1", "thread_ts": "3.4"}
        await registry.register_trip(TripRecord("slack-T1-C1-3_4", "slack:T1:C1:3.4", thread, "U1", "Oslo"))
        await registry.update_trip("slack-T1-C1-3_4", state="done", usage=usage)
        await client.aclose()

    asyncio.run(register())
    env = {"REDIS_URL": private_redis_server.url, "RESONATE_URL": "http://127.0.0.1:1",
           "TRAVEL_PLANNER_STATE_DIR": str(tmp_path),
           "TRAVEL_PLANNER_PRICE_PER_MTOK": "input=1.00,output=4.00,cached=0.10"}
    # 0.5M uncached at $1 + 1.5M cached at $0.10 + 0.1M out at $4 = $1.05
    expected = "4 AI calls, 2,100,000 tokens (1,500,000 cached), 0 web lookups (about $1.05)"
    code, out = run_cli(monkeypatch, capsys, env)
    assert code == 0 and expected in out, out
    code, out = run_cli(monkeypatch, capsys, env, "show", "slack-T1-C1-3_4")
    assert code == 0 and f"usage:         {expected}" in out, out
