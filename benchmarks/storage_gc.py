"""Database bytes per finished trip on Postgres, before and after `travel-planner db gc`.

A real `web` + 2 `worker`s (testing/cluster.py, throwaway database and
Redis) run `--trips` (20) whole scripted trips at once (3 questions, 2
searches, 2 page reads, the plan and its file). Once every segment has
settled, the Resonate tables are measured, `travel-planner db gc
--older-than-days 0` runs as an operator would run it, and they are measured
again. Sizes are net of the empty schema (measured first, in the same
database), so the fixed cost of empty tables and indexes is not charged to
the trips:

- rows: rows in resonate.* tables;
- live bytes: `pg_column_size` of those rows (the data, no indexes, no bloat);
- disk bytes: tables + indexes + TOAST after `VACUUM FULL` (what the data
  takes once dead rows are reclaimed; plain VACUUM only makes the space
  reusable, which bounds growth just the same).

Goal: after gc <= 10 % of before (live and disk bytes).

Run: `uv run python benchmarks/storage_gc.py [--trips N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from benchmarks.throwaway import redis_server, resonate_database, verdict  # noqa: E402
from testing.bot_process import CHANNEL  # noqa: E402
from testing.waiting import poll_until  # noqa: E402
from testing.cluster import Cluster, running_cluster, travel_planner  # noqa: E402

TRIPS = 20
GOAL = 0.10
ANSWERS = ("May 1-4", "2000 EUR", "vegetarian")


def measure(dsn: str) -> dict[str, int]:
    """Rows, live bytes and disk bytes of the resonate schema's tables."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM FULL")  # every table of this database: it is the run's own
        tables = [r[0] for r in conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'resonate' AND c.relkind = 'r'").fetchall()]
        rows = live = disk = 0
        for table in tables:
            count, size = conn.execute(f"SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t"
                                       ).fetchone()  # type: ignore[misc]
            rows, live = rows + int(count), live + int(size)
            disk += int(conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()[0])  # type: ignore[index]
    return {"rows": rows, "live": live, "disk": disk}


def pending_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM resonate.promises WHERE state = 'pending' AND NOT is_timer").fetchone()
    return int(row[0]) if row else 0


def run_trips(c: Cluster, n: int) -> None:
    player = c.player
    roots = [player.plan_trip(f"Lisbon in May, trip {i}")["ts"] for i in range(n)]

    def converse(root: str) -> None:
        for turn, answer in enumerate(ANSWERS, start=1):
            player.wait_questions(root, turn, timeout=180)
            player.reply(root, answer, "U0ANA")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(converse, roots))
    poll_until(lambda: len(_plans(c)) >= n, 300, interval=0.2)
    for root in roots:  # each plan is final: no segment keeps waiting for changes (workflow v3)
        player.mention_reply(root, "close", "U0ANA")


def _plans(c: Cluster) -> list[dict]:
    return [m for m in c.slack.posts(CHANNEL)
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("kind") == "plan"]


def redis_keys(url: str) -> tuple[int, dict[str, int]]:
    """How many keys, and how many of them by kind (the key up to its last ':'),
    for those with no expiry."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        kinds: dict[str, int] = {}
        for key in client.scan_iter(count=1000):
            if client.ttl(key) == -1:
                kind = key.decode("utf-8", "replace").rsplit(":", 1)[0]
                kinds[kind] = kinds.get(kind, 0) + 1
        return int(client.dbsize()), kinds
    finally:
        client.close()


def main(trips: int) -> None:
    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="tp-storage-"))
    with resonate_database() as dsn, redis_server() as redis_url:
        empty = measure(dsn)
        with running_cluster(tmp, dsn, redis_url, workers=2) as c:
            run_trips(c, trips)
            poll_until(lambda: pending_rows(dsn) == 0, 120, interval=0.2)  # every segment settled
            keys_before = redis_keys(redis_url)
            before = measure(dsn)
            gc = travel_planner("db", "gc", "--older-than-days", "0", env=c.env, tmp_path=tmp)
            if gc.returncode != 0:
                raise SystemExit(f"db gc failed ({gc.returncode}): {gc.stderr}")
            after = measure(dsn)
            keys_after = redis_keys(redis_url)
    print(f"storage per finished trip on Postgres, {trips} whole trips on web + 2 workers "
          f"(load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end)")
    print(f"`db gc` said: {gc.stdout.strip()}")
    print(f"{'':<36}{'before gc':>12}{'after gc':>12}{'after / before':>16}")
    ratios = {}
    for key, label in (("rows", "rows per trip"), ("live", "live bytes per trip"), ("disk", "disk bytes per trip")):
        b, a = (before[key] - empty[key]) / trips, (after[key] - empty[key]) / trips
        ratios[key] = a / b if b else 0.0
        print(f"{label:<36}{b:>12,.0f}{a:>12,.0f}{ratios[key]:>16.3f}")
    (n_before, _), (n_after, lasting) = keys_before, keys_after
    print(f"{'Redis keys (all trips)':<36}{n_before:>12,}{n_after:>12,}{n_after / max(n_before, 1):>16.3f}")
    print(f"(Redis keys left without an expiry, by kind: {lasting or 'none'})")
    print(f"(empty schema, subtracted above: {empty['rows']} rows, {empty['disk']:,} disk bytes)")
    print()
    print(f"{'goal':<44}{'measured':>10}{'result':>8}")
    for key in ("live", "disk"):
        print(f"{f'{key} bytes after gc <= {GOAL:.0%} of before':<44}{ratios[key]:>10.3f}{verdict(ratios[key] <= GOAL):>8}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=TRIPS)
    main(parser.parse_args().trips)
