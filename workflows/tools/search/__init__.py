"""`internet_search`: pluggable search providers behind one small interface."""

from workflows.tools.search.base import SearchFailed, SearchHit, SearchProvider, SearchResults
from workflows.tools.search.factory import PROVIDER_NAMES, search_provider_from_env
from workflows.tools.search.format import format_results, no_results
from workflows.tools.search.http import HttpSettings

__all__ = [
    "PROVIDER_NAMES",
    "HttpSettings",
    "SearchFailed",
    "SearchHit",
    "SearchProvider",
    "SearchResults",
    "format_results",
    "no_results",
    "search_provider_from_env",
]
