"""`scrape_website`: an SSRF-safe, bounded page reader."""

from workflows.tools.scrape.fetch import FetchSettings
from workflows.tools.scrape.reader import PageReader, ReaderSettings

__all__ = ["FetchSettings", "PageReader", "ReaderSettings"]
