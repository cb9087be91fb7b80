"""Which URLs we are willing to fetch at all, before any network traffic.

Address checks (private, loopback, metadata...) happen later, on the resolved
address, in `guarded_adapter`; here we only refuse what no address check can
make safe: other schemes, credentials in the URL, URLs without a host.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from workflows.tools.scrape.errors import PageUnreadable

ALLOWED_SCHEMES = ("http", "https")


def check_url(url: str) -> str:
    """The URL, stripped, if it is an http(s) URL we may try; else PageUnreadable."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a malformed port
    except ValueError:
        raise PageUnreadable("that is not a valid URL.") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        shown = f"{parts.scheme}:" if parts.scheme else "a URL without http:// or https://"
        raise PageUnreadable(f"only http and https pages can be read, not {shown}")
    # "http://user:pw@host/" leaks credentials and is a classic way to disguise
    # the real host ("http://trusted.com@evil.example/"); no real page needs it.
    if "@" in parts.netloc:
        raise PageUnreadable("URLs with a user name or password in them are not allowed.")
    if not parts.hostname:
        raise PageUnreadable("that URL has no host name.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise PageUnreadable("that URL contains spaces or control characters.")
    return url


def normalise_host(host: str | None) -> str:
    """Lower case, no brackets or trailing dot, canonical IP spelling."""
    host = (host or "").strip().lower().strip("[]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_allow_hosts(value: str) -> frozenset[str]:
    """SCRAPE_ALLOW_HOSTS: comma-separated host names or IP addresses."""
    return frozenset(normalise_host(h) for h in value.split(",") if h.strip())
