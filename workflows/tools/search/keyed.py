"""What every provider with an API key shares: settings, client, a safe repr."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from workflows.errors import ConfigError
from workflows.tools import env as envvars
from workflows.tools.search.fields import object_body
from workflows.tools.search.http import HttpSettings, ProviderClient


class KeyedProvider:
    """A search API at `{base_url}{path}` authenticated by a key.

    Subclasses name themselves and their variables, and implement `search`.
    """

    name: ClassVar[str]
    key_variable: ClassVar[str]
    url_variable: ClassVar[str]
    default_url: ClassVar[str]
    path: ClassVar[str]
    #: What the key is needed for, in the error when it is missing.
    needed_for: ClassVar[str] = ""

    def __init__(self, api_key: str, base_url: str | None = None, http: HttpSettings | None = None) -> None:
        if not api_key.strip():
            raise ConfigError(self.key_variable, "is empty")
        self._api_key = api_key.strip()
        self._url = (base_url or self.default_url).rstrip("/") + self.path
        self._client = ProviderClient(
            self.name, http or HttpSettings(), secret=api_key, key_variable=self.key_variable
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], http: HttpSettings | None = None) -> Self:
        return cls(
            envvars.secret(env, cls.key_variable, needed_for=cls.needed_for or f"SEARCH_PROVIDER={cls.name}"),
            envvars.http_url(env, cls.url_variable, cls.default_url),
            http,
        )

    def _call(self, method: str, headers: dict[str, str], **request: Any) -> dict[str, Any]:
        """One request to the API; its JSON object body, else a search failure."""
        return object_body(self._client.request_json(method, self._url, headers=headers, **request))

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(url={self._url!r})"
