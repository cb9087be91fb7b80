"""Durable bytes as a conversation grows, against the transcript's own bytes,
at turns 10, 100 and 200.

"Durable bytes" is what the embedded store keeps on disk for the trip: the
snapshot plus the journal after it (zlib-compressed bodies), measured before
and after a snapshot. The transcript is every message of the conversation
(request, questions, research results, answers) as JSON, each counted once.

Run: `uv run python benchmarks/state_growth.py`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.trip_driver import open_trip  # noqa: E402

MARKS = (10, 100, 200)


async def main() -> None:
    run = await open_trip(max(MARKS) + 1)
    conn = run.runtime.connection
    assert conn is not None
    rows = []
    try:
        for turn in range(1, max(MARKS) + 1):
            await run.next_question()
            if turn in MARKS:
                await asyncio.sleep(0.05)  # let the step in flight settle
                journal_bytes = conn.stored_bytes()
                conn.checkpoint()  # compact the journal into one snapshot
                rows.append((turn, run.transcript_bytes(), journal_bytes, conn.stored_bytes()))
            await run.answer(turn)
    finally:
        await run.runtime.close()
    print("durable bytes against transcript bytes")
    print(f"{'turn':>6}{'transcript':>14}{'journal+snap':>14}{'ratio':>8}{'snapshot only':>16}{'ratio':>8}")
    for turn, transcript, journal, snapshot in rows:
        print(f"{turn:>6}{transcript:>14,}{journal:>14,}{journal / transcript:>8.2f}"
              f"{snapshot:>16,}{snapshot / transcript:>8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
