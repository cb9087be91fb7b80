"""What a suite is asked to run."""

from __future__ import annotations

from dataclasses import dataclass, field

PROFILES = ("fast", "full")
#: "embedded": one `travel-planner run` on its own store; "postgres": `web` + 2
#: `worker`s on a throwaway Postgres database and Redis.
ENGINES = ("embedded", "postgres")


@dataclass(frozen=True, slots=True)
class Profile:
    """`name`: "fast" (CI subset) or "full" (everything, on demand).

    `seed`: for suites that draw random choices (None: the suite's default,
    printed so a failure can be replayed). `jobs`: how many runs a suite may
    execute at once. `options`: suite-specific knobs from ``--set KEY=VALUE``.
    `engine`: what the suites that support both run against (`ENGINES`).
    """

    name: str = "fast"
    seed: int | None = None
    jobs: int = 2
    options: dict[str, str] = field(default_factory=dict)
    engine: str = "embedded"

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            msg = f"unknown profile {self.name!r}; expected one of {', '.join(PROFILES)}"
            raise ValueError(msg)
        if self.engine not in ENGINES:
            msg = f"unknown engine {self.engine!r}; expected one of {', '.join(ENGINES)}"
            raise ValueError(msg)

    def embedded_only(self, suite: str) -> None:
        """For a suite with no Postgres mode: a clear refusal, not a silent embedded run."""
        if self.engine != "embedded":
            msg = f"{suite} runs on the embedded engine only (--engine {self.engine} is supported by crash_matrix and load)"
            raise EngineNotSupported(msg)

    @property
    def fast(self) -> bool:
        return self.name == "fast"

    @property
    def full(self) -> bool:
        return self.name == "full"


class EngineNotSupported(Exception):
    """A suite asked to run on an engine it has no mode for."""
