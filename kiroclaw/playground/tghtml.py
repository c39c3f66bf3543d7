"""What a person reads for Telegram HTML (``parse_mode=HTML``), checked as strictly as Telegram does.

Telegram accepts the tags ``b strong i em u ins s strike del tg-spoiler span a code pre blockquote
tg-emoji tg-time`` and the entities ``&lt; &gt; &amp; &quot;``; anything else is refused with "can't parse
entities". Lengths are counted in UTF-16 code units, as Telegram does.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "span", "a", "code", "pre",
    "blockquote", "tg-emoji", "tg-time",
}  # fmt: skip


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts text (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


class HTMLError(ValueError):
    """Text that Telegram would refuse with "can't parse entities"."""


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise HTMLError(f'Unsupported start tag "{tag}"')
        if tag == "a" and not dict(attrs).get("href"):
            raise HTMLError("a tag without href")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise HTMLError(f'Unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise HTMLError("unescaped < or > in text")
        if "&" in data:
            raise HTMLError("unescaped & in text")
        self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        mapping = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
        if name not in mapping:
            raise HTMLError(f'Unsupported HTML entity "&{name};"')
        self.out.append(mapping[name])

    def handle_charref(self, name: str) -> None:
        self.out.append(chr(int(name[1:], 16) if name.lower().startswith("x") else int(name)))


def render_html(text: str) -> str:
    """What a person reads for ``text`` sent with ``parse_mode=HTML``.

    :raises HTMLError: markup Telegram would refuse (unknown tags, unbalanced tags, raw ``<`` or ``&``).
    """
    parser = _Renderer()
    parser.feed(text)
    parser.close()
    if parser.rawdata:
        raise HTMLError("unterminated tag")
    if parser.stack:
        raise HTMLError(f'Unclosed tag "{parser.stack[-1]}"')
    return "".join(parser.out)


class _WebHTML(HTMLParser):
    """Re-emits Telegram HTML for a browser page: allowed tags only, attributes only where Telegram has
    them (``a href`` with http/https/tg/mailto, ``code class="language-…"``, ``blockquote expandable``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            return
        values = dict(attrs)
        extra = ""
        href = values.get("href") or ""
        if tag == "a" and href.lower().startswith(("http://", "https://", "tg://", "mailto:")):
            extra = f' href="{html.escape(href, quote=True)}" target="_blank" rel="noopener noreferrer"'
        klass = values.get("class") or ""
        if tag == "code" and klass.startswith("language-") and klass[9:].replace("-", "").isalnum():
            extra = f' class="{klass}"'
        self.out.append(f"<{tag}{extra}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ALLOWED_TAGS:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data, quote=False))


def to_web_html(text: str) -> str:
    """Telegram HTML (already accepted by :func:`render_html`) as safe HTML for the playground's page."""
    parser = _WebHTML()
    parser.feed(text)
    parser.close()
    return "".join(parser.out)
