"""Built-in plugin ``policy``: the install policy against malicious skills.

A ``check_addon`` hook implementation like any third-party scanner's, loaded from the ``kiroclaw``
entry-point group, so ``KIROCLAW_DISABLE_PLUGINS=policy`` turns it off. It scans the staged add-on with
:mod:`kiroclaw_policy.engine` (YARA-X signatures on normalised text, plus Python for what YARA cannot
judge) and turns each finding into a :class:`kiroclaw.PolicyDecision`: ``block`` refuses the install,
``warn`` makes the core ask the user to confirm, ``note`` is shown without asking. The verdict comes
from the finding's context (:mod:`kiroclaw_policy.context`); admins override it per rule with
``POLICY_RULES=rule=block|warn|note|off,...`` (``*=…`` for every rule); an unknown rule or action stops
start-up.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kiroclaw
from kiroclaw import PluginConfigError

from .engine import MAX_SCAN_BYTES, compiled_rules, scan_entries, scan_file, scan_tree
from .rules import RULES, Action, Finding

if TYPE_CHECKING:
    from kiroclaw import AddonRecord, PolicyDecision, Settings, StagedFile

__all__ = [
    "check_addon",
    "decisions",
    "package_cache_folder",
    "rule_actions",
    "rules_cache_folder",
    "scan_file",
    "scan_tree",
    "startup",
]

_ACTIONS = {"block", "warn", "note", "off"}


def rule_actions(entries: list[str] | tuple[str, ...]) -> dict[str, Action]:
    """Each rule's action: ``auto`` (the context decides) unless ``POLICY_RULES`` sets one
    (``rule=block|warn|note|off``; ``*=warn`` sets every rule at once, later entries still win).

    :raises PluginConfigError: an entry is not ``rule=action``, the rule is unknown, or the action is not
        ``block``, ``warn``, ``note`` or ``off``.
    """
    actions: dict[str, Action] = dict.fromkeys(RULES, "auto")
    for entry in entries:
        rule_id, sep, action = (part.strip().lower() for part in entry.partition("="))
        if not sep or action not in _ACTIONS:
            raise PluginConfigError(
                f"POLICY_RULES: {entry!r} must look like rule=block, rule=warn, rule=note or rule=off"
            )
        if rule_id.startswith("cisco."):
            continue  # the optional Cisco scanner plugin's rules (kiroclaw_cisco_scan)
        if rule_id == "*":
            actions = dict.fromkeys(actions, action)  # type: ignore[arg-type]
        elif rule_id in RULES:
            actions[rule_id] = action  # type: ignore[assignment]
        else:
            raise PluginConfigError(f"POLICY_RULES: unknown rule {rule_id!r}; known rules: {', '.join(RULES)}")
    return actions


def _decision(finding: Finding, action: Action) -> PolicyDecision:
    verdict = finding.verdict if action == "auto" else action
    reason = RULES[finding.rule].summary + (f": {finding.detail}" if finding.detail else "")
    if finding.why and action == "auto":
        reason += f" ({finding.why})"
    make = {"block": kiroclaw.block, "warn": kiroclaw.warn, "note": kiroclaw.note}[verdict]
    return make(reason, rule=finding.rule, file=finding.file, line=finding.line)


def decisions(findings: list[Finding], entries: list[str] | tuple[str, ...]) -> list[PolicyDecision]:
    """One decision per finding whose rule is not ``off`` under ``POLICY_RULES`` ``entries``."""
    actions = rule_actions(entries)
    return [_decision(f, actions[f.rule]) for f in findings if actions.get(f.rule, "off") != "off"]


def _entries(files: tuple[StagedFile, ...]) -> Iterator[tuple[str, bytes, int]]:
    """The walk's files as ``(rel, bytes, size)``: the bytes the walk kept, else one bounded read."""
    for staged in files:
        data = staged.content
        if data is None:
            try:
                fd = os.open(staged.full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as handle:
                    data = handle.read(MAX_SCAN_BYTES)
            except OSError:
                data = b""
        yield staged.path, data, staged.size_bytes


def rules_cache_folder(settings: Settings) -> Path | None:
    """Where the compiled signatures are kept between runs, or ``None``: compile them in every process.

    - Agents confined (``AGENT_SANDBOX=bwrap``): ``cache`` beside the staging areas
      (``WORKSPACE_BASE_PATH/.kiroclaw-staging``); the sandbox binds only the user's folder, so no agent
      can write it.
    - Otherwise (``local``, the default, or another launcher) an agent may run as the bot's user, and a
      cache it could plant would weaken every later install's scan. The one place where that gives it
      nothing new is beside the policy's own bytecode, :func:`package_cache_folder`: whoever can write
      there can already replace the compiled Python that runs the scan. ``None`` when Python writes no
      bytecode (``PYTHONDONTWRITEBYTECODE``).

    Either way :mod:`kiroclaw_policy.rulecache` uses a file only when the folder and the file are the
    bot's own and writable by nobody else, and the rules fire exactly on its canary.
    """
    from .settings import LauncherView

    if kiroclaw.plugin_settings(LauncherView, settings).agents_confined:
        return Path(settings.workspace_base_path) / ".kiroclaw-staging" / "cache"
    return None if sys.dont_write_bytecode else package_cache_folder()


def package_cache_folder() -> Path | None:
    """The folder Python reads this package's bytecode from (``kiroclaw_policy/__pycache__``, or its
    place under ``PYTHONPYCACHEPREFIX``), as the import system computed it; ``None`` when the package
    is not loaded from source files (a zip, a frozen build)."""
    from importlib.machinery import SourceFileLoader

    spec = __spec__
    if spec is None or not isinstance(spec.loader, SourceFileLoader) or not spec.cached:
        return None
    return Path(spec.cached).parent


@kiroclaw.hookimpl
def check_addon(
    addon: AddonRecord, staged_path: Path, settings: Settings, files: tuple[StagedFile, ...]
) -> list[PolicyDecision]:
    """Scan the staged add-on from the core's one walk (``files``); one decision per finding whose rule
    is not ``off``.

    :returns: ``block``/``warn``/``note`` decisions (empty: nothing found), each naming file, line and rule.
    """
    compiled_rules(lambda: rules_cache_folder(settings))
    if files:
        findings = scan_entries(_entries(files))
    else:
        findings = scan_tree(Path(staged_path), max_files=settings.max_addon_files)
    return decisions(findings, settings.policy_rules)


@kiroclaw.hookimpl
def startup(host: Any) -> None:
    """Fail at start-up, not at the first install, when ``POLICY_RULES`` is wrong."""
    rule_actions(host.settings.policy_rules)
