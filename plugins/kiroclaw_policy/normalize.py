"""Normalise a file's text before the signatures look at it, so that spelling a command differently does
not hide it.

What is undone (each is a published evasion of text scanners):

- invisible format characters (soft hyphen, zero-width, bidi controls, tag characters: Unicode category
  ``Cf``) are removed, then NFKC folds full-width and compatibility forms (``ｃｕｒｌ``), then Cyrillic and
  Greek look-alikes are folded to Latin (Unicode TR39 confusables, the letters that occur in practice);
- shell quoting and escapes inside words (``c''url``, ``c"u"rl``, ``\\curl``, ``cu\\rl``) and ``${IFS}``;
- simple variable indirection: ``U=https://…; curl "$U" | $SHELL`` → ``curl "https://…" | sh`` (plain
  assignments in the same file, PowerShell ``$u = '…'`` and cmd ``set U=…`` too);
- commands continued on the next line (a ``\\`` or a pipe, ``&&`` or ``||`` at the end of a line).

Line numbers are kept: a joined command stands on its first line and the lines it swallowed become empty,
so a signature's byte offset in the normalised text still maps to the line the user sees.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["CONFUSABLES", "INVISIBLE", "non_ascii_chars", "normalise"]

#: Look-alike letters folded to ASCII (Cyrillic, Greek, Armenian, Latin small capitals and the like).
CONFUSABLES = str.maketrans(
    {
        **dict.fromkeys("аɑα", "a"),
        **dict.fromkeys("АаΑ", "A"),
        **dict.fromkeys("в", "b"),
        **dict.fromkeys("ВΒ", "B"),
        **dict.fromkeys("сϲ", "c"),
        **dict.fromkeys("СϹ", "C"),
        **dict.fromkeys("ԁ", "d"),
        **dict.fromkeys("еҽ", "e"),
        **dict.fromkeys("ЕΕ", "E"),
        **dict.fromkeys("һ", "h"),
        **dict.fromkeys("НΗ", "H"),
        **dict.fromkeys("іιɩ", "i"),
        **dict.fromkeys("ІΙ", "I"),
        **dict.fromkeys("ј", "j"),
        **dict.fromkeys("ЈͿ", "J"),
        **dict.fromkeys("кκ", "k"),
        **dict.fromkeys("КΚ", "K"),
        **dict.fromkeys("ӏⅼ", "l"),
        **dict.fromkeys("МΜ", "M"),
        **dict.fromkeys("ΝՈ", "N"),
        **dict.fromkeys("оοօ", "o"),
        **dict.fromkeys("ОΟ", "O"),
        **dict.fromkeys("рρ", "p"),
        **dict.fromkeys("РΡ", "P"),
        **dict.fromkeys("ԛ", "q"),
        **dict.fromkeys("ѕ", "s"),
        **dict.fromkeys("ЅՏ", "S"),
        **dict.fromkeys("ТΤ", "T"),
        **dict.fromkeys("υս", "u"),
        **dict.fromkeys("ѵν", "v"),
        **dict.fromkeys("ԝ", "w"),
        **dict.fromkeys("хχ", "x"),
        **dict.fromkeys("ХΧ", "X"),
        **dict.fromkeys("уγ", "y"),
        **dict.fromkeys("УΥ", "Y"),
        **dict.fromkeys("ΖZ", "Z"),
    }
)

_WORD = r"[A-Za-z0-9_./:-]"
#: Quoted pieces glued to a word (``c"ur"l``, ``'c'url``): the quotes are dropped. Patterns start with the
#: quote or caret they remove (the word before it is a look-behind), so the engine skips to candidates.
_GLUED_AFTER = re.compile(rf"(['\"])(?<={_WORD}['\"])({_WORD}{{0,40}})\1")
_GLUED_BEFORE = re.compile(rf"(['\"])({_WORD}{{0,40}})\1(?={_WORD})")
#: ``\c\u\r\l``, ``\curl`` (alias bypass) and ``c^u^r^l`` (cmd.exe's escape) inside words.
_ESCAPE = re.compile(r"\\(?=[A-Za-z0-9_-])")
_CARET = re.compile(r"\^(?<=[A-Za-z]\^)(?=[A-Za-z])")
#: An empty quote pair glued to a word (``cu''rl``).
_EMPTY_QUOTES = re.compile(rf"(?:''|\"\")(?:(?<={_WORD}..)|(?={_WORD}))")
_IFS = re.compile(r"\$\{IFS\}|\$IFS\b|\$\{IFS%\?\?\}")
_WHICH = re.compile(
    r"\$\([ \t]*(?:which|command[ \t]+-v|type[ \t]+-p)[ \t]+([A-Za-z0-9_.-]+)[ \t]*\)"
    r"|`[ \t]*which[ \t]+([A-Za-z0-9_.-]+)[ \t]*`"
)
#: Lines that may continue on the next one (a fast check first).
_CONTINUED = re.compile(r"(?:\\|\||&&)[ \t]*$", re.M)
#: The lines :func:`_continues` may accept (it strips any trailing white space, ``\r`` too).
_MAY_CONTINUE = re.compile(r"(?:\\|\||&&)[^\S\n]*$", re.M)
_ASSIGN = re.compile(
    r"(?<![\w$.-])([A-Za-z_][A-Za-z0-9_]{0,40})=(?!=)"
    r"(?:\"([^\"\n$`]{1,300})\"|'([^'\n]{1,300})'|([^\s\"'`;&|$()]{1,300}))"
)
_PS_ASSIGN = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]{0,40})\s*=\s*(?:\"([^\"\n$`]{1,300})\"|'([^'\n]{1,300})')")
#: Variables whose value everybody knows.
_BUILTIN = {"SHELL": "sh", "BASH": "bash", "ZSH_NAME": "zsh"}
_MAX_VARIABLES = 200
_MAX_JOIN = 50


#: Unicode format characters (category ``Cf``) and the invisible Hangul fillers.
INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)


#: Any character :data:`CONFUSABLES` folds (a search for one is far cheaper than ``str.translate``).
_CONFUSABLE = re.compile("[" + "".join(sorted(chr(cp) for cp in CONFUSABLES if cp > 127)) + "]")
_ASCII_BYTES = bytes(range(128))


@lru_cache(maxsize=4)
def non_ascii_chars(text: str) -> str:
    """Each distinct non-ASCII character of ``text`` once (order unspecified): the text's UTF-8 with the
    ASCII bytes deleted, in C; a search over this short string answers "does the text hold any of …"
    for the whole file. Cached for the last few texts, so the Unicode checks and the folding share it."""
    return "".join(
        set(text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))
    )


def _fold(text: str) -> str:
    """Drop format characters, apply NFKC, fold confusables (lines and their count unchanged).

    Each step runs only when a C-speed check finds something for it to do: pure-ASCII text returns at
    once, format characters and confusables are looked for among the text's distinct non-ASCII
    characters, NFKC runs only when the quick check says the text is not already normalised.
    """
    if text.isascii():
        return text
    chars = non_ascii_chars(text)
    stripped = INVISIBLE.sub("", text) if INVISIBLE.search(chars) else text
    if unicodedata.is_normalized("NFKC", stripped):
        return stripped.translate(CONFUSABLES) if _CONFUSABLE.search(chars) else stripped
    folded = unicodedata.normalize("NFKC", stripped)
    if _CONFUSABLE.search(folded):
        folded = folded.translate(CONFUSABLES)
    return folded if folded.count("\n") == text.count("\n") else stripped


#: A variable's use: ``$NAME``, ``${NAME}`` (shell, PowerShell) or ``%NAME%`` (cmd); literal first
#: characters, so the engine skips to candidates.
_USE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)|%([A-Za-z_][A-Za-z0-9_]*)%")


def _may_substitute(text: str) -> bool:
    """False when :func:`_substitute` cannot change ``text``: no variable it uses is a built-in one or
    assigned anywhere in it (``NAME=`` or PowerShell's ``$NAME =``). Substring checks in C instead of
    the assignment search over the whole text, which most files never need."""
    if "$" not in text and "%" not in text:
        return False
    for name in {a or b for a, b in _USE.findall(text)}:
        if name in _BUILTIN or name + "=" in text:
            return True
        if re.search(r"\$" + name + r"\s*=", text):
            return True
    return False


def _variables(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if "=" not in text:
        return found
    for pattern in (_ASSIGN, _PS_ASSIGN):
        for match in pattern.finditer(text):
            name, *values = match.groups()
            value = next((v for v in values if v is not None), "")
            if name not in found:
                found[name] = value
            if len(found) >= _MAX_VARIABLES:
                return found
    return found


def _substitute(line: str, variables: dict[str, str]) -> str:
    if "$" not in line and "%" not in line:
        return line

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in variables:
            return variables[name]
        return _BUILTIN.get(name, match.group(0))

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|%([A-Za-z_][A-Za-z0-9_]*)%", repl, line)


def _second(match: re.Match[str]) -> str:
    return match.group(2)


def _shell_words(line: str) -> str:
    if "${" in line or "$IFS" in line:
        line = _IFS.sub(" ", line)
    if ("$(" in line and ("which" in line or "command" in line or "type" in line)) or ("`" in line and "which" in line):
        line = _WHICH.sub(lambda m: m.group(1) or m.group(2), line)
    if "''" in line or '""' in line:
        line = _EMPTY_QUOTES.sub("", line)
    if "'" in line or '"' in line:
        line = _GLUED_AFTER.sub(_second, line)
        line = _GLUED_BEFORE.sub(_second, line)
    if "\\" in line:
        line = _ESCAPE.sub("", line)
    if "^" in line:
        line = _CARET.sub("", line)
    return line


def _continues(line: str) -> bool:
    end = line.rstrip()
    if end.endswith("|") and end.lstrip().startswith("|"):
        return False  # a Markdown table row
    return end.endswith(("\\", "|", "&&", "||")) and not end.endswith("\\\\")


def _join_continued(text: str) -> str:
    if not _CONTINUED.search(text):
        return text
    lines = text.split("\n")
    line_of, position, swallowed_to = 0, 0, 0
    for match in _MAY_CONTINUE.finditer(text):  # only the lines that may continue are looked at in Python
        line_of += text.count("\n", position, match.start())
        position = match.start()
        index = line_of
        if index < swallowed_to:
            continue  # already part of the command joined on an earlier line
        line = lines[index]
        joined = 0
        while _continues(line) and index + joined + 1 < len(lines) and joined < _MAX_JOIN:
            joined += 1
            stripped = line.rstrip()
            if stripped.endswith("\\"):  # the shell drops backslash-newline, even inside a word
                line = stripped[:-1] + lines[index + joined]
            else:
                line = stripped + " " + lines[index + joined].lstrip()
        if joined:
            lines[index : index + joined + 1] = [line] + [""] * joined
            swallowed_to = index + joined + 1
    return "\n".join(lines)


def normalise(text: str, *, evasions: bool = True) -> str:
    """The text the signatures run on: same number of lines as ``text`` (split on ``\\n``).

    Each step is one pass of C-speed regular expressions over the whole text, skipped when a quick check
    shows it has nothing to do (most files need none of them).

    :param text: a file's decoded text.
    :param evasions: also undo the evasions (Unicode folding, quotes and escapes inside words); without,
        only continued lines are joined and variables resolved — comparing both tells whether a match
        needed an evasion undone.
    :returns: normalised text; byte offsets map to the original line numbers.
    """
    if evasions:
        text = _fold(text)
    text = _join_continued(text)
    if _may_substitute(text):
        text = _substitute(text, _variables(text))
    return _shell_words(text) if evasions else text
