"""Milliseconds per durable step: the embedded store (SQLite journal) against
the SDK's in-memory `LocalConnection` and a plain function call, measured
side by side in one run (rounds interleaved, medians reported).

Run: `uv run python benchmarks/durable_overhead.py`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resonate.connections import LocalConnection  # noqa: E402
from resonate.resonate import Resonate  # noqa: E402

from workflows.durable.connection import JournaledConnection  # noqa: E402
from workflows.durable.journal import DurableJournal  # noqa: E402
from workflows.durable.state_dir import StateDir  # noqa: E402

STEPS = 100  # steps per workflow
WORKFLOWS = 10  # workflows per round
ROUNDS = 5


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


def embedded():  # type: ignore[no-untyped-def]
    state = StateDir(tempfile.mkdtemp(prefix="tp-bench-"))
    return JournaledConnection(DurableJournal(state.db)), state.close


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


async def main() -> None:
    modes = {
        "embedded store (SQLite WAL)": lambda: durable_round(embedded),
        "embedded, journal in memory": lambda: durable_round(embedded_no_disk),
        "in-memory LocalConnection": lambda: durable_round(in_memory),
        "plain call": plain_round,
    }
    results: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(ROUNDS):
        for name, run in modes.items():
            results[name].append(await run())
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"ms per durable step ({WORKFLOWS} workflows x {STEPS} steps, median of {ROUNDS} interleaved rounds)")
    print(f"{'mode':<30}{'ms/step':>10}{'min':>10}{'max':>10}")
    for name, values in results.items():
        print(f"{name:<30}{med[name]:>10.3f}{min(values):>10.3f}{max(values):>10.3f}")
    print()
    print(f"{'embedded - LocalConnection':<30}{med['embedded store (SQLite WAL)'] - med['in-memory LocalConnection']:>10.3f}")
    print(f"{'disk journal alone':<30}{med['embedded store (SQLite WAL)'] - med['embedded, journal in memory']:>10.3f}")
    print("(LocalConnection answers every fenced step with the whole branch, so its")
    print(" per-step cost grows with the workflow; the embedded store does not.)")


if __name__ == "__main__":
    asyncio.run(main())
