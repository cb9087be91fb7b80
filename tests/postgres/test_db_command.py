"""`travel-planner db init | check | gc`, and the exit 2s of `web` and
`worker` on Postgres: real processes against a real database."""

from __future__ import annotations

from pathlib import Path

import psycopg

from testing.bot_process import SIGNING_SECRET
from testing.fakes.slack_api import DEFAULT_TOKEN
from testing.cluster import travel_planner
from testing.postgres_server import schema_path
from workflows.postgres.schema import PINNED_SHA256


def test_init_applies_the_schema_and_the_fixups_twice_harmlessly_and_check_agrees(tmp_path, postgres_db):
    env = {"DATABASE_URL": postgres_db}
    before = travel_planner("db", "check", env=env, tmp_path=tmp_path)
    assert before.returncode == 2 and "not applied" in before.stderr and "db init" in before.stderr
    for _ in range(2):
        done = travel_planner("db", "init", "--schema", schema_path(), env=env, tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr
    assert travel_planner("db", "check", env=env, tmp_path=tmp_path).returncode == 0
    via_env = travel_planner("db", "init", env={**env, "TRAVEL_PLANNER_RESONATE_SQL": schema_path()}, tmp_path=tmp_path)
    assert via_env.returncode == 0, via_env.stderr
    with psycopg.connect(postgres_db) as conn:  # the fix-up: the timer scan's function inlines again
        [(config,)] = conn.execute(
            "SELECT proconfig FROM pg_proc WHERE oid = 'resonate._promise_timed(resonate.promises)'::regprocedure"
        ).fetchall()
        assert config is None
        # ...and check notices when it is undone
        conn.execute("ALTER FUNCTION resonate._promise_timed(resonate.promises) SET search_path = resonate")
        conn.commit()
    undone = travel_planner("db", "check", env=env, tmp_path=tmp_path)
    assert undone.returncode == 2 and "fix-up missing" in undone.stderr


def test_a_file_whose_checksum_does_not_match_is_refused_before_it_runs(tmp_path, postgres_db):
    tampered = tmp_path / "resonate.sql"
    tampered.write_bytes(Path(schema_path()).read_bytes() + b"\nDROP TABLE IF EXISTS something;\n")
    result = travel_planner("db", "init", "--schema", str(tampered), env={"DATABASE_URL": postgres_db}, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "not the pinned resonate.sql" in result.stderr and PINNED_SHA256 in result.stderr
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT to_regnamespace('resonate')").fetchone() == (None,)  # nothing ran


def test_without_a_file_and_without_internet_init_says_how(tmp_path, postgres_db):
    result = travel_planner("db", "init", env={"DATABASE_URL": postgres_db, "https_proxy": "http://127.0.0.1:9"},
                            tmp_path=tmp_path)
    assert result.returncode == 2
    assert "--schema" in result.stderr and "TRAVEL_PLANNER_RESONATE_SQL" in result.stderr


def test_web_and_worker_exit_2_on_a_missing_variable_a_bad_dsn_or_a_missing_schema(
    tmp_path, postgres_db, redis_url, slack
):
    slack_env = {"SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.api_url}
    cases = [
        ({"REDIS_URL": redis_url}, "DATABASE_URL", "needs an engine"),
        ({"DATABASE_URL": "postgresql://tp:db-secret@127.0.0.1:1/none", "REDIS_URL": redis_url},
         "DATABASE_URL", "cannot connect to Postgres"),
        ({"DATABASE_URL": postgres_db, "REDIS_URL": redis_url}, "DATABASE_URL", "travel-planner db init"),
        ({"DATABASE_URL": postgres_db, "REDIS_URL": "redis://127.0.0.1:1/0"}, "REDIS_URL", "cannot connect to Redis"),
    ]
    # `web` for every case; `worker` opens the engine the same way (one case shows it).
    runs = [("web", *case) for case in cases] + [("worker", *cases[2])]
    for command, env, variable, words in runs:
        result = travel_planner(command, env={**slack_env, **env}, tmp_path=tmp_path)
        assert result.returncode == 2, (env, result.stderr[-2000:])
        assert variable in result.stderr and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "db-secret" not in result.stderr
