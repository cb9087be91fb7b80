"""`travel-planner trips`: list trips, show one's steps and transcript, cancel one.

- `trips` lists every trip the registry knows: state, last activity, usage.
- `trips show ID` prints the trip's record, then its durable history
  (segments, their steps and states) read straight from the durable store,
  then the transcript (who said what); see travel_planner/trip_report.py.
- `trips cancel ID` hands the trip a cancel control, like the Cancel button;
  see travel_planner/trip_cancel.py.

Where each reads (the embedded store, Postgres, or a Resonate server's
registry in Redis) follows the processes' rule: travel_planner/trip_store.py.

Exit codes: 0 ok, 1 unknown trip, 2 configuration error (a missing or
unreachable REDIS_URL, DATABASE_URL without the schema: the message names the
variable).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from travel_planner.trip_cancel import cancel_trip
from travel_planner.trip_report import list_trips, show_trip


def add_parser(sub: Any) -> None:
    trips = sub.add_parser("trips", help="list trips; show one's steps and transcript; cancel one")
    actions = trips.add_subparsers(dest="trips_action")
    actions.add_parser("list", help="every trip: state, last activity, usage (the default)")
    show = actions.add_parser("show", help="a trip's segments, steps and transcript")
    show.add_argument("trip_id")
    cancel = actions.add_parser("cancel", help="cancel a trip (as its Cancel button does)")
    cancel.add_argument("trip_id")


def trips_command(args: argparse.Namespace, env: Mapping[str, str], out: TextIO | None = None) -> int:
    out = out or sys.stdout
    action = getattr(args, "trips_action", None) or "list"
    if action == "list":
        return asyncio.run(list_trips(env, out))
    if action == "show":
        return asyncio.run(show_trip(env, args.trip_id, out))
    return asyncio.run(cancel_trip(env, args.trip_id, out))


__all__ = ["add_parser", "trips_command"]
