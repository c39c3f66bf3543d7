"""The rules of the built-in install policy: find the patterns of the 2026 malicious-skill campaign.

The campaign ("ClawHavoc", January 2026: 341 malicious skills on ClawHub; security-catalogue §4) shipped
*instructions*, not exploits: a fake "Prerequisites" section telling the user (or the agent) to run
``curl … | bash`` or ``echo '<base64>' | base64 -D | bash``, a password-protected zip to dodge scanners
(``clawhub`` issue #119), a bundled ``openclaw-agent.exe`` (#93), reverse shells. Each rule below is one
of those indicators; each finding names the file, the 1-based line and the rule id, so a user or an admin
can see why and check it.

This module only *finds*; what a finding does (``warn``, ``block`` or nothing) is the admin's choice per
rule (``POLICY_RULES``), with :data:`RULES` holding the defaults.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Action = Literal["block", "warn", "off"]


@dataclass(frozen=True)
class Rule:
    """One policy rule: its id (used in ``POLICY_RULES``), default action and what it means."""

    id: str
    default: Action
    summary: str


#: Every rule, with its default action. Blocks are patterns with no honest use in a skill.
RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("curl-pipe-shell", "block", "pipes a download into a shell"),
        Rule("base64-shell", "block", "runs base64-decoded shell commands"),
        Rule("reverse-shell", "block", "opens a reverse shell"),
        Rule("encrypted-archive", "block", "bundles a password-protected archive"),
        Rule("password-archive", "warn", "tells you to unpack an archive with a password"),
        Rule("native-binary", "warn", "bundles a native executable"),
        Rule("hidden-unicode", "block", "hides text with invisible Unicode characters"),
        Rule("scan-incomplete", "warn", "is too large to check completely"),
    )
}


@dataclass(frozen=True)
class Finding:
    """One match of a rule.

    :ivar rule: the rule id (a key of :data:`RULES`).
    :ivar file: POSIX path relative to the add-on root.
    :ivar line: 1-based line number, or ``None`` for whole-file findings (a binary).
    :ivar detail: a short, printable excerpt or description (≤ 100 characters).
    """

    rule: str
    file: str
    line: int | None
    detail: str


#: Largest file whose text is scanned, in bytes (SKILL.md is capped at 1 MiB by the core).
MAX_TEXT_BYTES = 2 * 1024 * 1024
#: Bytes read from every file to recognise executables and archives.
MAGIC_BYTES = 4096
#: Findings kept per rule and file (the rest are counted, not listed).
MAX_FINDINGS_PER_FILE = 3

#: Longest gap (characters) a pattern bridges between its parts: bounds the regex work per line to
#: O(line length × _GAP) on hostile input (unbounded gaps were quadratic: 35 s for one 70 KB line).
_GAP = 300
_SHELLS = r"(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+(?:\S+=\S*\s+)*)?(?:/usr)?(?:/bin/)?(?:ba|z|da|k|c|tc|fi|a)?sh\b"
_INTERPRETERS = rf"(?:{_SHELLS}|(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node|osascript|php)\b)"
_DOWNLOADERS = r"\b(?:curl|wget|fetch|aria2c|lwp-download)\b"
_PS_DOWNLOAD = (
    r"(?:\b(?:iwr|irm|invoke-webrequest|invoke-restmethod|curl|wget)\b|"
    r"new-object\s+(?:system\.)?net\.webclient|net\.webclient\)?\s*\.\s*download(?:string|data)|start-bitstransfer)"
)
_PS_EXEC = r"\b(?:iex|invoke-expression)\b"

_CURL_PIPE = [
    re.compile(rf"{_DOWNLOADERS}[^|\n]{{0,{_GAP}}}\|\s*{_INTERPRETERS}", re.I),
    re.compile(rf"{_SHELLS}\s+<\(\s*{_DOWNLOADERS}", re.I),
    re.compile(rf"{_SHELLS}\s+-c\s+[\"']?\$\(\s*{_DOWNLOADERS}", re.I),
    re.compile(rf"\b(?:eval|source|\.)\s+[\"']?\$\(\s*{_DOWNLOADERS}", re.I),
    re.compile(
        rf"{_DOWNLOADERS}[^\n]{{0,{_GAP}}}(?:&&|;)\s*chmod\s+(?:\+|[0-7]*[1357])[^\n&;]{{0,100}}(?:&&|;)\s*\S*\./",
        re.I,
    ),
    re.compile(rf"{_PS_DOWNLOAD}[^\n]{{0,{_GAP}}}\|\s*{_PS_EXEC}", re.I),
    re.compile(rf"{_PS_EXEC}\s*\(?\s*[\"']?\s*\(?\s*{_PS_DOWNLOAD}", re.I),
]
_B64_DECODE = r"(?:base64\s+(?:-\w*[dD]\w*|--decode)|openssl\s+(?:enc\s+)?(?:-\w+\s+)*-?base64\s+-d|b64decode)"
_BASE64_SHELL = [
    re.compile(rf"{_B64_DECODE}[^\n]{{0,{_GAP}}}\|\s*{_INTERPRETERS}", re.I),
    re.compile(rf"{_SHELLS}\s+-c\s+[\"']?\$\([^)\n]{{0,{_GAP}}}{_B64_DECODE}", re.I),
    re.compile(rf"\beval\s+[\"']?\$\([^)\n]{{0,{_GAP}}}{_B64_DECODE}", re.I),
    re.compile(rf"{_SHELLS}\s+<\(\s*[^)\n]{{0,{_GAP}}}{_B64_DECODE}", re.I),
    re.compile(r"\bexec\s*\(\s*(?:__import__\(\s*['\"]base64['\"]\s*\)|base64)\s*\.\s*b64decode", re.I),
    re.compile(rf"frombase64string[^\n]{{0,{_GAP}}}{_PS_EXEC}|{_PS_EXEC}[^\n]{{0,{_GAP}}}frombase64string", re.I),
    re.compile(
        r"\b(?:powershell|pwsh)(?:\.exe)?\s+(?:-\w+(?:\s+[^-\s]\S*)?\s+)*?-e(?:nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{16,}",
        re.I,
    ),
]
_REVERSE_SHELL = [
    re.compile(r"/dev/(?:tcp|udp)/[^\s/]+/\d+"),
    re.compile(rf"\b(?:nc|ncat|netcat)\b[^\n|]{{0,{_GAP}}}\s-(?:\w*e|c)\s+\S*(?:sh|cmd)", re.I),
    re.compile(rf"\bsocat\b[^\n]{{0,{_GAP}}}\bexec:[\"']?[^\s\"']{{0,40}}(?:sh|cmd)", re.I),
    re.compile(r"\b(?:ba)?sh\s+-i\s+[>&]", re.I),
]
_PASSWORD = re.compile(r"\b(?:password|passphrase|passwd|pwd|пароль)\b|\bpass\s*[:=]", re.I)
_ARCHIVE_WORDS = re.compile(
    r"\.(?:zip|rar|7z|tar\.gz|tgz)\b|\b(?:unzip|unrar|7z|7za|extract|unpack|archive|decompress)\b", re.I
)
_BASE64_LITERAL = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])")

#: Cheap whole-file prefilters: every pattern of a rule contains one of its trigger words, so a file in
#: which none of a rule's words occurs (lower-cased substring test, C speed) cannot match that rule and its
#: lines are not scanned with the (slower) patterns. A word may occur without a match: it only opens the scan.
_TRIGGERS: dict[str, tuple[tuple[str, ...], re.Pattern[str] | None]] = {
    # rule: (substrings, a word pattern for triggers too short to test as substrings)
    "curl-pipe-shell": (
        ("curl", "wget", "fetch", "aria2c", "lwp-download", "invoke-", "webclient", "bitstransfer"),
        re.compile(r"\b(?:iwr|irm)\b"),
    ),
    "base64-shell": (("base64", "b64decode", "powershell", "pwsh"), None),
    "reverse-shell": (("/dev/tcp/", "/dev/udp/", "netcat", "ncat", "socat"), re.compile(r"\bnc\b|sh\s+-i")),
}


def _triggered(rule: str, lowered: str) -> bool:
    words, pattern = _TRIGGERS[rule]
    return any(word in lowered for word in words) or (pattern is not None and pattern.search(lowered) is not None)


#: Invisible characters (Trojan Source, CVE-2021-42574; ASCII smuggling with tag characters).
_BIDI_CONTROLS = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_BIDI_MARKS = {0x200E, 0x200F, 0x061C}
_ZERO_WIDTH = {0x200B, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x180E, 0xFEFF, 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0}
_JOINERS = {0x200C, 0x200D}
_TAGS = range(0xE0000, 0xE0080)
_BLACK_FLAG = 0x1F3F4
_INVISIBLE = frozenset(chr(cp) for cp in (*_BIDI_CONTROLS, *_BIDI_MARKS, *_ZERO_WIDTH, *_JOINERS, *_TAGS))


def _printable(text: str, limit: int = 100) -> str:
    clean = "".join(c if c.isprintable() and not _is_invisible(ord(c)) else " " for c in text)
    clean = re.sub(r"\s+", " ", clean).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _is_invisible(cp: int) -> bool:
    return cp in _BIDI_CONTROLS or cp in _BIDI_MARKS or cp in _ZERO_WIDTH or cp in _JOINERS or cp in _TAGS


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) with shell line continuations (``\\`` at line end) joined."""
    pending: list[str] = []
    start = 1
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and len(pending) < 50:
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        yield start, " ".join(pending)
        pending = []
    if pending:
        yield start, " ".join(pending)


def _decoded_base64_shell(token: str) -> str | None:
    """If a base64 literal decodes to shell text that downloads-and-runs or opens a shell, that text."""
    if len(token) > 64 * 1024:
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or sum(c.isprintable() or c in "\n\t\r" for c in text) < 0.95 * len(text):
        return None
    for pattern in (*_CURL_PIPE, *_REVERSE_SHELL, *_BASE64_SHELL):
        if pattern.search(text):
            return text
    if re.match(r"\s*#!\s*/(?:usr/)?bin/(?:env\s+)?(?:ba|z)?sh\b", text):
        return text
    return None


def scan_text(text: str, rel: str) -> Iterator[Finding]:
    """Findings of the text rules (shell, base64, reverse shell, password archives) in one file."""
    joined = text.replace("\\\r\n", " ").replace("\\\n", " ")  # logical lines, as _logical_lines joins them
    lowered = joined.lower()
    rules = [
        (rule, patterns)
        for rule, patterns in (
            ("curl-pipe-shell", _CURL_PIPE),
            ("base64-shell", _BASE64_SHELL),
            ("reverse-shell", _REVERSE_SHELL),
        )
        if _triggered(rule, lowered)
    ]
    check_literals = _BASE64_LITERAL.search(joined) is not None
    check_passwords = _PASSWORD.search(joined) is not None
    if not (rules or check_literals or check_passwords):
        return
    lines = text.splitlines()
    for number, line in _logical_lines(text):
        if len(line) > 100_000:
            line = line[:100_000]
        matched: set[str] = set()
        for rule, patterns in rules:
            for pattern in patterns:
                match = pattern.search(line)
                if match:
                    matched.add(rule)
                    yield Finding(rule, rel, number, _printable(line[max(0, match.start() - 20) : match.end() + 40]))
                    break
        if check_literals and "base64-shell" not in matched:
            for token in _BASE64_LITERAL.findall(line)[:20]:
                decoded = _decoded_base64_shell(token)
                if decoded is not None:
                    yield Finding("base64-shell", rel, number, "base64 text decodes to: " + _printable(decoded, 70))
                    break
        if check_passwords and _PASSWORD.search(line):
            window = " ".join(lines[max(0, number - 3) : number + 2])
            if _ARCHIVE_WORDS.search(window):
                yield Finding("password-archive", rel, number, _printable(line))


def scan_hidden_unicode(text: str, rel: str) -> Iterator[Finding]:
    """Invisible bidi controls, zero-width and tag characters, except their legitimate uses:
    a joiner inside an emoji sequence or between two non-ASCII letters (Persian, Indic scripts),
    a bidi mark beside right-to-left text, tag characters of a subdivision flag (🏴 + tags),
    and a byte-order mark at the very start."""
    if text.isascii() or _INVISIBLE.isdisjoint(text):
        return
    for number, line in enumerate(text.splitlines(), start=1):
        index = 0
        while index < len(line):
            cp = ord(line[index])
            if not _is_invisible(cp):
                index += 1
                continue
            prev = line[index - 1] if index > 0 else ""
            nxt = line[index + 1] if index + 1 < len(line) else ""
            legit = False
            if cp == 0xFEFF and number == 1 and index == 0:
                legit = True
            elif cp in _JOINERS:
                legit = _joinable(prev) and _joinable(nxt)
            elif cp in _BIDI_MARKS:
                legit = _is_rtl(prev) or _is_rtl(nxt)
            elif cp in _TAGS:
                run_start = index
                while run_start > 0 and ord(line[run_start - 1]) in _TAGS:
                    run_start -= 1
                legit = run_start > 0 and ord(line[run_start - 1]) == _BLACK_FLAG
            if legit:
                index += 1
                continue
            name = unicodedata.name(chr(cp), "UNNAMED")
            yield Finding("hidden-unicode", rel, number, f"U+{cp:04X} {name} at column {index + 1}")
            # one finding per line is enough; tag runs (ASCII smuggling) are reported once
            break


def _joinable(char: str) -> bool:
    if not char or ord(char) < 128:
        return False
    category = unicodedata.category(char)
    return category[0] in {"L", "M", "S"} or ord(char) in {0xFE0F, 0x20E3} or 0x1F3FB <= ord(char) <= 0x1F3FF


def _is_rtl(char: str) -> bool:
    return bool(char) and unicodedata.bidirectional(char) in {"R", "AL", "AN"}


def native_kind(head: bytes) -> str | None:
    """``ELF``/``Mach-O``/``PE`` when ``head`` (a file's first bytes) starts a native executable."""
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head[:4] in {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}:
        return "Mach-O"
    if head[:4] in {b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"} and len(head) >= 8:
        # A fat Mach-O shares CAFEBABE with Java class files; its arch count is small, a class file's
        # major version (same bytes) is at least 45.
        (count,) = struct.unpack(">I", head[4:8])
        return "Mach-O" if 0 < count < 45 else None
    if head.startswith(b"MZ") and len(head) >= 0x40:
        (offset,) = struct.unpack("<I", head[0x3C:0x40])
        if offset + 4 <= len(head) and head[offset : offset + 4] == b"PE\x00\x00":
            return "PE"
    return None


def zip_is_encrypted(path: Path) -> bool:
    """True when a zip file has an entry with the "encrypted" flag (bit 0 of the general-purpose flags),
    from the central directory, or from the first local header if the directory cannot be read."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            for index, info in enumerate(archive.infolist()):
                if info.flag_bits & 0x1:
                    return True
                if index > 100_000:
                    break
            return False
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError):
        pass
    try:
        with path.open("rb") as fh:
            head = fh.read(30)
    except OSError:
        return False
    return len(head) >= 8 and head[:4] == b"PK\x03\x04" and bool(struct.unpack("<H", head[6:8])[0] & 0x1)


_TEXT_SUFFIXES_UNICODE = {".md", ".markdown", ".txt"}


def scan_tree(root: Path, *, max_files: int = 10_000, budget_seconds: float = 20.0) -> list[Finding]:
    """Every finding of every rule in the tree at ``root`` (links are not followed).

    :param max_files: stop after this many files (the core caps add-ons at ``MAX_ADDON_FILES``).
    :param budget_seconds: stop after this much wall-clock time; hostile text can make the patterns slow
        (bounded, about 1 s per MiB at worst), so a huge add-on gets a ``scan-incomplete`` finding
        instead of tying up a worker thread.
    :returns: findings sorted by (file, line, rule), at most :data:`MAX_FINDINGS_PER_FILE` per rule and
        file, plus one ``… and N more`` finding when some were cut.
    """
    findings: list[Finding] = []
    seen = 0
    deadline = time.monotonic() + budget_seconds
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames):
            seen += 1
            if seen > max_files or time.monotonic() > deadline:
                why = f"stopped after {seen - 1} files" if seen > max_files else f"over {budget_seconds:g} s"
                findings.append(Finding("scan-incomplete", ".", None, why))
                return _sorted(findings)
            path = base / name
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                size = path.stat().st_size
                with path.open("rb") as fh:
                    head = fh.read(MAGIC_BYTES)
                    data = head + fh.read(MAX_TEXT_BYTES - len(head)) if size <= MAX_TEXT_BYTES else head
            except OSError:
                continue
            rel = path.relative_to(root).as_posix()
            findings.extend(_scan_file(path, rel, head, data, size))
    return _sorted(findings)


def _scan_file(path: Path, rel: str, head: bytes, data: bytes, size: int) -> list[Finding]:
    found: list[Finding] = []
    kind = native_kind(head)
    if kind is not None:
        found.append(Finding("native-binary", rel, None, f"{kind} executable, {size} bytes"))
        return found
    if head.startswith(b"PK\x03\x04") and zip_is_encrypted(path):
        found.append(Finding("encrypted-archive", rel, None, "zip archive with encrypted entries"))
        return found
    if size > MAX_TEXT_BYTES or b"\x00" in data[:8192]:
        return found
    text = data.decode("utf-8", errors="replace")
    per_rule: dict[str, int] = {}
    candidates = list(scan_text(text, rel))
    if Path(rel).suffix.lower() in _TEXT_SUFFIXES_UNICODE or Path(rel).name == "SKILL.md":
        candidates.extend(scan_hidden_unicode(text, rel))
    for finding in candidates:
        per_rule[finding.rule] = per_rule.get(finding.rule, 0) + 1
        count = per_rule[finding.rule]
        if count <= MAX_FINDINGS_PER_FILE:
            found.append(finding)
    for rule, count in per_rule.items():
        if count > MAX_FINDINGS_PER_FILE:
            found.append(Finding(rule, rel, None, f"… and {count - MAX_FINDINGS_PER_FILE} more in this file"))
    return found


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.file, f.line or 0, f.rule))
