"""Settings for the planner, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workflows.errors import ConfigError
from workflows.usage import NO_PRICES, Prices

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
    context_chars: int = 44_000
    turns_per_segment: int = 5
    steps_per_segment: int = 40
    retention_days: float = 7.0
    #: How often a Postgres worker deletes finished trips past retention.
    gc_interval_minutes: float = 60.0
    provider_retry_minutes: float = 2.0
    remind_after_hours: float = 24.0
    park_after_hours: float = 48.0
    max_llm_calls: int = 60
    max_tokens: int = 600_000
    max_tool_calls: int = 40
    #: USD per million (input, output) tokens; (0, 0) = no estimate shown.
    price_per_mtok: Prices = NO_PRICES

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
            gc_interval_minutes=_number(env, "TRAVEL_PLANNER_GC_INTERVAL_MINUTES", d.gc_interval_minutes, float),
            provider_retry_minutes=_number(
                env, "TRAVEL_PLANNER_PROVIDER_RETRY_MINUTES", d.provider_retry_minutes, float
            ),
            remind_after_hours=_number(env, "TRAVEL_PLANNER_REMIND_AFTER_HOURS", d.remind_after_hours, float),
            park_after_hours=_number(env, "TRAVEL_PLANNER_PARK_AFTER_HOURS", d.park_after_hours, float),
            max_llm_calls=_number(env, "TRAVEL_PLANNER_MAX_LLM_CALLS", d.max_llm_calls, int),
            max_tokens=_number(env, "TRAVEL_PLANNER_MAX_TOKENS", d.max_tokens, int),
            max_tool_calls=_number(env, "TRAVEL_PLANNER_MAX_TOOL_CALLS", d.max_tool_calls, int),
            price_per_mtok=prices_from_env(env),
        )


def prices_from_env(env: Mapping[str, str]) -> Prices:
    """`TRAVEL_PLANNER_PRICE_PER_MTOK="input=0.15,output=0.60[,cached=0.075]"` (USD per 1M tokens)."""
    name = "TRAVEL_PLANNER_PRICE_PER_MTOK"
    raw = env.get(name, "").strip()
    if not raw:
        return NO_PRICES
    expected = f"expected 'input=0.15,output=0.60' and optionally ',cached=0.075', got {raw!r}"
    prices: dict[str, float] = {}
    for part in raw.split(","):
        key, _, value = part.partition("=")
        try:
            prices[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(name, expected) from None
    if not {"input", "output"} <= set(prices) <= {"input", "output", "cached"} or min(prices.values()) < 0:
        raise ConfigError(name, expected)
    return Prices(prices["input"], prices["output"], prices.get("cached"))


def state_dir_from_env(env: Mapping[str, str]) -> Path:
    raw = env.get("TRAVEL_PLANNER_STATE_DIR", "").strip()
    if raw:
        return Path(raw).expanduser()
    base = env.get("XDG_STATE_HOME", "").strip() or os.path.expanduser("~/.local/state")
    return Path(base) / "travel-planner"
