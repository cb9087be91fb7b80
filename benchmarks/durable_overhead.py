"""Milliseconds per durable step: the embedded store (SQLite journal) with
`synchronous=FULL` and with `NORMAL`, against the same store with its journal
in memory, the SDK's in-memory `LocalConnection` and a plain function call,
measured side by side in one run (rounds interleaved, medians reported).

The store picks FULL (`workflows.durable.state_dir.SYNCHRONOUS`) unless it
costs more than `FULL_BUDGET_MS` per step over NORMAL; the last table says
which way this machine's disk decides it.

Run: `uv run python benchmarks/durable_overhead.py [--dir DIR]` (DIR: where
the databases go, default the system temp dir; use the disk the state lives on).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resonate.connections import LocalConnection  # noqa: E402
from resonate.resonate import Resonate  # noqa: E402

from workflows.durable.connection import JournaledConnection  # noqa: E402
from workflows.durable.journal import DurableJournal  # noqa: E402
from workflows.durable.state_dir import DB_NAME, SYNCHRONOUS, open_database  # noqa: E402

STEPS = 100  # steps per workflow
WORKFLOWS = 10  # workflows per round
ROUNDS = 5
#: What FULL may cost per step over NORMAL before NORMAL is the better trade.
FULL_BUDGET_MS = 1.0


async def step(ctx, i: int) -> int:  # type: ignore[no-untyped-def]
    return i + 1


async def workflow(ctx, n: int) -> int:  # type: ignore[no-untyped-def]
    total = 0
    for i in range(n):
        total += await ctx.run("step", i)
    return total


async def durable_round(make_network) -> float:  # type: ignore[no-untyped-def]
    network, close = make_network()
    r = Resonate(network=network, env={}, autostart=False)
    r.register(step, name="step")
    r.register(workflow, name="workflow")
    r.start()
    started = time.perf_counter()
    handles = [r.run(f"wf{i}", "workflow", STEPS) for i in range(WORKFLOWS)]
    for h in handles:
        await h.result()
    elapsed = time.perf_counter() - started
    await asyncio.wait_for(r.stop(), 5)
    close()
    return elapsed * 1000 / (STEPS * WORKFLOWS)


def embedded(synchronous: str, where: str | None):  # type: ignore[no-untyped-def]
    """The store on disk, as `StateDir` opens it, with the given `synchronous`."""
    directory = tempfile.mkdtemp(prefix="tp-bench-", dir=where)
    db = open_database(Path(directory) / DB_NAME, synchronous=synchronous)

    def close() -> None:
        db.close()
        shutil.rmtree(directory, ignore_errors=True)

    return JournaledConnection(DurableJournal(db)), close


def embedded_no_disk():  # type: ignore[no-untyped-def]
    """Same connection and state machine, journal in an in-memory database."""
    import sqlite3

    db = sqlite3.connect(":memory:", isolation_level=None)
    return JournaledConnection(DurableJournal(db)), db.close


def in_memory():  # type: ignore[no-untyped-def]
    return LocalConnection(), lambda: None


async def plain_round() -> float:
    started = time.perf_counter()
    for _ in range(WORKFLOWS):
        total = 0
        for i in range(STEPS):
            total += await step(None, i)
    return (time.perf_counter() - started) * 1000 / (STEPS * WORKFLOWS)


FULL = "embedded, WAL + synchronous=FULL"
NORMAL = "embedded, WAL + synchronous=NORMAL"
NO_DISK = "embedded, journal in memory"
LOCAL = "in-memory LocalConnection"


async def main(where: str | None) -> None:
    modes: dict[str, Callable[[], object]] = {
        FULL: lambda: durable_round(functools.partial(embedded, "FULL", where)),
        NORMAL: lambda: durable_round(functools.partial(embedded, "NORMAL", where)),
        NO_DISK: lambda: durable_round(embedded_no_disk),
        LOCAL: lambda: durable_round(in_memory),
        "plain call": plain_round,
    }
    results: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(ROUNDS):
        for name, run in modes.items():
            results[name].append(await run())  # type: ignore[misc]
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"ms per durable step ({WORKFLOWS} workflows x {STEPS} steps, median of {ROUNDS} interleaved rounds;")
    print(f" databases in {os.path.realpath(where or tempfile.gettempdir())})")
    print(f"{'mode':<38}{'ms/step':>10}{'min':>10}{'max':>10}{'x plain LocalConnection':>26}")
    for name, values in results.items():
        print(f"{name:<38}{med[name]:>10.3f}{min(values):>10.3f}{max(values):>10.3f}{med[name] / med[LOCAL]:>26.2f}")
    print()
    cost = med[FULL] - med[NORMAL]
    print(f"{'FULL vs NORMAL':<38}{'ms/step':>10}{'ratio':>10}")
    print(f"{'FULL - NORMAL (a sync per commit)':<38}{cost:>10.3f}{med[FULL] / med[NORMAL]:>10.2f}")
    print(f"{'NORMAL - journal in memory':<38}{med[NORMAL] - med[NO_DISK]:>10.3f}{med[NORMAL] / med[NO_DISK]:>10.2f}")
    print(f"{'embedded (FULL) - LocalConnection':<38}{med[FULL] - med[LOCAL]:>10.3f}{med[FULL] / med[LOCAL]:>10.2f}")
    verdict = "FULL" if cost <= FULL_BUDGET_MS else "NORMAL"
    print(f"FULL costs {cost:.3f} ms per step (budget {FULL_BUDGET_MS:g} ms): this disk says {verdict}; "
          f"the store uses {SYNCHRONOUS}.")
    print("(LocalConnection answers every fenced step with the whole branch, so its")
    print(" per-step cost grows with the workflow; the embedded store does not.)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="where the benchmark databases go (default: the temp dir)")
    asyncio.run(main(parser.parse_args().dir))
