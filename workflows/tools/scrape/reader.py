"""`scrape_website`: a URL in, the page's readable text (or a reason) out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from workflows.tools import env as envvars
from workflows.tools.outcomes import PAGE_UNREADABLE
from workflows.tools.scrape.errors import PageUnreadable
from workflows.tools.scrape.extract import body_of, extract_markdown, has_readable_text, plain_text
from workflows.tools.scrape.fetch import FetchedPage, FetchSettings, fetch_page
from workflows.tools.scrape.url_policy import parse_allow_hosts
from workflows.tools.untrusted import fence, neutralise

logger = logging.getLogger(__name__)

DEADLINE_VARIABLE = "SCRAPE_DEADLINE_SECONDS"
ALLOW_HOSTS_VARIABLE = "SCRAPE_ALLOW_HOSTS"
CA_BUNDLE_VARIABLE = "SCRAPE_CA_BUNDLE"
_NO_TEXT = (
    "no readable text on this page (it may need JavaScript, or show only a cookie or "
    "login wall); try another result."
)


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    fetch: FetchSettings = field(default_factory=FetchSettings)
    max_chars: int = 12_000  # of page text handed to the LLM

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReaderSettings:
        return cls(
            fetch=FetchSettings(
                deadline_seconds=envvars.positive_float(env, DEADLINE_VARIABLE, FetchSettings().deadline_seconds),
                allow_hosts=parse_allow_hosts(env.get(ALLOW_HOSTS_VARIABLE, "")),
                ca_bundle=envvars.existing_file(env, CA_BUNDLE_VARIABLE),
            )
        )


class PageReader:
    """Blocking and thread-safe: every call has its own session and deadline."""

    def __init__(self, settings: ReaderSettings | None = None) -> None:
        self.settings = settings or ReaderSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PageReader:
        return cls(ReaderSettings.from_env(env))

    def read(self, url: str) -> str:
        """What the LLM sees for `url`; never raises for a bad page."""
        try:
            page = fetch_page(url, self.settings.fetch)
            return self._render(url.strip(), page, self._text_of(page))
        except PageUnreadable as failure:
            return f"{PAGE_UNREADABLE} {failure.reason}"
        except Exception:
            logger.exception("unexpected error while reading a page")
            return f"{PAGE_UNREADABLE} an unexpected error occurred while reading it; try another result."

    def _text_of(self, page: FetchedPage) -> str:
        if page.media_type == "text/plain":
            text = plain_text(page.body, page.charset)
            body = text
        else:
            if _looks_binary(page.body):  # no Content-Type, and not text
                raise PageUnreadable("it is not an HTML or plain-text page. Try another result.")
            text = extract_markdown(page.body, page.charset, page.url) or ""
            body = body_of(text)
        if not has_readable_text(body):
            raise PageUnreadable(_NO_TEXT)
        return text

    def _render(self, requested: str, page: FetchedPage, text: str) -> str:
        limit = self.settings.max_chars
        body = text if len(text) <= limit else _cut(text, limit)
        # A redirect target is chosen by the server, so it goes inside the fence.
        shown = f"(Redirected to {page.url})\n{body}" if page.redirected else body
        lines = [f"Page: {neutralise(requested)}", fence(shown)]
        if len(body) < len(text):
            lines.append(
                f"[Truncated: showing the first {len(body):,} of {len(text):,} characters of this page's text.]"
            )
        if page.cut_at_cap:
            mb = self.settings.fetch.max_bytes / (1024 * 1024)
            lines.append(f"[Note: the page is larger than {mb:g} MB; only its first {mb:g} MB were read.]")
        return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    """Cut at a paragraph or line break near `limit` rather than mid-sentence."""
    head = text[:limit]
    for sep in ("\n\n", "\n"):
        at = head.rfind(sep)
        if at >= limit * 0.8:
            return head[:at].rstrip()
    return head.rstrip()


def _looks_binary(body: bytes) -> bool:
    start = body[:1024]
    return start.startswith(b"%PDF") or b"\x00" in start
