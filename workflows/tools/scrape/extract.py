"""From page bytes to the readable text of the page, as Markdown.

trafilatura finds the main content and drops navigation, footers, comments
and most banners. Before it runs we remove what a reader would never see:
hidden elements are the favourite hiding place for text aimed at LLMs
("ignore your instructions and...").
"""

from __future__ import annotations

import codecs
import re

import trafilatura
from lxml.html import HtmlElement

# Elements never rendered, whatever their attributes.
_NEVER_RENDERED = frozenset({"template", "noscript", "script", "style"})
# Utility classes that mean "not displayed" in common CSS frameworks
# (Bootstrap d-none, Tailwind/Bootstrap sr-only, WordPress screen-reader-text).
_HIDING_CLASSES = frozenset({"d-none", "sr-only", "visually-hidden", "screen-reader-text", "hidden"})
_ZERO_SIZE = re.compile(r"0+(?:\.0+)?(?:px|pt|em|rem|ex|ch|%|vw|vh)?")
# Anti-flicker snippets hide <html>/<body> until scripts run; real browsers
# show the page, so never prune those two.
_KEEP_ALWAYS = frozenset({"html", "body"})

#: Extracted text shorter than this (excluding metadata) is "no readable text".
MIN_TEXT_CHARS = 40
# A consent or cookie wall is all trafilatura finds on some pages. It is short
# and talks about little else than these.
_CONSENT_WALL_MAX_CHARS = 1500
_CONSENT_WORDS = (
    "cookie", "consent", "accept all", "reject all", "privacy", "our partners", "personalised", "personalized",
)


def extract_markdown(body: bytes, charset: str | None, url: str) -> str | None:
    """The page's main text as Markdown with a metadata header, or None."""
    tree = trafilatura.load_html(_decoded(body, charset))
    if tree is None:
        return None
    prune_hidden(tree)
    return trafilatura.extract(
        tree,
        url=url,
        output_format="markdown",
        include_comments=False,  # the default is True
        include_links=False,
        include_images=False,
        with_metadata=True,
    )


def prune_hidden(tree: HtmlElement) -> None:
    """Remove elements a browser would not show (tail text is kept)."""
    doomed = [el for el in tree.iter() if isinstance(el.tag, str) and _is_hidden(el)]
    for el in doomed:
        el.drop_tree()


def _is_hidden(el: HtmlElement) -> bool:
    tag = el.tag.lower()
    if tag in _KEEP_ALWAYS:
        return False
    if tag in _NEVER_RENDERED:
        return True
    if tag == "input" and (el.get("type") or "").lower() == "hidden":
        return True
    hidden = el.get("hidden")
    if hidden is not None and hidden.lower() != "until-found":  # until-found is findable, so visible
        return True
    if (el.get("aria-hidden") or "").strip().lower() == "true":
        return True
    classes = (el.get("class") or "").split()
    # Tailwind "hidden md:block" is shown on larger screens: not hidden.
    if _HIDING_CLASSES.intersection(classes) and not any(":" in c for c in classes):
        return True
    style = el.get("style")
    return bool(style) and _style_hides(style)


def _style_hides(style: str) -> bool:
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        name = name.strip().lower()
        value = value.lower().replace("!important", "").strip()
        if name == "display" and value == "none":
            return True
        if name == "visibility" and value in ("hidden", "collapse"):
            return True
        if name == "font-size" and _ZERO_SIZE.fullmatch(value):
            return True
        if name == "opacity" and _is_zero_number(value):
            return True
    return False


def _is_zero_number(value: str) -> bool:
    try:
        return float(value.rstrip("%")) == 0
    except ValueError:
        return False


def _decoded(body: bytes, charset: str | None) -> bytes | str:
    """Decode with the server's charset when it names a real one.

    Otherwise hand trafilatura the bytes: it reads <meta charset> and guesses.
    """
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            return body
        return body.decode(charset, errors="replace")
    return body


def plain_text(body: bytes, charset: str | None) -> str:
    """A text/plain page, decoded (UTF-8 unless the server says otherwise)."""
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = None
    text = body.decode(charset or "utf-8", errors="replace")
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def body_of(markdown: str) -> str:
    """The text after trafilatura's `---` metadata block."""
    if markdown.startswith("---\n"):
        end = markdown.find("\n---", 4)
        if end != -1:
            markdown = markdown[end + 4 :]
    return markdown.strip()


def has_readable_text(text: str) -> bool:
    """False for (nearly) empty text and for pages that are only a consent wall."""
    if len(text) < MIN_TEXT_CHARS:
        return False
    if len(text) <= _CONSENT_WALL_MAX_CHARS:
        lowered = text.lower()
        return sum(word in lowered for word in _CONSENT_WORDS) < 3
    return True
