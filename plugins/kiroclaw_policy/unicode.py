"""Invisible characters in their Unicode context (what a byte signature cannot judge).

- **Tag characters** (U+E0000–E007F) spell hidden ASCII ("ASCII smuggling"): ``block`` anywhere, except
  a real subdivision flag — 🏴 followed by 2–6 tag letters or digits and the cancel tag U+E007F, nothing
  more (a longer run hidden behind the flag is smuggling).
- **Bidi controls** (U+202A–202E, U+2066–2069; Trojan Source, CVE-2021-42574): ``block`` in a program
  file, where they change what runs versus what a reviewer reads; ``warn`` in a file the agent reads,
  ``note`` in reference material.
- **Zero-width and other invisible characters**: a joiner between two non-ASCII letters or inside an emoji
  sequence and a bidi mark beside right-to-left text are legitimate; a byte-order mark at the start too.
  Otherwise ``warn`` in ``SKILL.md``, scripts and commands, ``note`` elsewhere (copied documentation is
  full of them).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from . import context
from .normalize import non_ascii_chars
from .rules import Verdict

__all__ = ["hidden_unicode"]

_BIDI_CONTROLS = frozenset({*range(0x202A, 0x202F), *range(0x2066, 0x206A)})
_BIDI_MARKS = frozenset({0x200E, 0x200F, 0x061C})
_ZERO_WIDTH = frozenset(
    {0x200B, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x180E, 0xFEFF, 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0}
)
_JOINERS = frozenset({0x200C, 0x200D})
_TAG_START, _TAG_END, _CANCEL_TAG = 0xE0000, 0xE007F, 0xE007F
_BLACK_FLAG = 0x1F3F4
_ANY_INVISIBLE = re.compile(
    "[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u034f"
    "\u115f\u1160\u3164\uffa0\U000e0000-\U000e007f]"
)
_FLAG_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _invisible(cp: int) -> bool:
    return (
        cp in _BIDI_CONTROLS or cp in _BIDI_MARKS or cp in _ZERO_WIDTH or cp in _JOINERS or _TAG_START <= cp <= _TAG_END
    )


def _joinable(char: str) -> bool:
    if not char or ord(char) < 128:
        return False
    return (
        unicodedata.category(char)[0] in {"L", "M", "S"}
        or ord(char) in {0xFE0F, 0x20E3}
        or (0x1F3FB <= ord(char) <= 0x1F3FF)
    )


def _is_rtl(char: str) -> bool:
    return bool(char) and unicodedata.bidirectional(char) in {"R", "AL", "AN"}


def _flag_sequence(line: str, index: int) -> int:
    """Length of a valid subdivision-flag tag run starting at ``index`` (after 🏴), else 0."""
    end = index
    while end < len(line) and _TAG_START <= ord(line[end]) < _CANCEL_TAG:
        end += 1
    letters = line[index:end]
    valid = (
        index > 0
        and ord(line[index - 1]) == _BLACK_FLAG
        and 2 <= len(letters) <= 6
        and all(chr(ord(c) - 0xE0000) in _FLAG_LETTERS for c in letters)
        and end < len(line)
        and ord(line[end]) == _CANCEL_TAG
    )
    return end - index + 1 if valid else 0


def hidden_unicode(text: str, rel: str) -> Iterator[tuple[int, str, Verdict]]:
    """``(line, detail, verdict)`` for each line holding an invisible character out of its legitimate use
    (one per line; a tag run is reported once, with the text it spells)."""
    if text.isascii() or not _ANY_INVISIBLE.search(non_ascii_chars(text)):
        return
    first = _ANY_INVISIBLE.search(text)
    if first is None:
        return
    where = context.location(rel)
    script = context.is_script(rel)
    skipped = text.count("\n", 0, first.start())  # lines before the first invisible character
    for number, line in enumerate(text[text.rfind("\n", 0, first.start()) + 1 :].split("\n"), start=skipped + 1):
        if line.isascii() or not _ANY_INVISIBLE.search(line):
            continue
        index = 0
        while index < len(line):
            cp = ord(line[index])
            if not _invisible(cp):
                index += 1
                continue
            prev = line[index - 1] if index > 0 else ""
            nxt = line[index + 1] if index + 1 < len(line) else ""
            if _TAG_START <= cp <= _TAG_END:
                skip = _flag_sequence(line, index)
                if skip:
                    index += skip
                    continue
                run = "".join(chr(ord(c) - 0xE0000) for c in line[index:] if _TAG_START <= ord(c) <= _TAG_END)
                spelled = "".join(c if c.isprintable() else "?" for c in run)[:60]
                yield number, f"tag characters spelling hidden text {spelled!r}", "block"
                break
            if cp == 0xFEFF and number == 1 and index == 0:
                index += 1
                continue
            if cp in _JOINERS and _joinable(prev) and _joinable(nxt):
                index += 1
                continue
            if cp in _BIDI_MARKS and (_is_rtl(prev) or _is_rtl(nxt)):
                index += 1
                continue
            name = unicodedata.name(chr(cp), "UNNAMED")
            verdict: Verdict
            if cp in _BIDI_CONTROLS:
                verdict = "block" if script else ("warn" if where == "run" else "note")
            else:
                verdict = "warn" if where == "run" and (script or rel.rsplit("/", 1)[-1] == "SKILL.md") else "note"
            yield number, f"U+{cp:04X} {name} at column {index + 1}", verdict
            break
