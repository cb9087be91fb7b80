"""Reliability suites: prove the product's invariants with numbers (nothing
paid twice, no reply lost or applied twice, nothing posted twice).

`uv run python -m reliability [--profile fast|full] [--only SUITE]` runs the
suites registered in `reliability/__main__.py` and prints one results table
per suite; it exits non-zero when any table has a non-zero cell in a column
that must stay zero (or a suite failed to run).

A suite is a module exposing ``run(profile: Profile) -> Table``:

- `Profile` (`reliability.profile`): ``name`` is "fast" (the CI subset, run by
  pytest) or "full" (on demand); ``seed`` and ``jobs`` are hints a suite may use.
- `Table` (`reliability.table`): rows of numbers, the columns that must be
  zero, and notes (what to run to replay a failure, where the logs are).
"""

from reliability.profile import Profile
from reliability.table import Table

__all__ = ["Profile", "Table"]
