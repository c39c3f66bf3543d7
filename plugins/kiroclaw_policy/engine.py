"""The scan: one read of each file, YARA-X signatures on normalised text, Python for the rest.

Per file (:func:`scan_file`), from the bytes the install walk already read:

1. executables and archives by their first bytes (:mod:`kiroclaw_policy.archives`);
2. the text: UTF-8, or UTF-16/32 decoded (with or without a byte-order mark), NUL bytes dropped; a file
   that needed this, a file larger than :data:`MAX_SCAN_BYTES` or a line longer than
   :data:`LONG_LINE` is a ``scan-incomplete`` finding of its own (nothing unscanned in silence);
3. invisible characters in their Unicode context (:mod:`kiroclaw_policy.unicode`);
4. :func:`~kiroclaw_policy.normalize.normalise`, then one YARA-X scan of the result
   (``signatures.yar``); what a signature cannot decide alone is finished here: a file downloaded or
   decoded to disk counts only when it is run later, a URL only when its host is suspicious, a package
   source only when it is not an index or a code forge;
5. base64 literals (≥ 40 characters) decoded and scanned again, once;
6. each finding gets its verdict from :mod:`kiroclaw_policy.context`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from . import context, memo
from .archives import DOCUMENT_SUFFIXES, archive_kind, native_kind, peek_archive
from .normalize import normalise
from .rulecache import load_or_compile
from .rules import MAX_FINDINGS_PER_FILE, RULES, Finding
from .unicode import hidden_unicode

__all__ = ["LONG_LINE", "MAX_SCAN_BYTES", "compiled_rules", "scan_file", "scan_tree"]

#: Bytes of one file that are scanned; the rest of a larger file is a ``scan-incomplete`` finding.
MAX_SCAN_BYTES = 8 * 1024 * 1024
#: A line longer than this (characters) is scanned, and reported as a note: editors and reviews hide it.
LONG_LINE = 100_000
_TEXT_NAMES = re.compile(
    r"(\.(md|markdown|mdx|txt|rst|sh|bash|zsh|ps1|psm1|bat|cmd|py|js|mjs|cjs|ts|rb|pl|php|"
    r"lua|json|ya?ml|toml|cfg|ini|xml|html?|applescript|command|fish)|/skill\.md|^skill\.md)$",
    re.I,
)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,65536}={0,2}(?![A-Za-z0-9+/=])")


_RULES: list[Any] = []


def compiled_rules(cache_folder: Callable[[], Path | None] | None = None) -> Any:
    """The signatures, compiled once per process (YARA-X refuses slow patterns here).

    :param cache_folder: asked on the first call only: the folder of the compiled-rules cache, or ``None``
        to compile without one. With a folder, a checked copy there is loaded and a fresh one left for the
        next process (:mod:`kiroclaw_policy.rulecache`).
    """
    if not _RULES:
        _RULES.append(load_or_compile(cache_folder() if cache_folder is not None else None))
    return _RULES[0]


def _decode(data: bytes, *, textual: bool) -> tuple[str, str | None]:
    """(text, how it was not plain UTF-8 or ``None``)."""
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace"), codec.upper()
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    head = data[:4096]
    if b"\x00" in head and not textual:
        return data.decode("latin-1"), "binary"
    if b"\x00" in head:
        zeros_odd, zeros_even = head[1::2].count(0), head[0::2].count(0)
        half = len(head) // 2
        if head[1::4].count(0) > 0.9 * len(head) / 4 and head[2::4].count(0) > 0.9 * len(head) / 4:
            codec = "utf-32-le" if head[3::4].count(0) > 0.9 * len(head) / 4 else "utf-32-be"
            return data.decode(codec, errors="replace"), codec.upper() + " without a byte-order mark"
        if zeros_odd > 0.4 * half and zeros_even < 0.1 * half:
            return data.decode("utf-16-le", errors="replace"), "UTF-16-LE without a byte-order mark"
        if zeros_even > 0.4 * half and zeros_odd < 0.1 * half:
            return data.decode("utf-16-be", errors="replace"), "UTF-16-BE without a byte-order mark"
        return data.replace(b"\x00", b"").decode("utf-8", errors="replace"), "NUL bytes"
    return data.decode("utf-8", errors="replace"), None


class _FileScan:
    """The findings of one file; verdicts applied as they are made."""

    def __init__(self, rel: str, text: str, *, evasive: bool) -> None:
        self.rel = rel
        self.where = context.location(rel)
        self.script = context.is_script(rel)
        self.lines = text.split("\n") if text else []
        self.evasive_file = evasive
        self.binary = False
        self.markdown = PurePosixPath(rel).suffix.lower() in {".md", ".markdown", ".mdx", ".txt"}
        self.found: list[Finding] = []

    def add(self, rule: str, line: int | None, detail: str, *, points: str = "", evasive: bool = False) -> None:
        text = self.lines[line - 1] if line and line <= len(self.lines) else ""
        where_to, why_target = context.target(points or text, bare_addresses=rule == "reverse-shell")
        lure = line is not None and context.lured(self.lines, line - 1)
        evasive = evasive or self.evasive_file
        verdict, why = context.verdict(
            rule, self.where, where_to, lure=lure, evasive=evasive, script=self.script, markdown=self.markdown
        )
        if why_target and where_to != "other":
            why += ", " + why_target
        strong = where_to == "suspicious" or lure or evasive
        self.found.append(Finding(rule, self.rel, line, _printable(detail), verdict, why, strong))


def _printable(text: str, limit: int = 100) -> str:
    clean = re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in text)).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _lines_at(data: bytes, offsets: Iterable[int]) -> dict[int, int]:
    """{byte offset: 1-based line} for each of ``offsets`` (newlines counted in C, not line by line)."""
    lines: dict[int, int] = {}
    line, position = 1, 0
    for offset in sorted(set(offsets)):
        line += data.count(b"\n", position, offset)
        lines[offset] = line
        position = offset
    return lines


_DATA_SUFFIXES = frozenset(
    {
        ".txt",
        ".json",
        ".html",
        ".htm",
        ".xml",
        ".md",
        ".csv",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".svg",
        ".pdf",
        ".log",
        ".yaml",
        ".yml",
        ".tar",
        ".gz",
        ".tgz",
        ".zip",
        ".whl",
    }
)


def _ran_later(path: str, rest: str) -> bool:
    """True when the file ``path`` written by a download or decode is run in ``rest`` (the text after it):
    given to an interpreter, ``source``/``.``, ``Start-Process``/``&``, or called as ``./file``/``/path/file``."""
    name = PurePosixPath(path.replace("\\", "/")).name.strip("\"'")
    if len(name) < 2 or name in {"-", "null"} or PurePosixPath(name).suffix.lower() in _DATA_SUFFIXES:
        return False
    quoted = re.escape(name) + r"(?![A-Za-z0-9_.-])"
    run = (
        rf"(\b((ba|z|da|k)?sh|source|python[0-9.]*|perl|ruby|node|osascript|pwsh|powershell(\.exe)?"
        rf"(\s+-[a-z]+)*|start-process|invoke-item|cmd(\.exe)?\s+/c|msiexec\s+/i|installer\s+-pkg|"
        rf"wscript|cscript|mshta)\s+[\"']?[^\s\"']{{0,200}}{quoted}"
        rf"|(^|[;&|(]\s*|&&\s*|\s)(\./|/|~/|\$home/|%temp%\\|\$env:temp\\)[^\s\"';&|]{{0,200}}\b{quoted}(\s|$|;|&|\))"
        rf"|(^|[;&|(]\s*|\s)&\s*[\"']?[^\s\"']{{0,200}}{quoted}"
        rf"|(^|[;&|(]\s*)\.\s+[^\s]{{0,200}}{quoted})"
    )
    return re.search(run, rest[:200_000], re.I | re.M) is not None


_DOWNLOAD_TARGET = re.compile(
    r"(?:\s(?:-o|-O|--output|--output-document|-outfile|-destination|-out)(?:\s+|=)|>\s*)[\"']?([^\s\"';|&)]{1,200})"
    r"|\.downloadfile\s*\([^,]*,\s*[\"']([^\"']{1,200})[\"']",
    re.I,
)


#: Seconds one YARA scan of one file may take. Honest files of :data:`MAX_SCAN_BYTES` take well under a
#: second; text built to make the scan slow (a trigger word repeated millions of times) is refused rather
#: than let through half-scanned ("slow filler turns a block into a warning").
FILE_SCAN_SECONDS = 10


class ScanTimeout(Exception):
    """One file's YARA scan took longer than :data:`FILE_SCAN_SECONDS`."""


def _scan(data: bytes) -> Any:
    import yara_x

    scanner = yara_x.Scanner(compiled_rules())
    scanner.set_timeout(FILE_SCAN_SECONDS)
    try:
        return scanner.scan(data)
    except yara_x.TimeoutError as exc:
        raise ScanTimeout from exc


def _matched_lines(text: str) -> set[tuple[str, int]]:
    data = text.encode("utf-8", errors="replace")
    found = [
        (match.identifier, m.offset) for match in _scan(data).matching_rules for p in match.patterns for m in p.matches
    ]
    lines = _lines_at(data, (offset for _, offset in found))
    return {(identifier, lines[offset]) for identifier, offset in found}


def _yara_findings(scan: _FileScan, normalised: str, source: str | None, *, data: bytes | None = None) -> None:
    """Report the signatures' matches in ``normalised``; ``source`` (the text before normalisation, or
    ``None`` when it was not normalised) tells which matches needed an evasion undone. ``data``: the bytes
    to scan when they are at hand (a binary file's own bytes, ``normalised`` being their Latin-1 text);
    by default ``normalised`` in UTF-8."""
    codec = "utf-8" if data is None else "latin-1"
    if data is None:
        data = normalised.encode("utf-8", errors="replace")
    results = _scan(data)
    if not results.matching_rules:
        return
    if not scan.lines and normalised:
        scan.lines = normalised.split("\n")
    lines_at = _lines_at(
        data, (m.offset for match in results.matching_rules for p in match.patterns for m in p.matches)
    )
    # Which matches needed an evasion undone: the text normalised without undoing evasions is scanned
    # once, and only when a match is about to become a finding (most matches, URLs to ordinary hosts,
    # are dropped below without it).
    plain_lines: list[set[tuple[str, int]] | None] = []

    def needed_evasion(identifier: str, line: int) -> bool:
        if not plain_lines:
            plain = normalise(source, evasions=False) if source is not None else normalised
            plain_lines.append(_matched_lines(plain) if plain != normalised else None)
        found = plain_lines[0]
        return found is not None and (identifier, line) not in found

    norm_lines = scan.lines if normalised is source else normalised.split("\n")
    exec_lines: set[int] = set()
    for match in sorted(results.matching_rules, key=lambda m: m.identifier):
        meta = dict(match.metadata)
        rule, kind = str(meta["finding"]), str(meta["kind"])
        offsets = sorted({(m.offset, m.length) for p in match.patterns for m in p.matches})
        if not offsets:
            continue
        if kind == "combo":
            offsets = offsets[:1]
        reported: set[int] = set()
        for offset, length in offsets:
            line = lines_at[offset]
            if line in reported or len(reported) >= MAX_FINDINGS_PER_FILE + 1:
                continue
            excerpt = data[offset : offset + min(length, 400)].decode(codec, errors="replace")
            if kind == "download":
                target = _DOWNLOAD_TARGET.search(excerpt)
                path = next((g for g in target.groups() if g), "") if target else ""
                rest = normalised[len(data[: offset + length].decode(codec, errors="replace")) :]
                if not path or not _ran_later(path, rest):
                    continue
            elif kind == "package":
                squats = _typosquats(excerpt)
                if not squats:
                    continue
                excerpt = f"{squats[0][0]} (looks like {squats[0][1]})"
            elif kind == "url":
                if rule == "package-from-url":
                    if context.package_host(norm_lines[line - 1]):
                        continue
                elif line in exec_lines or context.target(excerpt)[0] != "suspicious" or scan.binary:
                    continue
            reported.add(line)
            if rule in {"curl-pipe-shell", "download-exec", "base64-shell", "reverse-shell"}:
                exec_lines.add(line)
            scan.add(
                rule,
                line,
                excerpt if kind != "combo" else norm_lines[line - 1],
                evasive=needed_evasion(match.identifier, line),
                points=norm_lines[line - 1],
            )


def _typosquats(command: str) -> list[tuple[str, str]]:
    """(name, imitated) for each package argument of an install command that imitates a popular one."""
    words = command.split()
    found = []
    for word in words[2:12]:
        if word.startswith("-") or ("/" in word and not word.startswith("@")) or ":" in word:
            continue
        word = word.strip("'\"`(),;:")
        if not re.fullmatch(r"@?[A-Za-z0-9][A-Za-z0-9._/-]*(\[[a-z0-9,_-]+\])?([=<>~!]=?[0-9][^\s]*)?", word):
            continue
        imitated = context.typosquat_of(word)
        if imitated:
            found.append((word, imitated))
    return found


#: Base64 characters as ``A``, everything else (other ASCII, every byte of a non-ASCII character) as a
#: space: a literal of :data:`_BASE64`'s minimum length is a run of ``A`` in the text's UTF-8 so mapped.
_BASE64_RUN = bytes(
    ord("A") if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/") else ord(" ") for b in range(256)
)


def _may_hold_base64(text: str) -> bool:
    """False when ``text`` has no run of 40 base64 characters: checked in C (a byte translation and a
    substring search) instead of the token search, which looks at every position of every file."""
    return b"A" * 40 in text.encode("utf-8", "surrogatepass").translate(_BASE64_RUN)


def _base64_findings(scan: _FileScan, text: str) -> None:
    """Base64 literals decoded and scanned again, at most 20 per line; one finding per file."""
    if not _may_hold_base64(text):
        return
    done = {f.line for f in scan.found if f.rule == "base64-shell"}
    number, position, per_line = 1, 0, 0
    for match in _BASE64.finditer(text):  # tokens never span lines: the line is counted, not split off
        newlines = text.count("\n", position, match.start())
        number, position = number + newlines, match.start()
        per_line = 1 if newlines or per_line == 0 else per_line + 1
        if number in done or per_line > 20:
            continue
        decoded = _decoded(match.group())
        if decoded is None:
            continue
        inner = _FileScan(scan.rel, decoded, evasive=True)
        _yara_findings(inner, normalise(decoded), decoded)
        exec_found = [
            f for f in inner.found if f.rule in {"curl-pipe-shell", "download-exec", "reverse-shell", "base64-shell"}
        ]
        if exec_found or re.match(r"\s*#!\s*/(usr/)?bin/(env\s+)?(ba|z)?sh\b", decoded):
            scan.add(
                "base64-shell",
                number,
                "base64 text decodes to: " + _printable(decoded, 70),
                points=decoded,
                evasive=True,
            )
            return


def _decoded(token: str) -> str | None:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not text or sum(c.isprintable() or c in "\n\t\r" for c in text) < 0.95 * len(text):
        return None
    return text


def scan_file(rel: str, data: bytes, size: int | None = None) -> list[Finding]:
    """Every finding in one file.

    :param rel: POSIX path from the add-on root (decides the context).
    :param data: the file's bytes, or its first :data:`MAX_SCAN_BYTES` when it is larger.
    :param size: the file's real size in bytes (defaults to ``len(data)``).
    :returns: findings with verdicts, at most :data:`~kiroclaw_policy.rules.MAX_FINDINGS_PER_FILE` per rule
        (plus one ``… and N more`` finding).
    """
    size = len(data) if size is None else size
    head = data[:4096]
    scan = _FileScan(rel, "", evasive=False)
    kind = native_kind(head)
    if kind is not None:
        scan.add("native-binary", None, f"{kind} executable, {size} bytes")
        return scan.found
    archive = archive_kind(head)
    if archive is not None:
        document = PurePosixPath(rel).suffix.lower() in DOCUMENT_SUFFIXES
        peeked = list(peek_archive(archive, data))
        for rule, detail in peeked[: MAX_FINDINGS_PER_FILE + 1]:
            scan.add(rule, None, detail)
        if not peeked and not document:
            scan.add("bundled-archive", None, f"{archive} archive, {size} bytes (looked into: no executables)")
        if size > len(data):
            scan.add("scan-incomplete", None, f"archive larger than {MAX_SCAN_BYTES // 2**20} MiB: only its start read")
        return scan.found
    textual = _TEXT_NAMES.search(rel) is not None
    text, encoding = _decode(data, textual=textual)
    if encoding == "binary" or (not textual and text.count("\ufffd") > 0.01 * max(1, len(text))):
        # a binary file of some other kind (image, font, model): only the raw-bytes signatures
        scan = _FileScan(rel, "", evasive=True)
        scan.binary = True
        try:
            _yara_findings(scan, data.decode("latin-1"), None, data=data)
        except ScanTimeout:
            scan.add("scan-incomplete", None, f"scanning took over {FILE_SCAN_SECONDS} s")
        return _capped(scan.found)
    scan = _FileScan(rel, text, evasive=encoding is not None)
    if encoding is not None:
        scan.found.append(
            Finding(
                "scan-incomplete",
                rel,
                None,
                f"{encoding}: decoded and scanned",
                "warn" if encoding == "NUL bytes" else "note",
                "other tools and reviews may show nothing here",
            )
        )
    if size > len(data):
        scan.add("scan-incomplete", None, f"{size} bytes: only the first {MAX_SCAN_BYTES // 2**20} MiB were checked")
    longest = max(map(len, scan.lines), default=0)
    if longest > LONG_LINE:
        scan.found.append(
            Finding(
                "scan-incomplete",
                rel,
                None,
                f"a line of {longest} characters (scanned)",
                "note",
                "reviews and editors hide what it holds",
            )
        )
    if not text.isascii():
        for line, detail, verdict in hidden_unicode(text, rel):
            scan.found.append(Finding("hidden-unicode", rel, line, detail, verdict, "invisible in review"))
    try:
        _yara_findings(scan, normalise(text), text)
        _base64_findings(scan, text)
    except ScanTimeout:
        scan.found.append(
            Finding(
                "scan-incomplete",
                rel,
                None,
                f"scanning took over {FILE_SCAN_SECONDS} s",
                "block",
                "text built to make scanners give up",
                strong=True,
            )
        )
    return _capped(scan.found)


def _capped(found: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    per_rule: dict[str, int] = {}
    for finding in found:
        per_rule[finding.rule] = per_rule.get(finding.rule, 0) + 1
        if per_rule[finding.rule] <= MAX_FINDINGS_PER_FILE:
            kept.append(finding)
    for rule, count in per_rule.items():
        if count > MAX_FINDINGS_PER_FILE:
            worst = max((f for f in found if f.rule == rule), key=lambda f: ("note", "warn", "block").index(f.verdict))
            kept.append(
                Finding(
                    rule,
                    worst.file,
                    None,
                    f"… and {count - MAX_FINDINGS_PER_FILE} more in this file",
                    worst.verdict,
                    worst.why,
                )
            )
    return kept


def iter_files(root: Path, *, max_files: int) -> Iterator[tuple[str, bytes, int] | None]:
    """``(rel, first MAX_SCAN_BYTES bytes, size)`` per regular file under ``root`` (links not followed);
    ``None`` once more than ``max_files`` files were seen."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            seen += 1
            if seen > max_files:
                yield None
                return
            path = Path(dirpath, name)
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            except OSError:
                continue
            with os.fdopen(fd, "rb") as fh:
                stat = os.fstat(fh.fileno())
                if not _regular(stat.st_mode):
                    continue
                yield path.relative_to(root).as_posix(), fh.read(MAX_SCAN_BYTES), stat.st_size


def _context_key(rel: str) -> tuple[object, ...]:
    """Everything of a file's path that :func:`scan_file` looks at besides reporting it."""
    name = rel.rsplit("/", 1)[-1]
    textual = _TEXT_NAMES.search(rel) is not None
    suffix = PurePosixPath(name).suffix.lower()
    return context.location(rel), context.is_script(rel), suffix, textual, name == "SKILL.md"


def _regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def scan_entries(entries: Iterable[tuple[str, bytes, int] | None], *, budget_seconds: float = 60.0) -> list[Finding]:
    """Findings of files already read (the install walk's): ``(rel, bytes, size)`` each; a ``None`` entry
    means the walk stopped at the file cap. Stops with a ``scan-incomplete`` warning after
    ``budget_seconds``.
    """
    findings: list[Finding] = []
    deadline = time.monotonic() + budget_seconds
    security = False
    rules = compiled_rules()
    seen: dict[tuple[bytes, int, tuple[object, ...]], tuple[str, list[Finding]]] = {}
    for count, entry in enumerate(entries):
        if entry is None:
            findings.append(
                Finding("scan-incomplete", ".", None, f"stopped after {count} files", "warn", "too many files to check")
            )
            break
        if time.monotonic() > deadline:
            findings.append(
                Finding(
                    "scan-incomplete",
                    ".",
                    None,
                    f"stopped after {count} files (over {budget_seconds:g} s)",
                    "warn",
                    "too much to check in time",
                )
            )
            break
        rel, data, size = entry
        if rel.rsplit("/", 1)[-1] == "SKILL.md" and _security_purpose(data):
            security = True
        # A file whose bytes and context equal an earlier one's has its findings (real repositories
        # ship the same schemas and fonts in several skills). The key holds the SHA-256 of the scanned
        # bytes, not the bytes: the scan keeps 32 bytes per distinct file, not the file.
        key = (hashlib.sha256(data).digest(), size, _context_key(rel))
        earlier = seen.get(key) or memo.recall(key, rules)  # this add-on's, else this process's (memo.py)
        if earlier is None:
            earlier = (rel, scan_file(rel, data, size))
            memo.remember(key, rules, earlier)
        seen[key] = earlier
        findings.extend(f if f.file != earlier[0] else replace(f, file=rel) for f in earlier[1])
    if security:
        findings = [_quoted(f) for f in findings]
    return sorted(findings, key=lambda f: (f.file, f.line or 0, f.rule))


#: A skill that says it is about attacks (pentest, red team, detection) quotes them on purpose.
_SECURITY = re.compile(
    r"\b(penetration|pentest\w*|red[- ]team\w*|privilege escalation|exploit\w*|offensive security|ctf\b|"
    r"malware|threat (hunting|detection|model\w*)|yara|sigma rules?|incident response|security (review|audit\w*|"
    r"testing|scanner|research)|vulnerabilit\w+|prompt injection|attack (patterns|surface|techniques))",
    re.I,
)


def _security_purpose(data: bytes) -> bool:
    head = data[:4096].decode("utf-8", errors="replace")
    if not head.startswith("---"):
        return False
    end = head.find("\n---", 3)
    return _SECURITY.search(head[: end if end > 0 else len(head)]) is not None


def _quoted(finding: Finding) -> Finding:
    """In a security skill, exec/inject/exfil findings with nothing damning around them are quotes: notes."""
    if finding.strong or finding.verdict == "note" or RULES[finding.rule].family not in {"exec", "inject", "exfil"}:
        return finding
    return finding.with_verdict("note", finding.why + ", quoted by a skill about security")


def scan_tree(root: Path, *, max_files: int = 10_000, budget_seconds: float = 60.0) -> list[Finding]:
    """Every finding in the tree at ``root``: :func:`scan_entries` over :func:`iter_files`.

    :returns: findings sorted by (file, line, rule), each with its verdict.
    """
    return scan_entries(iter_files(Path(root), max_files=max_files), budget_seconds=budget_seconds)
