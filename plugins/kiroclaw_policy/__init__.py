"""Built-in plugin ``policy``: the install policy against the 2026 malicious-skill campaign.

A ``check_addon`` hook implementation like any third-party scanner's, loaded from the ``kiroclaw``
entry-point group, so ``KIROCLAW_DISABLE_PLUGINS=policy`` turns it off. It scans the staged add-on with
:mod:`kiroclaw_policy.rules` and turns each finding into a :class:`kiroclaw.PolicyDecision`: ``block``
refuses the install, ``warn`` makes the core ask the user to confirm. Admins choose per rule with
``POLICY_RULES=rule=block|warn|off,...`` (defaults in :data:`kiroclaw_policy.rules.RULES`); an unknown
rule or action stops start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import kiroclaw
from kiroclaw import PluginConfigError

from .rules import RULES, Action, Finding, scan_tree

if TYPE_CHECKING:
    from kiroclaw import AddonRecord, PolicyDecision, Settings

__all__ = ["check_addon", "rule_actions", "startup"]


def rule_actions(entries: list[str] | tuple[str, ...]) -> dict[str, Action]:
    """Each rule's action: the defaults, overridden by ``POLICY_RULES`` entries (``rule=block|warn|off``).

    ``*=warn`` sets every rule at once (later entries still win).

    :raises PluginConfigError: an entry is not ``rule=action``, the rule is unknown, or the action is not
        ``block``, ``warn`` or ``off``.
    """
    actions: dict[str, Action] = {rule_id: rule.default for rule_id, rule in RULES.items()}
    for entry in entries:
        rule_id, sep, action = (part.strip().lower() for part in entry.partition("="))
        if not sep or action not in {"block", "warn", "off"}:
            raise PluginConfigError(f"POLICY_RULES: {entry!r} must look like rule=block, rule=warn or rule=off")
        if rule_id == "*":
            actions = dict.fromkeys(actions, action)  # type: ignore[arg-type]
        elif rule_id in RULES:
            actions[rule_id] = action  # type: ignore[assignment]
        else:
            raise PluginConfigError(f"POLICY_RULES: unknown rule {rule_id!r}; known rules: {', '.join(RULES)}")
    return actions


def _decision(finding: Finding, action: Action) -> PolicyDecision:
    reason = RULES[finding.rule].summary + (f": {finding.detail}" if finding.detail else "")
    make = kiroclaw.block if action == "block" else kiroclaw.warn
    return make(reason, rule=finding.rule, file=finding.file, line=finding.line)


@kiroclaw.hookimpl
def check_addon(addon: AddonRecord, staged_path: Path, settings: Settings) -> list[PolicyDecision]:
    """Scan the staged add-on; one decision per finding whose rule is not ``off``.

    :returns: ``block``/``warn`` decisions (empty: nothing found), each naming file, line and rule.
    """
    actions = rule_actions(settings.policy_rules)
    findings = scan_tree(Path(staged_path), max_files=settings.max_addon_files)
    return [_decision(f, actions[f.rule]) for f in findings if actions.get(f.rule, "off") != "off"]


@kiroclaw.hookimpl
def startup(host: Any) -> None:
    """Fail at start-up, not at the first install, when ``POLICY_RULES`` is wrong."""
    rule_actions(host.settings.policy_rules)
