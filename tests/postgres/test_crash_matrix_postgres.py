"""The Postgres crash matrix's fast profile, in CI: `web` + 2 `worker`s per
run on a throwaway database and Redis, SIGKILLed at the LLM, tool, post and
hand-over boundaries, a post in Slack not yet in the ledger, and `web`
between a reply and its ack; every dead worker's trip must be taken over by
the other worker, and every run must end with the crash-free plan, no
repeated paid call, no lost or doubled reply and no duplicate post.
Measured: 35 s wall on the 2-core machine (two chains at once).
"""

from __future__ import annotations

import pytest

from reliability import crash_matrix
from reliability.profile import Profile

pytestmark = pytest.mark.timeout(300)  # a backstop: a stuck run fails on its own

INVARIANTS = ("repeats", "lost", "twice", "duplicates", "plan_mismatch", "errors")


def test_postgres_crash_matrix_fast_profile() -> None:
    table = crash_matrix.run(Profile("fast", engine="postgres"))
    print(table.render())
    for column in INVARIANTS:
        assert table.total(column) == 0, f"{column}:\n{table.render()}"
    assert table.ok, table.render()
    killed = {row[0] for row in table.rows if row[2] > 0}
    assert killed == set(crash_matrix.POSTGRES_FAST), "every chosen kill point must actually kill a process"
    assert table.footer[0][table.columns.index("takeovers")] >= 1  # a worker's death was taken over
