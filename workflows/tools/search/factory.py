"""Choosing the search provider from the environment (SEARCH_PROVIDER)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from workflows.tools import env as envvars
from workflows.tools.search.base import SearchProvider
from workflows.tools.search.brave import BraveProvider
from workflows.tools.search.http import HttpSettings
from workflows.tools.search.searxng import SearxngProvider
from workflows.tools.search.serper import SerperProvider
from workflows.tools.search.tavily import TavilyProvider

PROVIDER_VARIABLE = "SEARCH_PROVIDER"
_PROVIDERS: dict[str, Callable[[Mapping[str, str], HttpSettings | None], SearchProvider]] = {
    "serper": SerperProvider.from_env,
    "brave": BraveProvider.from_env,
    "tavily": TavilyProvider.from_env,
    "searxng": SearxngProvider.from_env,
}
PROVIDER_NAMES = tuple(_PROVIDERS)


def search_provider_from_env(env: Mapping[str, str], http: HttpSettings | None = None) -> SearchProvider:
    """The configured provider; ConfigError (naming the variable) if it cannot work."""
    name = envvars.choice(env, PROVIDER_VARIABLE, PROVIDER_NAMES, default="serper")
    return _PROVIDERS[name](env, http)
