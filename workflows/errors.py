"""Errors the durable core raises to its callers."""

from __future__ import annotations


class ConfigError(Exception):
    """A required setting is missing or malformed.

    `variable` names the environment variable so the message can tell an
    operator exactly what to fix. Entry points turn this into exit code 2.
    """

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(variable, problem)
        self.variable = variable
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.variable}: {self.problem}"
