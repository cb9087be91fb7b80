"""`trips` (the list) and `trips show ID`: what the command line prints.

`show` prints the trip's record from the registry, then its durable history
(segments, their steps and states) read straight from the durable store, then
the transcript (who said what) and the plan; workflows/durable/history.py
reads and words the history.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TextIO

from bot.trip_starts import is_pending_start
from travel_planner.trip_store import OK, UNKNOWN_TRIP, open_store
from workflows.durable.history import (
    Segment,
    StoredPromise,
    child_seq,
    describe_step,
    one_line,
    read_embedded,
    read_postgres,
    reply_text,
    segment_messages,
    step_text,
    transcript_lines,
    trip_segments,
)
from workflows.feedback import Feedback, tally_words
from workflows.ports import TripRecord
from workflows.config import prices_from_env
from workflows.usage import NO_PRICES, Prices, usage_words


def usage_cell(usage: Mapping[str, Any], prices: Prices = NO_PRICES) -> str:
    """Usage in words; with TRAVEL_PLANNER_PRICE_PER_MTOK set, the estimated cost too."""
    return usage_words(usage, prices) if usage else "-"


def ago(seconds: float, now: float | None = None) -> str:
    if not seconds:
        return "-"
    delta = max(0.0, (time.time() if now is None else now) - seconds)
    if delta < 90:
        rel = f"{int(delta)}s ago"
    elif delta < 90 * 60:
        rel = f"{int(delta // 60)}m ago"
    elif delta < 36 * 3600:
        rel = f"{delta / 3600:.0f}h ago"
    else:
        rel = f"{delta / 86400:.0f}d ago"
    return f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(seconds))} ({rel})"


def plans_cell(record: TripRecord) -> str:
    """How many plan versions the trip posted (a trip from before versions: 1 once done)."""
    if record.plan_versions:
        return str(record.plan_versions)
    return "1" if record.state == "done" else "-"


def feedback_cell(votes: list[Feedback]) -> str:
    """All votes on the trip's plans: "👍 2 👎 1", or "-"."""
    return tally_words(votes) or "-"


# ---------------------------------------------------------------------------
# list


async def list_trips(env: Mapping[str, str], out: TextIO) -> int:
    prices = prices_from_env(env)
    async with open_store(env) as store:
        trips = await store.registry.list_trips() if store.registry is not None else []
        trips = [t for t in trips if not is_pending_start(t)]
        votes = {t.trip_id: await store.registry.trip_feedback(t.trip_id)
                 for t in trips if t.plan_versions or t.state == "done"}
    if not trips:
        out.write(f"No trips yet ({store.label}).\n")
        return OK
    rows = [
        (t.trip_id, t.state, ago(t.updated_at), plans_cell(t), feedback_cell(votes.get(t.trip_id, [])),
         usage_cell(t.usage, prices), one_line(t.request or "-", 60))
        for t in trips
    ]
    header = ("TRIP", "STATE", "LAST ACTIVITY", "PLANS", "FEEDBACK", "USAGE", "REQUEST")
    last = len(header) - 1
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(last)]
    for row in [header, *rows]:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:last])) + "  " + row[last] + "\n")
    out.write(f"{len(trips)} trip{'s' if len(trips) != 1 else ''} ({store.label})\n")
    return OK


# ---------------------------------------------------------------------------
# show


def _plan_lines(record: TripRecord, votes: list[Feedback]) -> list[str]:
    if not record.plan_versions:
        return []
    per_version = [
        f"v{v} {tally_words(f for f in votes if f.version == v)}"
        for v in range(1, record.plan_versions + 1)
        if any(f.version == v for f in votes)
    ]
    return [f"  plans:         {record.plan_versions}" + (f" (feedback: {'; '.join(per_version)})" if per_version else "")]


def _record_lines(record: TripRecord, prices: Prices) -> list[str]:
    lines = [
        f"Trip {record.trip_id}",
        f"  state:         {record.state}",
        f"  request:       {record.request or '-'}",
        f"  started by:    {record.starter or '-'}, {ago(record.created_at)}",
        f"  last activity: {ago(record.updated_at)}",
        f"  usage:         {usage_cell(record.usage, prices)}",
    ]
    where = record.thread
    if where.get("surface") == "slack":
        lines.append(f"  thread:        Slack {where.get('channel')} {where.get('thread_ts')} (team {where.get('team')})")
    if record.state in ("waiting", "parked") and record.last_question:
        lines.append(f"  waiting for:   {one_line(record.last_question, 200)}")
    return lines


async def show_trip(env: Mapping[str, str], trip_id: str, out: TextIO) -> int:
    async with open_store(env) as store:
        record = await store.registry.get_trip(trip_id) if store.registry is not None else None
        inbox = await store.registry.unclaimed_replies(trip_id) if record is not None and store.registry else []
        votes = await store.registry.trip_feedback(trip_id) if record is not None and store.registry else []
    if record is None:
        out.write(f"Unknown trip {trip_id!r} ({store.label}).\n")
        return UNKNOWN_TRIP
    out.write("\n".join([*_record_lines(record, prices_from_env(env)), *_plan_lines(record, votes)]) + "\n")
    if inbox:
        out.write(f"  not read yet:  {'; '.join(reply_text(r.to_dict()) for r in inbox)}\n")
    if store.mode == "server":
        out.write(
            "\nSteps and transcript live in the Resonate server: `trips show` reads them from the "
            "embedded store or Postgres (DATABASE_URL) only.\n"
        )
        return OK
    promises: list[StoredPromise] | None = None
    source = ""
    if store.database_url is not None:
        promises = await read_postgres(store.database_url, trip_id)
        source = "from Postgres, resonate.promises"
    elif store.db_path is not None:
        promises = read_embedded(store.db_path, trip_id)
        source = "from the embedded store"
    segments = trip_segments(promises, trip_id) if promises else []
    if not segments:
        out.write("\nNo durable history for this trip (pruned after it finished, or not started yet).\n")
        return OK
    out.write(f"\nSegments and steps: ({source})\n")
    for n, segment in enumerate(segments):
        out.write("".join(f"{line}\n" for line in _segment_lines(n, segment)))
    live = [s for s in segments if s.start is not None]
    out.write("\nTranscript:\n")
    if live:
        for line in transcript_lines(segment_messages(live[-1])):
            out.write("  " + line.replace("\n", "\n    ") + "\n")  # a long answer stays indented
    # The newest plan: a trip that takes changes (v3) has a segment waiting after it.
    planned = [s.result for s in segments if isinstance(s.result, dict) and s.result.get("plan")]
    last = planned[-1] if planned else segments[-1].result
    if isinstance(last, dict) and last.get("plan"):
        if not live:
            out.write("  (the conversation was compacted after the trip finished)\n")
        out.write("\nPlan:\n" + "\n".join(f"  {line}" for line in str(last["plan"]).splitlines()) + "\n")
    elif not live:
        out.write("  (not kept: the trip finished and its history was compacted)\n")
    return OK


_MARKS = {"pending": "…", "resolved": "✓"}


def _segment_lines(n: int, segment: Segment) -> list[str]:
    p = segment.promise
    what = describe_step(segment.name, p.param, segment.result)
    lines = [f"  segment {n} ({p.id}) {what if p.pending else f'{p.state}: {what}'}"]
    if not segment.steps and not p.pending:
        lines.append("     (its steps were compacted once it finished)")
    for step in segment.steps:
        name, what = step_text(step)
        mark = _MARKS.get(step.state, step.state)
        lines.append(f"    {child_seq(p.id, step.id):>4}  {name:<19} {mark}  {what}")
    if segment.successor is not None:
        lines.append(f"      ->  {'hand-over':<19} →  next segment {segment.successor}")
    return lines


__all__ = ["ago", "list_trips", "show_trip", "usage_cell"]
