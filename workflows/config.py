"""Settings for the planner, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workflows.errors import ConfigError

DEFAULT_MODEL = "gpt-4o-mini"


def _number[T: (int, float)](env: Mapping[str, str], name: str, default: T, kind: type[T]) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(name, f"must be greater than zero, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class LlmSettings:
    base_url: str | None
    api_key: str
    model: str
    timeout_seconds: float
    max_retries: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LlmSettings:
        api_key = env.get("OPENAI_API_KEY", "").strip()
        base_url = env.get("OPENAI_BASE_URL", "").strip() or None
        if not api_key:
            hint = (
                f"OPENAI_BASE_URL is {base_url}, but the key is missing"
                if base_url
                else "set OPENAI_API_KEY (and OPENAI_BASE_URL for an "
                "OpenAI-compatible server other than api.openai.com)"
            )
            raise ConfigError("OPENAI_API_KEY", f"no LLM is configured: {hint}")
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ConfigError("OPENAI_BASE_URL", f"expected an http(s) URL, got {base_url!r}")
        return cls(
            base_url=base_url,
            api_key=api_key,
            model=env.get("TRAVEL_PLANNER_MODEL", "").strip() or DEFAULT_MODEL,
            timeout_seconds=_number(env, "TRAVEL_PLANNER_LLM_TIMEOUT_SECONDS", 120.0, float),
            max_retries=int(_number(env, "TRAVEL_PLANNER_LLM_MAX_RETRIES", 3, int)),
        )

    def __repr__(self) -> str:  # never print the key
        return f"LlmSettings(base_url={self.base_url!r}, model={self.model!r})"


@dataclass(frozen=True, slots=True)
class TripSettings:
    """How trips behave: lifetimes, budgets for context and resume cost."""

    lifetime_days: float = 30.0
    context_chars: int = 48_000
    turns_per_segment: int = 5
    steps_per_segment: int = 40
    retention_days: float = 7.0
    provider_retry_minutes: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TripSettings:
        d = cls()
        return cls(
            lifetime_days=_number(env, "TRAVEL_PLANNER_TRIP_LIFETIME_DAYS", d.lifetime_days, float),
            context_chars=_number(env, "TRAVEL_PLANNER_CONTEXT_CHARS", d.context_chars, int),
            turns_per_segment=_number(
                env, "TRAVEL_PLANNER_TURNS_PER_SEGMENT", d.turns_per_segment, int
            ),
            steps_per_segment=_number(
                env, "TRAVEL_PLANNER_STEPS_PER_SEGMENT", d.steps_per_segment, int
            ),
            retention_days=_number(env, "TRAVEL_PLANNER_RETENTION_DAYS", d.retention_days, float),
            provider_retry_minutes=_number(
                env, "TRAVEL_PLANNER_PROVIDER_RETRY_MINUTES", d.provider_retry_minutes, float
            ),
        )


def state_dir_from_env(env: Mapping[str, str]) -> Path:
    raw = env.get("TRAVEL_PLANNER_STATE_DIR", "").strip()
    if raw:
        return Path(raw).expanduser()
    base = env.get("XDG_STATE_HOME", "").strip() or os.path.expanduser("~/.local/state")
    return Path(base) / "travel-planner"
