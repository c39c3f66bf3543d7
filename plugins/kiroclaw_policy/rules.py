"""The rules of the built-in install policy: what each finding means and how sure it is.

The 2026 malicious-skill campaign ("ClawHavoc", January 2026: 341 malicious skills on ClawHub;
security-catalogue §4) shipped *instructions*, not exploits: a fake "Prerequisites" section telling the
user (or the agent) to run ``curl … | bash``, ``echo '<base64>' | base64 -D | bash`` or
``osascript -e "$(curl …)"`` (the macOS stealer's delivery), a password-protected zip to dodge scanners,
a bundled ``openclaw-agent.exe``, reverse shells. Each rule below is one family of those indicators (and of
the ones that followed: exfiltration and prompt-injection instructions, packages run from outside the
index, Trojan-Source characters, look-alike hosts).

A finding names the file, the 1-based line, the rule id and why; the engine (:mod:`kiroclaw_policy.engine`)
gives it a verdict from its context (:mod:`kiroclaw_policy.context`): ``block`` (high confidence only),
``warn`` (the user confirms) or ``note`` (shown, no confirmation). Admins override a rule's verdict in every
context with ``POLICY_RULES=rule=block|warn|note|off``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Action = Literal["auto", "block", "warn", "note", "off"]
Verdict = Literal["block", "warn", "note"]

__all__ = ["MAX_FINDINGS_PER_FILE", "RULES", "Action", "Finding", "Rule", "Verdict"]


@dataclass(frozen=True)
class Rule:
    """One policy rule.

    :ivar id: used in findings and ``POLICY_RULES``.
    :ivar family: ``exec`` (runs code fetched or decoded at install time), ``exfil``, ``inject``, ``supply``
        (packages and hosts), ``hidden`` (invisible characters), ``bundle`` (binaries, archives), ``scan``
        (what could not be read completely).
    :ivar summary: what a finding means, for the user.
    """

    id: str
    family: str
    summary: str


#: Every rule; verdicts come from the context (see :mod:`kiroclaw_policy.context`) unless an admin sets one.
RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("curl-pipe-shell", "exec", "pipes a download into a shell"),
        Rule("download-exec", "exec", "downloads a program and runs it"),
        Rule("base64-shell", "exec", "runs base64-decoded shell commands"),
        Rule("reverse-shell", "exec", "opens a reverse shell"),
        Rule("exfiltration", "exfil", "sends secrets off the machine"),
        Rule("prompt-injection", "inject", "tells the agent to override its instructions or hide from the user"),
        Rule("package-from-url", "supply", "installs a package from outside the package index"),
        Rule("suspicious-url", "supply", "points at a raw address, paste host or look-alike domain"),
        Rule("typosquat", "supply", "installs a package whose name imitates a popular one"),
        Rule("encrypted-archive", "bundle", "bundles a password-protected archive"),
        Rule("password-archive", "bundle", "tells you to unpack an archive with a password"),
        Rule("native-binary", "bundle", "bundles a native executable"),
        Rule("bundled-archive", "bundle", "bundles an archive"),
        Rule("hidden-unicode", "hidden", "hides text with invisible Unicode characters"),
        Rule("scan-incomplete", "scan", "could not be checked completely"),
    )
}

#: Findings kept per rule and file (the rest are counted in one ``… and N more`` finding).
MAX_FINDINGS_PER_FILE = 3


@dataclass(frozen=True)
class Finding:
    """One match of a rule, with the verdict its context gives.

    :ivar rule: the rule id (a key of :data:`RULES`).
    :ivar file: POSIX path relative to the add-on root.
    :ivar line: 1-based line number, or ``None`` for whole-file findings (a binary).
    :ivar detail: a short, printable excerpt or description (≤ 100 characters).
    :ivar verdict: ``block``, ``warn`` or ``note``.
    :ivar why: why this verdict (the context: ``in SKILL.md, raw IP address, "prerequisite" framing``).
    :ivar strong: the context itself is damning (a suspicious target, a lure, an evasion), whatever the
        skill says it is for.
    """

    rule: str
    file: str
    line: int | None
    detail: str
    verdict: Verdict = "warn"
    why: str = ""
    strong: bool = False

    def with_verdict(self, verdict: Verdict, why: str) -> Finding:
        return replace(self, verdict=verdict, why=why)

    def describe(self) -> str:
        """``file:line: summary: detail (why) [rule]``."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        detail = f": {self.detail}" if self.detail else ""
        why = f" ({self.why})" if self.why else ""
        return f"{where}: {RULES[self.rule].summary}{detail}{why} [{self.rule}]"
