"""Text for Telegram: HTML escaping, agent text → Telegram HTML, splitting at 4096 UTF-16 units, "3 h ago".

Telegram's HTML parse mode accepts a small tag set (``b i u s code pre a blockquote tg-spoiler`` and a few
aliases) and the entities ``&lt; &gt; &amp; &quot;``; everything the bot shows is built from escaped text
plus those tags, so nothing a user, a registry or an agent wrote can inject markup. A message holds at
most 4096 UTF-16 code units (Bot API ``sendMessage``); :func:`split_html` cuts longer text on paragraph, then
line, then word boundaries and closes/reopens open tags at every cut so each part is valid on its own.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

#: Telegram's limit for one message's text, in UTF-16 code units (Bot API ``sendMessage.text``: "1-4096
#: characters after entities parsing"; clients count UTF-16, so an emoji outside the BMP counts 2).
MESSAGE_LIMIT_CHARS = 4096

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>")
_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#[0-9]+|#x[0-9a-fA-F]+);")


def esc(text: object) -> str:
    """Escape ``text`` for Telegram HTML (``<``, ``>``, ``&``); quotes are left readable."""
    return html.escape(str(text), quote=False)


def esc_attr(text: object) -> str:
    """Escape ``text`` for an HTML attribute value (also ``"``)."""
    return html.escape(str(text), quote=True)


def shorten(text: str, limit_chars: int) -> str:
    """``text`` on one line, cut to ``limit_chars`` characters with an ellipsis when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit_chars else flat[: max(limit_chars - 1, 0)].rstrip() + "…"


def agent_text_to_html(text: str) -> str:
    """Turn an agent's Markdown reply into Telegram HTML (:func:`kiroclaw.bot.markdown.markdown_to_html`).

    Headings, lists, emphasis, links, inline code, code blocks with their language, block quotes and
    tables (as preformatted text) become Telegram's tags; everything else is escaped text. A half-streamed
    reply is valid HTML too.
    """
    from .markdown import markdown_to_html

    return markdown_to_html(text)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units: how Telegram counts a message's 4096 (characters outside
    the Basic Multilingual Plane, most emoji, count 2)."""
    return len(text.encode("utf-16-le")) // 2


def _chars_within(text: str, budget_units: int) -> int:
    """How many leading characters of ``text`` fit in ``budget_units`` UTF-16 code units."""
    if len(text) * 2 <= budget_units or text.isascii():
        return min(len(text), budget_units)
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget_units:
            return index
    return len(text)


#: tags inside which white space is content (kept exactly at a cut).
_VERBATIM = frozenset({"pre", "code"})


def split_html(text: str, limit_chars: int = MESSAGE_LIMIT_CHARS) -> list[str]:
    """Split Telegram HTML into parts of at most ``limit_chars`` UTF-16 code units each (Telegram's unit;
    markup included, so the visible text is shorter still).

    Cuts prefer a blank line, then a line break, then a space, and never fall inside a tag or an entity.
    Tags open at a cut are closed at the end of the part and reopened (with their attributes) at the start
    of the next. White space at a cut is dropped, except inside ``<pre>``/``<code>``, where only the one
    separator cut at is dropped (indentation of the next line is kept); empty parts are left out.

    :param text: valid Telegram HTML (balanced tags), e.g. from :func:`agent_text_to_html`.
    :returns: the parts in order; ``[]`` for blank text.
    """
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # (tag name, full opening tag) open at the current position
    rest = text
    while rest.strip():
        prefix = "".join(opening for _, opening in stack)
        if utf16_len(prefix) + utf16_len(rest) <= limit_chars:
            if _visible(rest).strip():
                parts.append(prefix + rest)
            break
        budget = limit_chars - utf16_len(prefix)
        while True:
            cut, separator = _cut_point(rest, _chars_within(rest, max(budget, 1)))
            chunk = rest[:cut]
            after = _stack_after(stack, chunk)
            verbatim = any(name in _VERBATIM for name, _ in after)
            # inside pre/code white space is content: drop only the one separator character cut at
            body = (chunk[:-1] if separator else chunk) if verbatim else chunk.rstrip()
            closing = "".join(f"</{name}>" for name, _ in reversed(after))
            if utf16_len(prefix) + utf16_len(body) + utf16_len(closing) <= limit_chars or budget <= 16:
                break
            budget -= utf16_len(closing)
        if _visible(body).strip():
            parts.append(prefix + body + closing)
        stack = after
        rest = rest[cut:] if verbatim else rest[cut:].lstrip(" \n")
    return parts


def _visible(fragment: str) -> str:
    return html.unescape(_TAG.sub("", fragment))


def _cut_point(text: str, budget: int) -> tuple[int, bool]:
    """Where to cut ``text`` so the first part is ≤ ``budget`` characters, and whether the cut follows a
    separator: after a paragraph break, a line break or a space if one is in the second half of the
    window, else at the budget (moved back to before any tag or entity it would split)."""
    window = text[:budget]
    for separator in ("\n\n", "\n", " "):
        index = window.rfind(separator)
        if index >= budget // 2 and not _inside_markup(text, index):
            return index + len(separator), True
    cut = budget
    # never cut inside "<...>" or "&...;"
    last_open = window.rfind("<")
    if last_open > window.rfind(">"):
        cut = last_open
    amp = window.rfind("&")
    if amp > window.rfind(";") and amp < cut and _ENTITY.match(text, amp):
        cut = amp
    return max(cut, 1), False


def _inside_markup(text: str, index: int) -> bool:
    before = text[:index]
    return before.rfind("<") > before.rfind(">")


def _stack_after(stack: list[tuple[str, str]], chunk: str) -> list[tuple[str, str]]:
    result = list(stack)
    for match in _TAG.finditer(chunk):
        closing, name = match.group(1), match.group(2).lower()
        if closing:
            for i in range(len(result) - 1, -1, -1):
                if result[i][0] == name:
                    del result[i]
                    break
        else:
            result.append((name, match.group(0)))
    return result


def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago ``moment`` was, compactly: ``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``.

    Naive datetimes are taken as UTC. Future moments (clock skew) read ``just now``.
    """
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h ago"
    days = hours // 24
    if days < 60:
        return "1 day ago" if days == 1 else f"{days} days ago"
    return f"on {moment:%Y-%m-%d}"
