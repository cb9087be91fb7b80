"""Reading the tools' settings from an environment mapping.

Every problem is a ConfigError naming the variable, raised at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from workflows.errors import ConfigError


def secret(env: Mapping[str, str], variable: str, *, needed_for: str) -> str:
    value = env.get(variable, "").strip()
    if not value:
        raise ConfigError(variable, f"is not set; it is required for {needed_for}")
    return value


def http_url(env: Mapping[str, str], variable: str, default: str | None = None, *, needed_for: str = "") -> str:
    """A base URL (http or https, with a host), without a trailing slash."""
    value = env.get(variable, "").strip() or (default or "")
    if not value:
        raise ConfigError(variable, f"is not set; it is required for {needed_for}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def positive_float(env: Mapping[str, str], variable: str, default: float) -> float:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(variable, f"expected a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(variable, f"must be greater than zero, got {raw!r}")
    return value


def choice(env: Mapping[str, str], variable: str, options: tuple[str, ...], default: str) -> str:
    value = env.get(variable, "").strip().lower() or default
    if value not in options:
        raise ConfigError(variable, f"expected one of {', '.join(options)}; got {value!r}")
    return value


def existing_file(env: Mapping[str, str], variable: str) -> str | None:
    value = env.get(variable, "").strip()
    if value and not Path(value).is_file():
        raise ConfigError(variable, f"no such file: {value!r}")
    return value or None
