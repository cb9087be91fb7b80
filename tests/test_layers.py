"""Imports run one way: the processes wire the rest; `bot` (the Slack
adapter) uses `workflows`; `workflows` (the durable core) uses neither, and
nothing but the command line starts a process."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "workflows", "travel_planner", "processes")


def imported_packages(path: Path) -> set[str]:
    """The top-level names a module imports (at any depth in its body)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("workflows", {"bot", "travel_planner", "processes", "slack_sdk", "slack_bolt"}),
        ("bot", {"travel_planner", "processes"}),
        # Test support (testing/) is shared, owned by none of its users.
        ("testing", {"tests", "reliability", "benchmarks"}),
        ("reliability", {"tests"}),
        ("benchmarks", {"tests"}),
    ],
)
def test_a_layer_imports_nothing_above_it(package: str, forbidden: set[str]) -> None:
    assert modules(package)
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & forbidden)
        for path in modules(package)
        if imported_packages(path) & forbidden
    }
    assert wrong == {}


def test_only_the_command_line_starts_a_process() -> None:
    starters = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        if package != "processes"
        for path in modules(package)
        if "processes" in imported_packages(path)
    ]
    assert starters == ["travel_planner/cli.py"]
