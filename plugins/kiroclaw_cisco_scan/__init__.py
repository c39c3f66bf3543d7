"""Optional plugin ``cisco-scan``: Cisco AI Defense's ``cisco-ai-skill-scanner`` beside the built-in policy.

Installed with ``pip install 'kiroclaw[cisco-scan]'``; without the scanner package the plugin stays
silent (it answers no ``check_addon`` call). The scanner is built once per process, in process (never its
CLI), with its *core* analyzers only (static YARA and Python rules, bytecode, pipeline: no LLM, no cloud
service, no network), on the first install that needs it. Each finding's severity becomes a verdict by
rule family (:mod:`kiroclaw_cisco_scan.mapping`); each Cisco rule id can be switched in ``POLICY_RULES``
as ``cisco.<RULE_ID>=block|warn|note|off``.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kiroclaw

from .mapping import verdict_for

if TYPE_CHECKING:
    from kiroclaw import AddonRecord, PolicyDecision, Settings

__all__ = ["check_addon", "scanner_available"]

_LOCK = threading.Lock()
_SCANNER: Any = None
PREFIX = "cisco."


def scanner_available() -> bool:
    """True when ``cisco-ai-skill-scanner`` is installed."""
    return importlib.util.find_spec("skill_scanner") is not None


def _scanner() -> Any:
    global _SCANNER
    with _LOCK:
        if _SCANNER is None:
            from skill_scanner.core.analyzer_factory import build_core_analyzers
            from skill_scanner.core.scan_policy import ScanPolicy
            from skill_scanner.core.scanner import SkillScanner

            policy = ScanPolicy.default()
            _SCANNER = SkillScanner(analyzers=build_core_analyzers(policy), policy=policy)
        return _SCANNER


def _overrides(entries: list[str] | tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in entries:
        rule, _, action = (part.strip() for part in entry.partition("="))
        if rule.lower().startswith(PREFIX):
            found[rule[len(PREFIX) :].upper()] = action.lower()
    return found


def _skill_dirs(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.rglob("SKILL.md") if path.is_file() and not path.is_symlink())


@kiroclaw.hookimpl
def check_addon(addon: AddonRecord, staged_path: Path, settings: Settings) -> list[PolicyDecision] | None:
    """Scan each skill of the staged add-on with the Cisco scanner's core analyzers.

    :returns: ``None`` when the scanner is not installed; else one decision per finding at or above its
        family's threshold (``cisco.<RULE_ID>`` rules), or one ``warn`` when the scanner failed.
    """
    if not scanner_available():
        return None
    overrides = _overrides(settings.policy_rules)
    decisions: list[PolicyDecision] = []
    root = Path(staged_path)
    try:
        scanner = _scanner()
        for folder in _skill_dirs(root):
            result = scanner.scan_skill(folder, lenient=True)
            for finding in result.findings:
                rule = str(finding.rule_id)
                verdict = overrides.get(rule.upper()) or verdict_for(finding.category.value, finding.severity.value)
                if verdict in (None, "off"):
                    continue
                file = (folder / finding.file_path).relative_to(root).as_posix() if finding.file_path else None
                make = {"block": kiroclaw.block, "warn": kiroclaw.warn, "note": kiroclaw.note}[verdict]
                decisions.append(
                    make(str(finding.title)[:200], rule=PREFIX + rule, file=file, line=finding.line_number)
                )
    except Exception as exc:  # a scanner error is a warning, never a silent pass
        decisions.append(kiroclaw.warn(f"the Cisco skill scanner failed: {type(exc).__name__}", rule=PREFIX + "error"))
    return decisions
