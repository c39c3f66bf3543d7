"""Context-aware verdicts: the same line means different things in different places.

Three questions decide a finding's verdict (the model ClawHub's own engine uses, security-catalogue and
skill-repo-layouts "Policy findings on real, benign skills"):

- **Where it sits** (:func:`location`): ``run`` — ``SKILL.md``, commands, agents, recipes and the scripts the
  skill runs; ``reference`` — ``references/``, docs, examples, tests, other Markdown; ``build`` —
  Dockerfiles and CI files (run by a builder, not by the agent).
- **What it points at** (:func:`target`): ``suspicious`` — a raw IP address, a paste or file-drop host, a
  URL shortener, a tunnel, a look-alike of a well-known domain, plain ``http://`` to a public host;
  ``vendor`` — a well-known vendor installer (uv, rustup, Homebrew, NodeSource, …); ``other``.
- **How it is framed** (:func:`lured`): a "prerequisite" the user or agent must run first ("before using
  this skill", "run this in your terminal", "for macOS:").

Verdicts (:func:`verdict`): ``block`` only with high confidence (code that runs fetched or decoded content
*and* a suspicious target, a lure or an evasion, in a place the agent runs); ``warn`` when a person should
look; ``note`` otherwise (shown, no confirmation).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Literal

from .hosts import (
    PACKAGE_HOSTS,
    POPULAR_PACKAGES,
    SUSPICIOUS_HOSTS,
    VENDOR_HOSTS,
    VENDOR_URL_PREFIXES,
    WELL_KNOWN,
)
from .rules import RULES, Verdict

Location = Literal["run", "reference", "build"]
Target = Literal["suspicious", "vendor", "other"]

__all__ = [
    "hosts_in",
    "is_script",
    "location",
    "lookalike_of",
    "lured",
    "package_host",
    "target",
    "typosquat_of",
    "verdict",
]

_REFERENCE_DIRS = frozenset(
    {
        "references",
        "reference",
        "refs",
        "docs",
        "doc",
        "documentation",
        "examples",
        "example",
        "samples",
        "tests",
        "test",
        "__tests__",
        "spec",
        "fixtures",
        "evals",
        "eval",
        "assets",
        "templates",
        "resources",
        "knowledge",
        "guides",
        "rules",
        "patterns",
        "cheatsheets",
        "payloads",
        "wordlists",
    }
)
_RUN_DIRS = frozenset({"scripts", "bin", "commands", "agents", "recipes", "hooks", "tools"})
_BUILD_NAMES = re.compile(
    r"(^|/)(dockerfile[^/]*|[^/]*\.dockerfile|containerfile|docker-compose[^/]*\.ya?ml|compose\.ya?ml|"
    r"\.gitlab-ci\.yml|jenkinsfile|azure-pipelines\.ya?ml|\.travis\.yml|cloudbuild\.ya?ml|"
    r"\.devcontainer/[^/]+|\.github/[^\0]+|\.circleci/[^\0]+|\.buildkite/[^\0]+)$",
    re.I,
)
_SCRIPT_SUFFIXES = frozenset(
    {
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".psm1",
        ".bat",
        ".cmd",
        ".py",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".rb",
        ".pl",
        ".php",
        ".lua",
        ".applescript",
        ".scpt",
        ".command",
        ".fish",
        ".vbs",
    }
)
_DOC_SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".txt", ".rst", ".html", ".htm", ".adoc", ".ipynb"})


@lru_cache(maxsize=4096)
def location(rel: str) -> Location:
    """Where a file sits in the add-on (``rel``: POSIX path from the add-on root)."""
    if _BUILD_NAMES.search(rel):
        return "build"
    path = PurePosixPath(rel)
    parts = [p.lower() for p in path.parts[:-1]]
    name = path.name.lower()
    if name == "skill.md":
        return "run"
    if any(p in _RUN_DIRS for p in parts) and not any(p in _REFERENCE_DIRS for p in parts):
        return "run"
    if any(p in _REFERENCE_DIRS for p in parts):
        return "reference"
    if path.suffix.lower() in _DOC_SUFFIXES:
        return "reference"
    return "run"  # scripts and everything else the skill ships beside SKILL.md


def is_script(rel: str) -> bool:
    """A program file (by suffix): where Trojan-Source characters change what runs."""
    return PurePosixPath(rel).suffix.lower() in _SCRIPT_SUFFIXES


# --- targets -----------------------------------------------------------------------------------------

_URL_PATH = re.compile(r"\b(?:https?)://([^\s\"'<>`)\]]+)", re.I)
_URL = re.compile(r"\b(?:https?|ftp)://(?:[^\s/@\"'<>`]*@)?(\[[0-9a-f:.]+\]|[^\s/:\"'<>`)\]]+)", re.I)
_BARE_DOWNLOAD = re.compile(
    r"\b(?:curl|wget|iwr|irm|invoke-webrequest|invoke-restmethod)(?:\.exe)?\s+(?:-\S+\s+)*([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})/",
    re.I,
)
_BARE_IP = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_HOMOGLYPH_DIGITS = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "4": "a"})


def hosts_in(text: str) -> list[str]:
    """Host names (lower case, no port) of every URL in ``text``."""
    hosts = [m.group(1).lower().replace("\\", "").strip("[]").rstrip(".") for m in _URL.finditer(text)]
    return hosts + [m.group(1).lower() for m in _BARE_DOWNLOAD.finditer(text)]


#: The popular package names of at least 5 characters by length (each list in the set's own order): a
#: name can only be one edit from those one character shorter, as long, or one longer.
_POPULAR_BY_LENGTH: dict[int, list[str]] = {}
for _known in POPULAR_PACKAGES:
    if len(_known) >= 5:
        _POPULAR_BY_LENGTH.setdefault(len(_known), []).append(_known)


@lru_cache(maxsize=4096)
def typosquat_of(name: str) -> str | None:
    """The popular package ``name`` imitates (one edit or a swap away, not itself popular), or None."""
    base = name.lower().split("[", 1)[0]
    base = re.split(r"[=<>~!@ ]", base.lstrip("@").split("/")[-1] if base.startswith("@") else base, maxsplit=1)[0]
    if len(base) < 5 or base in POPULAR_PACKAGES:
        return None
    for size in (len(base) - 1, len(base), len(base) + 1):
        for known in _POPULAR_BY_LENGTH.get(size, ()):
            if _edits_at_most_one(base, known):
                return known
    return None


def _registered(host: str) -> str:
    parts = host.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else host


def _edits_at_most_one(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


@lru_cache(maxsize=4096)
def lookalike_of(host: str) -> str | None:
    """The well-known domain ``host`` imitates (one edit away, digit homoglyphs, ``rn``→``m``, IDN), or None."""
    if host.startswith("xn--") or ".xn--" in host:
        return "an internationalised (punycode) name"
    domain = _registered(host)
    if domain in WELL_KNOWN or host in VENDOR_HOSTS:
        return None
    label = domain.split(".")[0]
    for known in WELL_KNOWN:
        known_label = known.split(".")[0]
        if len(known_label) < 5:
            continue
        for candidate in {label, label.translate(_HOMOGLYPH_DIGITS), label.replace("rn", "m").replace("vv", "w")}:
            if candidate != known_label and _edits_at_most_one(candidate, known_label):
                return known
        if label.startswith(known_label) and label[len(known_label) :] in {
            "-cdn",
            "-dl",
            "-download",
            "-install",
            "-secure",
            "-update",
            "-app",
            "s",
        }:
            return known
    return None


#: Documentation ranges (RFC 5737, RFC 3849) stand for public addresses in examples and samples.
_DOC_NETS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def _raw_ip(host: str) -> bool:
    """A literal public (or documentation-range) address: private, loopback and link-local ones are local
    services in honest docs, and no campaign serves its payload from them."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return bool(re.fullmatch(r"(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}", host, re.I)) and not host.isdigit()
    return address.is_global or any(address in net for net in _DOC_NETS)


#: Lines up to this many characters are cached by :func:`target` (a minified line of several MiB is not).
CACHED_LINE = 4096


def target(text: str, *, bare_addresses: bool = False) -> tuple[Target, str]:
    """What a matched line points at, and a short reason (``raw IP address 203.0.113.7``); lines up to
    :data:`CACHED_LINE` characters are answered from a per-process cache of 4096 lines.

    :param bare_addresses: also count addresses outside URLs (``nc 203.0.113.7 4444``).
    """
    if len(text) > CACHED_LINE:
        return _target(text, bare_addresses)
    return _cached_target(text, bare_addresses)


def _target(text: str, bare_addresses: bool) -> tuple[Target, str]:
    hosts = hosts_in(text)
    bare = [ip for ip in _BARE_IP.findall(text) if ip not in hosts] if bare_addresses else []
    for host in hosts + bare:
        if _raw_ip(host):
            return "suspicious", f"raw IP address {host}"
        domain = _registered(host)
        if host in SUSPICIOUS_HOSTS or domain in SUSPICIOUS_HOSTS:
            return "suspicious", f"paste, file-drop or tunnel host {host}"
        imitated = lookalike_of(host)
        if imitated is not None:
            return "suspicious", f"{host} looks like {imitated}"
    if hosts and all(_vendor(h, text) for h in hosts):
        return "vendor", f"well-known installer host {hosts[0]}"
    return "other", (f"host {hosts[0]}" if hosts else "")


_cached_target = lru_cache(maxsize=4096)(_target)


def _vendor(host: str, text: str) -> bool:
    if host in VENDOR_HOSTS or _registered(host) in VENDOR_HOSTS:
        return True
    urls = [m.group(1).lower() for m in _URL_PATH.finditer(text) if m.group(1).lower().startswith(host)]
    return bool(urls) and all(url.startswith(VENDOR_URL_PREFIXES) for url in urls)


def package_host(text: str) -> bool:
    """Every URL in ``text`` is on a package index or a code forge (an honest ``pip install git+…``)."""
    hosts = hosts_in(text)
    return bool(hosts) and all(h in PACKAGE_HOSTS or h.endswith(".github.io") for h in hosts)


_LURE = re.compile(
    r"\b(prerequisites?|pre-requisites?|before (using|you (use|start|begin)|running|installing) this|"
    r"(must|need to|have to|required to) (first )?(run|install|execute|paste)|run (this|the following|it) "
    r"(first|in (your |the )?terminal)|paste (this|it|the following) (in|into) (your |the )?terminal|"
    r"(required|mandatory|important|critical) (setup|step|installation|dependency|update)|"
    r"for (macos|mac os|windows|linux) (users)?\s*:|copy and (paste|run)|one[- ]time setup|"
    r"helper (agent|binary|tool)|(openclaw|clawhub|claw)[- ]?(agent|provider|core|helper|driver)|"
    r"will not work (without|until)|(without|until) (this|it), the skill)",
    re.I,
)


def lured(lines: list[str], index: int) -> bool:
    """True when the 8 lines before line ``index`` (0-based), the line itself or its Markdown section heading
    frame it as a prerequisite to run first."""
    start = max(0, index - 8)
    if any(_LURE.search(line) for line in lines[start : index + 1]):
        return True
    for back in range(index - 1, max(-1, index - 200), -1):
        if lines[back].lstrip().startswith("#"):
            return _LURE.search(lines[back]) is not None
    return False


def verdict(
    rule: str,
    where: Location,
    points: Target,
    *,
    lure: bool,
    evasive: bool,
    script: bool = False,
    markdown: bool = True,
) -> tuple[Verdict, str]:
    """The verdict of a finding of ``rule`` in its context, and the reason in words.

    :param evasive: the match needed normalisation (quotes, escapes, look-alike letters, a variable) or
        decoding (base64, UTF-16): nobody writes an honest command that way.
    """
    family = RULES[rule].family
    bits = [
        {"run": "in a file the agent runs", "reference": "in reference material", "build": "in a build file"}[where]
    ]
    if lure:
        bits.append('framed as a "prerequisite"')
    if evasive:
        bits.append("written to evade scanners")
    strong = points == "suspicious" or evasive
    result: Verdict
    if family == "exec":
        if rule in {"reverse-shell", "base64-shell"}:  # no honest skill runs these
            result = "block" if where == "run" else ("warn" if strong else "note")
        elif points == "vendor" and not (lure and points != "vendor") and not evasive:
            result = "note"
        elif where == "run":
            result = "block" if strong else "warn"
        else:
            result = "warn" if strong or lure else "note"
    elif family == "exfil":
        result = ("block" if strong else "warn") if where == "run" else ("warn" if strong else "note")
    elif family == "inject":
        result = "warn" if (where == "run" and markdown) or evasive else "note"
    elif family == "supply":
        if rule == "package-from-url":
            result = ("block" if strong else "warn") if where == "run" and points != "vendor" else "note"
            if where != "run" and strong:
                result = "warn"
        else:  # suspicious-url: only suspicious targets get here
            result = "warn" if where == "run" else "note"
    elif family == "hidden":
        result = "warn" if where == "run" or script else "note"
    elif family == "bundle":
        result = "block" if rule == "encrypted-archive" else ("note" if rule == "bundled-archive" else "warn")
        if rule == "password-archive" and (lure or points == "suspicious") and where == "run":
            result = "block"
    else:  # scan
        result = "warn"
    return result, ", ".join(bits)
