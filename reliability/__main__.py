"""`python -m reliability [--profile fast|full] [--engine embedded|postgres] [--only SUITE ...]`.

Runs the registered suites in order, prints each one's table, and exits 1 if
any table shows a non-zero cell where zero is required (or a suite crashed),
2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
import traceback
from collections.abc import Sequence

from reliability.profile import ENGINES, PROFILES, EngineNotSupported, Profile
from reliability.table import Table

#: Suite name -> module exposing `run(profile: Profile) -> Table`, in run order.
#: Add a suite by adding a line here.
SUITES: dict[str, str] = {
    "crash_matrix": "reliability.crash_matrix",
    "random_kills": "reliability.random_kills",
    "chaos_delivery": "reliability.chaos_delivery",
    "hostile_input": "reliability.hostile_input",
    "load": "reliability.load",
}


def run_suite(name: str, profile: Profile) -> Table:
    """Import and run one suite; a crash becomes a failed table."""
    module_name = SUITES[name]
    started = time.monotonic()
    try:
        module = importlib.import_module(module_name)
        table = module.run(profile)
    except EngineNotSupported as exc:
        table = Table(title=f"{name} [{profile.name}, {profile.engine}]", columns=["suite"])
        table.problems.append(str(exc))
    except Exception:
        table = Table(title=f"{name} [{profile.name}]", columns=["suite"])
        table.problems.append(f"the suite crashed:\n{traceback.format_exc()}")
    if table.seconds is None:
        table.seconds = time.monotonic() - started
    return table


def available(name: str) -> bool:
    return importlib.util.find_spec(SUITES[name]) is not None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="fast")
    parser.add_argument(
        "--engine", choices=ENGINES, default="embedded",
        help="embedded: one `run` process (default); postgres: `web` + 2 `worker`s (crash_matrix, load)",
    )
    parser.add_argument(
        "--only", action="append", metavar="SUITE",
        help=f"run only this suite (repeatable, or comma-separated): {', '.join(SUITES)}",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for suites that draw random choices")
    parser.add_argument("--jobs", type=int, default=2, help="runs a suite may execute at once (default 2)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="suite-specific option")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, module in SUITES.items():
            print(f"{name:16} {module}{'' if available(name) else '  (not installed)'}")
        return 0
    wanted = [n.strip() for item in args.only or [] for n in item.split(",") if n.strip()] or list(SUITES)
    unknown = [n for n in wanted if n not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(unknown)}; known: {', '.join(SUITES)}")
    options = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    profile = Profile(args.profile, seed=args.seed, jobs=max(1, args.jobs), options=options, engine=args.engine)

    failed: list[str] = []
    for name in wanted:
        if not available(name):
            print(f"== {name}: SKIPPED (module {SUITES[name]} is not there yet)\n", flush=True)
            if args.only:
                failed.append(name)
            continue
        table = run_suite(name, profile)
        print(table.render() + "\n", flush=True)
        if not table.ok:
            failed.append(name)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("all suites OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
