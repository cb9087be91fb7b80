"""Fetching one page: guarded connections, checked redirects, capped reads.

Everything here runs under one `Deadline`, so the whole fetch (connect,
headers, redirects, body) ends when the budget does, however slowly the
server sends.
"""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from urllib.parse import urljoin

import requests
import urllib3.exceptions
from requests_hardened.ip_filter import InvalidIPAddress

from workflows.tools.scrape.deadline import Deadline
from workflows.tools.scrape.errors import PageUnreadable
from workflows.tools.scrape.guarded_adapter import GuardedAdapter
from workflows.tools.scrape.url_policy import check_url

logger = logging.getLogger(__name__)

READABLE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
_DESCRIBED_TYPES = {
    "application/pdf": "a PDF document",
    "application/json": "JSON data",
    "application/zip": "a ZIP archive",
}
_HEADERS = {
    "User-Agent": "Mozilla/5.0 (compatible; travel-planner/0.1; page reader)",
    "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
    # Only decoders whose output urllib3 can bound (gzip bombs stop at the cap).
    "Accept-Encoding": "gzip, deflate",
}
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchSettings:
    deadline_seconds: float = 20.0
    connect_timeout: float = 5.0
    max_bytes: int = 2 * 1024 * 1024  # decoded bytes read from the body
    max_redirects: int = 5
    allow_hosts: frozenset[str] = frozenset()
    ca_bundle: str | None = None  # CA file to verify HTTPS against instead of certifi (intranets)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # after redirects
    redirected: bool
    media_type: str  # "text/html", "text/plain", ... ("" if the server sent none)
    charset: str | None
    body: bytes
    cut_at_cap: bool  # the body was longer than max_bytes


def fetch_page(url: str, settings: FetchSettings) -> FetchedPage:
    """Fetch `url` or raise PageUnreadable with a reason for the LLM."""
    url = check_url(url)
    too_slow = f"the site took longer than {settings.deadline_seconds:g} seconds to send the page; try another result."
    with Deadline(settings.deadline_seconds) as deadline, _guarded_session(settings, deadline) as session:
        try:
            response = _follow_redirects(session, url, settings, deadline)
            with response:
                media_type, charset = _content_type(response)
                body, cut = _read_capped(response, settings.max_bytes)
        except InvalidIPAddress:
            raise PageUnreadable(
                "that address is not allowed: it points to a private, local or otherwise internal "
                "network address. Only public web pages can be read."
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            if deadline.expired:
                raise PageUnreadable(too_slow) from None
            raise PageUnreadable(_describe_network_error(exc)) from None
        # A socket shut by the deadline can look like a normal end of body.
        if deadline.expired:
            raise PageUnreadable(too_slow)
    return FetchedPage(
        url=response.url,
        redirected=bool(response.history),
        media_type=media_type,
        charset=charset,
        body=body,
        cut_at_cap=cut,
    )


def _guarded_session(settings: FetchSettings, deadline: Deadline) -> requests.Session:
    session = requests.Session()
    # Environment proxies would bypass the address check (the proxy resolves
    # the host, not us); .netrc credentials have no business here either.
    session.trust_env = False
    session.verify = settings.ca_bundle or True  # never unverified TLS
    session.headers.update(_HEADERS)
    for prefix, https in (("http://", False), ("https://", True)):
        session.mount(prefix, GuardedAdapter(https=https, allow_hosts=settings.allow_hosts, deadline=deadline))
    return session


def _follow_redirects(
    session: requests.Session, url: str, settings: FetchSettings, deadline: Deadline
) -> requests.Response:
    """Follow redirects ourselves so every hop passes `check_url` and the adapter."""
    history: list[requests.Response] = []
    for _hop in range(settings.max_redirects + 1):
        response = session.get(
            url,
            stream=True,
            allow_redirects=False,
            # The deadline is the real bound; these just fail fast on dead hosts.
            timeout=(min(settings.connect_timeout, deadline.remaining()) or 0.001, deadline.remaining() or 0.001),
        )
        target = session.get_redirect_target(response)
        if target is None:
            if response.status_code >= 400:
                response.close()
                raise PageUnreadable(f"the site answered HTTP {_status_text(response.status_code)}.")
            response.history = history
            return response
        response.close()
        history.append(response)
        url = check_url(urljoin(response.url, target))
    raise PageUnreadable(f"the page redirected more than {settings.max_redirects} times.")


def _status_text(code: int) -> str:
    # Our own wording: the server's reason phrase is free text we would show unfenced.
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _content_type(response: requests.Response) -> tuple[str, str | None]:
    header = response.headers.get("Content-Type", "")
    message = Message()
    message["Content-Type"] = header or "application/octet-stream"
    media_type = message.get_content_type() if header else ""
    if media_type and media_type not in READABLE_TYPES:
        what = _DESCRIBED_TYPES.get(media_type) or (
            f"{media_type.split('/')[0]} data ({media_type})" if "/" in media_type else media_type
        )
        raise PageUnreadable(f"it is {what}; only HTML and plain-text pages can be read. Try another result.")
    return media_type, message.get_content_charset()


def _read_capped(response: requests.Response, max_bytes: int) -> tuple[bytes, bool]:
    """Read at most `max_bytes` decoded bytes, chunk by chunk.

    `read1` returns what has arrived instead of waiting for a full chunk, and
    with a size it also bounds how much compressed data is inflated per call.
    Time is bounded by the Deadline: it shuts the socket, which ends the loop.
    """
    raw = response.raw
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        chunk = raw.read1(min(_CHUNK, max_bytes + 1 - total), decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    body = b"".join(chunks)
    return body[:max_bytes], len(body) > max_bytes


def _describe_network_error(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "the site's secure connection (TLS certificate) could not be verified."
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "the site did not accept a connection in time; try another result."
    if isinstance(exc, requests.exceptions.InvalidURL):
        return "that is not a valid URL."
    if isinstance(exc, requests.exceptions.ConnectionError) and "resolve" in str(exc).lower():
        return "the site's name could not be found (DNS); check the URL or try another result."
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "the connection to the site failed; try another result."
    logger.info("page fetch failed: %s", type(exc).__name__)
    return "the page could not be downloaded; try another result."
