"""JSON over HTTP for search providers: retries for transient failures, and
failure messages an LLM (and an operator) can act on.

Retries are urllib3's `Retry` mounted on a requests adapter: connection
errors, timeouts, 429 and 5xx are retried at most `retries` times with
exponential backoff, honouring `Retry-After` up to `retry_after_cap` seconds.
Anything else (a bad key, no credits, a malformed request) fails at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from workflows.tools.search.base import SearchFailed

logger = logging.getLogger(__name__)

# 501 (not implemented) and 505 (HTTP version) will not get better by retrying.
TRANSIENT_STATUSES = frozenset({429} | set(range(500, 600)) - {501, 505})
# Statuses providers use for "the account has no credits / is over its plan".
OUT_OF_CREDIT_STATUSES = frozenset({402, 432, 433})
_CREDIT_WORDS = ("credit", "quota", "usage limit", "plan limit")

_USER_AGENT = "travel-planner/0.1 (web search tool)"
_DETAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Timeouts and retry budget for one provider call.

    Worst case with the defaults: 3 attempts x (3 s + 8 s) + 2 waits of at most
    10 s = 53 s, inside the 60 s task lease of the durable engine.
    """

    connect_timeout: float = 3.0
    read_timeout: float = 8.0
    retries: int = 2
    backoff_factor: float = 1.0
    retry_after_cap: float = 10.0

    def retry(self) -> Retry:
        return Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            redirect=0,
            # Search calls are reads; a repeated POST costs at most one credit.
            allowed_methods=frozenset({"GET", "POST"}),
            status_forcelist=TRANSIENT_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.retry_after_cap,
            respect_retry_after_header=True,
            retry_after_max=self.retry_after_cap,  # type: ignore[arg-type]  # a float works
            raise_on_status=False,  # hand back the last response so we can describe it
            raise_on_redirect=False,
        )


class ProviderClient:
    """Sends one provider's requests and decodes their JSON answers.

    Safe to share between threads: each thread gets its own requests Session
    (Sessions are not documented as thread-safe), reused across calls.
    """

    def __init__(
        self,
        provider: str,
        settings: HttpSettings,
        *,
        secret: str = "",
        key_variable: str = "",
    ) -> None:
        self.provider = provider
        self.settings = settings
        self._secret = secret
        self._key_variable = key_variable
        self._local = threading.local()

    def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> Any:
        try:
            response = self._session().request(
                method,
                url,
                headers={"Accept": "application/json", "User-Agent": _USER_AGENT, **(headers or {})},
                params=params,
                json=json_body,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
        except requests.RequestException as exc:
            raise self._network_failure(exc) from None
        with response:
            if response.status_code >= 400:
                raise self._status_failure(response)
            try:
                return response.json()
            except ValueError:
                logger.error(
                    "search provider %s returned invalid JSON (HTTP %s, %s)",
                    self.provider, response.status_code, response.headers.get("Content-Type", "no content type"),
                )
                raise SearchFailed("the search provider returned invalid JSON. Try again later.") from None

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=self.settings.retry())
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def _attempts(self) -> str:
        n = self.settings.retries + 1
        return f"{n} attempt{'s' if n != 1 else ''}"

    def _network_failure(self, exc: requests.RequestException) -> SearchFailed:
        if _is_timeout(exc):
            what = f"did not answer within {self.settings.read_timeout:g} s"
        else:
            what = "could not be reached"
        logger.warning(
            "search provider %s %s after %s: %s",
            self.provider, what, self._attempts(), type(exc).__name__,
        )
        return SearchFailed(f"the search provider {what} ({self._attempts()}). Try again later.")

    def _status_failure(self, response: requests.Response) -> SearchFailed:
        status = response.status_code
        detail = self._redact(_error_detail(response))
        shown = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"

        if status == 429:
            logger.warning("search provider %s is rate limiting (%s) after %s", self.provider, shown, self._attempts())
            return SearchFailed(
                f"the search provider is rate limiting us ({shown}), still after {self._attempts()}. "
                "Wait before searching again."
            )
        if status >= 500:
            logger.warning("search provider %s failed (%s) after %s", self.provider, shown, self._attempts())
            return SearchFailed(f"the search provider had a server error ({shown}). Try again later.")

        # Permanent: retrying cannot help, an operator has to act.
        logger.error("search provider %s refused the request (%s)", self.provider, shown)
        if status in OUT_OF_CREDIT_STATUSES or any(w in detail.lower() for w in _CREDIT_WORDS):
            return SearchFailed(
                f"the search account is out of credits or over its plan limit ({shown}). "
                "Web search will not work until an operator fixes it; carry on without it."
            )
        if status in (401, 403) and self._key_variable:
            return SearchFailed(
                f"the search provider rejected our API key ({shown}). Web search will not work "
                f"until an operator fixes {self._key_variable}; carry on without it."
            )
        return SearchFailed(f"the search provider refused the request ({shown}).")

    def _redact(self, text: str) -> str:
        # Providers sometimes echo what they were sent; never pass a key on.
        return text.replace(self._secret, "[redacted]") if self._secret else text


def _is_timeout(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    # With retries, requests wraps urllib3's MaxRetryError in a ConnectionError.
    cause = exc.args[0] if exc.args else None
    reason = cause.reason if isinstance(cause, MaxRetryError) else None
    # NewConnectionError subclasses ConnectTimeoutError, but "refused" is not slow.
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


def _error_detail(response: requests.Response) -> str:
    """A short, single-line reason from an error body (a JSON message or plain text)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    text = ""
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "msg"):
            value = data.get(key)
            if isinstance(value, dict):  # {"error": {"detail": ...}} (Brave), {"detail": {"error": ...}} (Tavily)
                value = value.get("detail") or value.get("error") or value.get("message")
            if isinstance(value, str) and value.strip():
                text = value
                break
    elif response.headers.get("Content-Type", "").startswith("text/plain"):
        text = response.text[:2000]
    line = " ".join(text.split()) or response.reason or ""
    return line[:_DETAIL_CHARS] + ("..." if len(line) > _DETAIL_CHARS else "")
