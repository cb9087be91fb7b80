"""A suite's results: a titled table of numbers, some of which must be zero."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """Rows of values under `columns`.

    `must_be_zero` names the columns whose every cell must be 0 (a violated
    invariant, an error); `failures` lists the cells that are not, and
    `problems` any failure a suite reports in words (a run that could not be
    judged). `notes` are printed under the table: seeds, log paths, replays.
    """

    title: str
    columns: list[str]
    must_be_zero: tuple[str, ...] = ()
    rows: list[list[Any]] = field(default_factory=list)
    #: Summary rows (totals) printed under the rows; not checked (they repeat them).
    footer: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float | None = None

    def __post_init__(self) -> None:
        unknown = [c for c in self.must_be_zero if c not in self.columns]
        if unknown:
            msg = f"must_be_zero names unknown columns: {unknown}"
            raise ValueError(msg)

    def add(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            msg = f"row has {len(values)} values for {len(self.columns)} columns: {values!r}"
            raise ValueError(msg)
        self.rows.append(list(values))

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def total(self, name: str) -> int | float:
        return sum(v for v in self.column(name) if isinstance(v, int | float))

    @property
    def failures(self) -> list[str]:
        out = []
        for name in self.must_be_zero:
            i = self.columns.index(name)
            for row in self.rows:
                if row[i] != 0:
                    out.append(f"{row[0]}: {name} = {row[i]}")
        return out + list(self.problems)

    @property
    def ok(self) -> bool:
        return not self.failures

    def render(self) -> str:
        cells = [[_fmt(v) for v in row] for row in self.rows]
        footer = [[_fmt(v) for v in row] for row in self.footer]
        widths = [len(c) for c in self.columns]
        for row in cells + footer:
            widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]

        def line(values: Iterable[str]) -> str:
            parts = []
            for i, (v, w) in enumerate(zip(values, widths, strict=True)):
                parts.append(v.ljust(w) if i == 0 else v.rjust(w))
            return "  ".join(parts).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        took = f"  ({self.seconds:.1f} s)" if self.seconds is not None else ""
        out = [f"== {self.title}{took}", line(self.columns), rule]
        out += [line(row) for row in cells]
        out.append(rule)
        if footer:
            out += [line(row) for row in footer]
            out.append(rule)
        out.append("result: " + ("OK" if self.ok else f"FAILED ({len(self.failures)} problem(s))"))
        for failure in self.failures:
            out.append(f"  ! {failure}")
        out += [f"  {note}" for note in self.notes]
        return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
