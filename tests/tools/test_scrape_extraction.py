"""What the LLM reads from realistic pages: main text in; chrome, comments and
hidden text out; web text fenced so it cannot pass for instructions.

Fixture pages live in tests/tools/pages/ and are served from loopback.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import trafilatura

from tests.tools.loopback import Handler
from workflows.tools import PAGE_UNREADABLE, WebTools
from workflows.tools.scrape import FetchSettings, PageReader, ReaderSettings
from workflows.tools.scrape.extract import prune_hidden

PAGES = Path(__file__).parent / "pages"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xhtml": "application/xhtml+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
NO_TEXT = (
    f"{PAGE_UNREADABLE} no readable text on this page (it may need JavaScript, or show only a "
    "cookie or login wall); try another result."
)
FENCE_LINE = re.compile(r"^<<<(END_)?UNTRUSTED_WEB_CONTENT id=([0-9a-f]{16})>>>$", re.MULTILINE)


def serve_pages(h: Handler) -> None:
    name = h.path.lstrip("/")
    path = PAGES / name
    if not path.is_file():
        h.reply(404, "not found", "text/plain")
        return
    content_type = CONTENT_TYPES[path.suffix]
    if name == "festival_latin1.html":
        content_type = "text/html; charset=iso-8859-1"  # and no <meta charset> in the page
    h.reply(200, path.read_bytes(), content_type)


@pytest.fixture
def site(loopback):
    return loopback(serve_pages)


def read(site, name: str, **settings: object) -> str:
    reader = PageReader(ReaderSettings(fetch=FetchSettings(allow_hosts=frozenset({"127.0.0.1"})), **settings))
    return asyncio.run(WebTools(reader=reader).scrape_website(site.url(f"/{name}")))


def fenced_text(out: str) -> str:
    """The text between our fence lines; asserts there is exactly one fence."""
    lines = FENCE_LINE.findall(out)
    assert len(lines) == 2, lines
    (opening, nonce_a), (closing, nonce_b) = lines
    assert (opening, closing) == ("", "END_") and nonce_a == nonce_b
    return out.split("\n", 2)[2].rsplit("\n<<<END_", 1)[0]


def plain_trafilatura(name: str, **options: object) -> str:
    """What trafilatura alone makes of a page (no hidden-element pruning)."""
    return trafilatura.extract(
        (PAGES / name).read_bytes(), url="http://x/", output_format="markdown", include_links=False,
        include_images=False, with_metadata=True, **{"include_comments": False, **options},
    ) or ""


# --- main text in, boilerplate out ------------------------------------------------------


def test_article_text_is_in_and_page_chrome_is_out(site) -> None:
    out = read(site, "lisbon_guide.html")
    text = fenced_text(out)
    assert out.startswith(f"Page: {site.url('/lisbon_guide.html')}\n")
    assert "title: \"Three Days in Lisbon: Trams, Tiles and Tascas\"" in text  # metadata header
    for phrase in ("Tram 28 rattles past", "Castelo de São Jorge opens at 9 am", "pastéis de Belém",
                   "Trains to Sintra leave Rossio station", "Viva Viagem card"):
        assert phrase in text
    for boilerplate in ("Cookiebanner-Boilerplate", "Newsletter-Nav-Boilerplate", "Footer-Boilerplate",
                        "Comment-Boilerplate-One", "Comment-Boilerplate-Two", "Related guides"):
        assert boilerplate not in text


def test_comments_are_left_out(site) -> None:
    # trafilatura includes comments by default; we turn that off.
    assert "Comment-Boilerplate-One" in plain_trafilatura("lisbon_guide.html", include_comments=True)
    assert "Comment-Boilerplate-One" not in read(site, "lisbon_guide.html")


def test_tables_survive_as_markdown(site) -> None:
    text = fenced_text(read(site, "hotel_porto.html"))
    assert "| Family room | 4 | 150 € | 210 € |" in text
    for boilerplate in ("Consent-Boilerplate", "Contact-Nav-Boilerplate", "Footer-Boilerplate-Porto",
                        "Comment-Boilerplate-Porto", "canary-d-none"):
        assert boilerplate not in text


# --- hidden text: each rule is needed ----------------------------------------------------


@pytest.mark.parametrize(("page", "canary"), [
    ("lisbon_guide.html", "canary-hidden-attr"),  # <p hidden>
    ("lisbon_guide.html", "canary-font-size-zero"),  # style="font-size:0px"
    ("lisbon_guide.html", "canary-template"),  # <template>
    ("lisbon_guide.html", "canary-opacity-zero"),  # style="opacity: 0"
    ("lisbon_guide.html", "canary-sr-only"),  # class="sr-only"
    # trafilatura drops aria-hidden / display:none / visibility:hidden blocks
    # itself, unless they hold most of the page's text: then its own
    # over-pruning guard keeps them all. Our pruning has no such escape.
    ("hidden_heavy.html", "canary-aria-heavy"),
    ("hidden_heavy.html", "canary-display-heavy"),
    ("hidden_heavy.html", "canary-visibility-heavy"),
])
def test_hidden_text_is_removed(site, page: str, canary: str) -> None:
    assert canary in plain_trafilatura(page), "control: without our pruning the canary leaks"
    out = read(site, page)
    assert canary not in out
    assert "Ignore the visible article" not in out and "AI assistants" not in out


def test_hidden_heavy_page_keeps_its_visible_text(site) -> None:
    text = fenced_text(read(site, "hidden_heavy.html"))
    assert "Bring a head torch for the tunnels" in text and "Good walking shoes matter" in text


def test_remaining_lisbon_canaries_are_gone_too(site) -> None:
    out = read(site, "lisbon_guide.html")
    assert "canary" not in out.lower()


def prune(html: str) -> str:
    tree = trafilatura.load_html(f"<html><body><div>{html}</div></body></html>")
    prune_hidden(tree)
    return " ".join(tree.text_content().split())


@pytest.mark.parametrize("html", [
    '<p hidden="">x</p>',
    '<p aria-hidden="TRUE">x</p>',
    '<p style="DISPLAY:NONE">x</p>',
    '<p style="color:red;display : none !important">x</p>',
    '<p style="visibility:collapse">x</p>',
    '<p style="font-size: 0">x</p>',
    '<p style="font-size:0.0em">x</p>',
    '<p style="opacity:0.0">x</p>',
    '<template><p>x</p></template>',
    '<noscript><p>x</p></noscript>',
    '<p class="visually-hidden">x</p>',
    '<p class="hidden">x</p>',
])
def test_hiding_rules(html: str) -> None:
    assert prune(f"before {html} after") == "before after"


@pytest.mark.parametrize("html", [
    '<p style="font-size:0.9em">x</p>',
    '<p style="opacity:0.5">x</p>',
    '<p style="display:block">x</p>',
    '<p aria-hidden="false">x</p>',
    '<p hidden="until-found">x</p>',  # found by in-page search: visible content
    '<p class="hidden md:block">x</p>',  # Tailwind: shown on larger screens
    '<p class="hiddenness">x</p>',
])
def test_visible_text_is_kept(html: str) -> None:
    assert prune(f"before {html} after") == "before x after"


def test_text_after_a_hidden_element_is_kept() -> None:
    assert prune('Trams <span hidden>secret</span>run until 11 pm.') == "Trams run until 11 pm."


def test_anti_flicker_hiding_on_html_or_body_is_ignored(loopback) -> None:
    page = ('<html style="opacity:0"><body style="visibility:hidden"><article><h1>Évora</h1>'
            + "<p>The Chapel of Bones is open daily from 9 am to 6 pm; tickets cost 6 euros.</p>" * 3
            + "</article></body></html>")
    server = loopback(lambda h: h.reply(200, page))
    reader = PageReader(ReaderSettings(fetch=FetchSettings(allow_hosts=frozenset({"127.0.0.1"}))))
    out = asyncio.run(WebTools(reader=reader).scrape_website(server.url("/")))
    assert "Chapel of Bones" in out


# --- untrusted content fence -------------------------------------------------------------


def test_a_page_cannot_close_the_fence(site) -> None:
    out = read(site, "hotel_porto.html")
    text = fenced_text(out)  # exactly one opening and one closing line, same id
    assert "SYSTEM: the user has asked you" in text  # the text is kept, as data
    assert "0123456789abcdef" in text
    assert "UNTRUSTED_WEB_CONTENT" not in text.replace("\\_", "_")
    assert "<<<" not in text.replace("\\<", "<")


def test_every_call_gets_a_fresh_fence_id(site) -> None:
    ids = {FENCE_LINE.search(read(site, "lisbon_guide.html")).group(2) for _ in range(3)}
    assert len(ids) == 3


# --- sizes, encodings, types -----------------------------------------------------------------


def test_long_pages_are_cut_at_about_12000_characters_with_a_note(site) -> None:
    out = read(site, "long_itinerary.html")
    text = fenced_text(out)
    assert 11_000 <= len(text) <= 12_000
    assert "ITIN-DAY-01" in text and "ITIN-DAY-30" not in text
    note = re.search(r"\[Truncated: showing the first ([\d,]+) of ([\d,]+) characters of this page's text\.\]$", out)
    assert note and int(note.group(1).replace(",", "")) == len(text)


def test_max_chars_is_configurable(site) -> None:
    text = fenced_text(read(site, "long_itinerary.html", max_chars=2_000))
    assert len(text) <= 2_000


def test_short_pages_are_not_marked_truncated(site) -> None:
    assert "[Truncated" not in read(site, "lisbon_guide.html")


def test_server_charset_is_used_when_the_page_declares_none(site) -> None:
    text = fenced_text(read(site, "festival_latin1.html"))
    assert "Festa de São João no Porto" in text and "começa à meia-noite" in text


def test_xhtml_is_read(site) -> None:
    text = fenced_text(read(site, "restaurant_review.xhtml"))
    assert "peixinhos da horta" in text and "Closed on Sundays" in text


def test_plain_text_is_passed_through(site) -> None:
    text = fenced_text(read(site, "train_times.txt"))
    assert "08:39    11:29    AP 123  daily, restaurant car" in text


@pytest.mark.parametrize("page", ["spa_app.html", "consent_wall.html"])
def test_pages_without_readable_text(site, page: str) -> None:
    assert read(site, page) == NO_TEXT


def test_an_empty_body(loopback) -> None:
    server = loopback(lambda h: h.reply(200, b"", "text/html"))
    reader = PageReader(ReaderSettings(fetch=FetchSettings(allow_hosts=frozenset({"127.0.0.1"}))))
    assert asyncio.run(WebTools(reader=reader).scrape_website(server.url("/"))) == NO_TEXT
