"""Install-policy decisions returned by ``check_addon`` hook implementations (OpenClaw's install policy)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PolicyAction = Literal["allow", "note", "warn", "block"]


@dataclass(frozen=True)
class PolicyDecision:
    """One finding of an install policy.

    :ivar action: ``allow`` (nothing to say), ``note`` (shown, no confirmation), ``warn`` (the user must
        confirm) or ``block`` (refused).
    :ivar reason: one line for the user, e.g. ``SKILL.md:12 pipes a download into a shell``.
    :ivar rule: the rule's id (``curl-pipe-shell``), so admins can choose warn/block per rule.
    :ivar file: path of the offending file relative to the add-on root, or ``None``.
    :ivar line: 1-based line number in ``file``, or ``None``.
    """

    action: PolicyAction
    reason: str = ""
    rule: str | None = None
    file: str | None = None
    line: int | None = None

    def describe(self) -> str:
        """``file:line: reason [rule]`` for messages and the audit log."""
        where = f"{self.file}:{self.line}: " if self.file and self.line else (f"{self.file}: " if self.file else "")
        tag = f" [{self.rule}]" if self.rule else ""
        return f"{where}{self.reason}{tag}"


def allow() -> PolicyDecision:
    """Nothing to report."""
    return PolicyDecision("allow")


def note(reason: str, *, rule: str | None = None, file: str | None = None, line: int | None = None) -> PolicyDecision:
    """A finding shown to the user that needs no confirmation (e.g. a vendor installer line in a Dockerfile)."""
    return PolicyDecision("note", reason, rule, file, line)


def warn(reason: str, *, rule: str | None = None, file: str | None = None, line: int | None = None) -> PolicyDecision:
    """A finding the user must confirm before the install goes on."""
    return PolicyDecision("warn", reason, rule, file, line)


def block(reason: str, *, rule: str | None = None, file: str | None = None, line: int | None = None) -> PolicyDecision:
    """A finding that refuses the install."""
    return PolicyDecision("block", reason, rule, file, line)


_RULE_TAG = re.compile(r"\[[a-z0-9.:_-]+\]")


def is_policy_refusal(code: str, message: str) -> bool:
    """True for a block or confirmation of the install policy (its findings end in ``[rule]``), as opposed
    to one of a registry's flags: then the CLI names ``POLICY_RULES`` and the chat the bot's admin."""
    return code in {"blocked", "confirm"} and _RULE_TAG.search(message) is not None
