"""What a suite is asked to run."""

from __future__ import annotations

from dataclasses import dataclass, field

PROFILES = ("fast", "full")


@dataclass(frozen=True, slots=True)
class Profile:
    """`name`: "fast" (CI subset) or "full" (everything, on demand).

    `seed`: for suites that draw random choices (None: the suite's default,
    printed so a failure can be replayed). `jobs`: how many runs a suite may
    execute at once. `options`: suite-specific knobs from ``--set KEY=VALUE``.
    """

    name: str = "fast"
    seed: int | None = None
    jobs: int = 2
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            msg = f"unknown profile {self.name!r}; expected one of {', '.join(PROFILES)}"
            raise ValueError(msg)

    @property
    def fast(self) -> bool:
        return self.name == "fast"

    @property
    def full(self) -> bool:
        return self.name == "full"
