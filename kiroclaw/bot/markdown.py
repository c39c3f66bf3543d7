"""Agent Markdown → Telegram HTML: markdown-it-py parses (CommonMark + GFM tables and strikethrough), this
module renders its syntax tree with the tags Telegram's HTML parse mode knows.

=====================  ==============================================================
Markdown               Telegram HTML
=====================  ==============================================================
``# Heading``          ``<b>Heading</b>`` (every level; Telegram has no headings)
``**b**`` ``*i*``      ``<b>`` ``<i>``; ``~~s~~`` → ``<s>``
```` `code` ````       ``<code>``
fenced/indented code   ``<pre><code class="language-python">`` (``<pre>`` without a language)
``> quote``            ``<blockquote>`` (a quote inside a quote is flattened: Telegram cannot nest them)
lists                  ``• item`` / ``1. item``, nested lists aligned under their item's text
tables                 aligned columns as preformatted text (``<pre>``)
``[text](url)``        ``<a href>`` for http(s), tg and mailto links; other schemes stay text
``---``                a line of ``—``
raw HTML               shown as text (markdown-it-py's ``html`` option is off): "use a <div>" keeps "<div>"
=====================  ==============================================================

Everything is escaped, so the output is always valid Telegram HTML, also for a half-streamed reply (an
unclosed code fence runs to the end; an unclosed ``**`` stays literal). Splitting at 4,096 characters is
:func:`kiroclaw.bot.format.split_html`'s job, which never cuts inside a tag.

Why this and not a converter package (compared in docs/bot.md): ``telegramify-markdown`` drops raw HTML
from the text ("Wrap it in a <div>" lost "<div>") and turns ``$…$`` into code; ``chatgpt-md-converter``
leaves tables as raw pipes and works by regular expressions rather than a parser.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it.tree import SyntaxTreeNode

#: link schemes Telegram accepts in ``<a href>``; others are left as text.
LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:")
#: longest link target kept as a link, in characters; a longer one stays text (Telegram links plain URLs
#: itself), so one tag always fits in a message part.
LINK_MAX_CHARS = 2048
#: widest table rendered as columns, in characters; wider tables keep one ``a | b`` line per row.
TABLE_MAX_WIDTH = 120


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def markdown_to_html(text: str) -> str:
    """Render Markdown ``text`` as Telegram HTML (see the module docstring for the mapping).

    :returns: balanced Telegram HTML with every ``<``, ``>`` and ``&`` of the text escaped; ``""`` for blank text.
    """
    from markdown_it.tree import SyntaxTreeNode

    root = SyntaxTreeNode(_parser().parse(text))
    return _blocks(root.children, quote=False, depth=0).strip("\n")


def _blocks(nodes: list[SyntaxTreeNode], *, quote: bool, depth: int, sep: str = "\n\n") -> str:
    return sep.join(part for part in (_block(node, quote=quote, depth=depth) for node in nodes) if part != "")


def _block(node: SyntaxTreeNode, *, quote: bool, depth: int) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline_of(node)
    if kind == "heading":
        return f"<b>{_inline_of(node, bold=True)}</b>"
    if kind in ("fence", "code_block"):
        code = _esc(node.content.rstrip("\n"))
        if not code.strip():
            return ""  # an empty code block shows nothing (Telegram refuses empty entities)
        words = (node.info or "").split() if kind == "fence" else []
        language = words[0] if words else ""
        if language and language.replace("-", "").replace("+", "").replace("_", "").replace("#", "").isalnum():
            return f'<pre><code class="language-{_esc(language)}">{code}</code></pre>'
        return f"<pre>{code}</pre>"
    if kind == "blockquote":
        inner = _blocks(node.children, quote=True, depth=depth, sep="\n")
        return inner if quote or not inner.strip() else f"<blockquote>{inner}</blockquote>"
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, quote=quote, depth=depth)
    if kind == "hr":
        return "———"
    if kind == "table":
        return _table(node)
    if kind == "html_block":  # only with the html option on; shown as text
        return _esc(node.content.rstrip("\n"))
    return _blocks(node.children, quote=quote, depth=depth) if node.children else _esc(node.content)


def _list(node: SyntaxTreeNode, *, quote: bool, depth: int) -> str:
    """``• item`` / ``1. item`` lines; an item's further lines (and nested lists) align under its text."""
    start = int(node.attrs.get("start", 1) or 1) if node.type == "ordered_list" else 0
    lines: list[str] = []
    for index, item in enumerate(node.children):
        marker = f"{start + index}. " if node.type == "ordered_list" else "• "
        body = _blocks(item.children, quote=quote, depth=depth + 1, sep="\n")
        first, _, rest = body.partition("\n")
        lines.append(f"{marker}{first}")
        if rest:
            lines.extend(" " * len(marker) + line if line else line for line in rest.split("\n"))
    return "\n".join(lines)


def _table(node: SyntaxTreeNode) -> str:
    rows: list[list[str]] = []
    for section in node.children:  # thead, tbody
        for row in section.children:
            rows.append([_plain(cell) for cell in row.children])
    if not rows:
        return ""
    columns = max(len(r) for r in rows)
    rows = [r + [""] * (columns - len(r)) for r in rows]
    widths = [max(len(r[c]) for r in rows) for c in range(columns)]
    if sum(widths) + 3 * (columns - 1) > TABLE_MAX_WIDTH:
        lines = [" | ".join(r) for r in rows]
    else:
        lines = [" | ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)).rstrip() for r in rows]
        lines.insert(1, "-+-".join("-" * w for w in widths))
    return "<pre>" + _esc("\n".join(lines)) + "</pre>"


def _plain(node: SyntaxTreeNode) -> str:
    """The visible text of a node, without formatting (table cells)."""
    if node.type in ("text", "code_inline", "html_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(_plain(child) for child in node.children)


def _inline_of(node: SyntaxTreeNode, *, bold: bool = False) -> str:
    inline = node.children[0] if node.children else None
    return _inline(inline.children, bold=bold) if inline is not None else ""


def _inline(nodes: list[SyntaxTreeNode], *, bold: bool = False, link: bool = False) -> str:
    out: list[str] = []
    for node in nodes:
        kind = node.type
        if kind in ("text", "html_inline"):
            out.append(_esc(node.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "code_inline":
            out.append(f"<code>{_esc(node.content)}</code>")
        elif kind == "strong":
            inner = _inline(node.children, bold=True, link=link)
            out.append(inner if bold else f"<b>{inner}</b>")
        elif kind == "em":
            out.append(f"<i>{_inline(node.children, bold=bold, link=link)}</i>")
        elif kind == "s":
            out.append(f"<s>{_inline(node.children, bold=bold, link=link)}</s>")
        elif kind in ("link", "image"):
            href = str(node.attrs.get("href" if kind == "link" else "src", ""))
            inner = _inline(node.children, bold=bold, link=True) or _esc(href)
            if kind == "image" and not node.children:
                inner = "image"
            if link or not href.lower().startswith(LINK_SCHEMES) or len(href) > LINK_MAX_CHARS:
                out.append(inner)
            else:
                out.append(f'<a href="{html.escape(href, quote=True)}">{inner}</a>')
        else:
            out.append(_inline(node.children, bold=bold, link=link) if node.children else _esc(node.content))
    return "".join(out)
