"""Changes after the plan (workflow v3): what the planner is told about the
plan it posted, and what the thread is told when a planned trip closes.

After a plan, a v3 trip keeps its thread open for changes until its lifetime
ends or someone says `@bot close`. The latest plan rides in the trip state
(`TripState.plan`, `plan_version`) and goes into the system message of every
later LLM call, so compaction of the transcript never loses it: the planner
always sees the plan it wrote, and the request for a change below it.
"""

from __future__ import annotations

from workflows.ports import RUNNING_STATES, TripRecord

#: How much of the latest plan the planner is shown again (the whole plan
#: normally; a runaway one is cut rather than crowding out the request).
_PLAN_CHARS = 12_000


def takes_changes(record: TripRecord) -> bool:
    """A trip with a plan (v3) that is still open: a message changes its plan,
    `close` ends it; not finished, though its state may read "done"."""
    return record.plan_versions > 0 and (record.state == "done" or record.state in RUNNING_STATES)


def plan_context(version: int, plan: str) -> str:
    """The paragraph added to the system prompt once a plan is posted."""
    shown = plan if len(plan) <= _PLAN_CHARS else plan[:_PLAN_CHARS] + "\n…"
    return (
        f"You already posted a plan to the team (version {version}). It is below. "
        "People may now ask for changes in the thread: answer their question or ask yours, "
        "and when the change is settled post the whole revised plan (with the finish tool, "
        f"as before), which the team will see as version {version + 1}.\n\n"
        f"--- The plan you posted (v{version}) ---\n{shown}\n--- end of v{version} ---"
    )


def plan_label(version: int, title: str) -> str:
    """How a plan version is headed in the thread: "Plan v2 · <title>" (the first is just its title)."""
    return f"Plan v{version} · {title}" if version > 1 else title


def closed_notice(by: str, version: int) -> str:
    return f"Trip closed by {by}. The plan (v{version}) above is final; I'm no longer taking changes."


def lifetime_over_notice(version: int) -> str:
    """The expiry notice of a trip that has a plan: nothing failed, changes just stop."""
    return f"This trip reached the end of its planning window. The plan (v{version}) above stays; I'm no longer taking changes."


__all__ = ["closed_notice", "lifetime_over_notice", "plan_context", "plan_label", "takes_changes"]
