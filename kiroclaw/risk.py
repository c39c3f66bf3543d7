"""An add-on's risk, as search, list and info show it: ``blocked`` (⛔), ``suspicious`` (⚠️) or none.

Two kinds of evidence, one vocabulary:

* what a registry says before anything is installed (ClawHub's moderation flags and verdict, and a
  version's security-scan status, ``kirohub-protocol.md`` §9): :func:`registry_risk`, which sources use
  for :attr:`~kiroclaw.SearchHit.risk` and :attr:`~kiroclaw.AddonInfo.risk`;
* what was accepted at install time and kept in the add-on's registry record: a registry flag the user
  confirmed (the ``kirohub`` source records ``origin["moderation"]`` / ``origin["security"]``) and the
  install policy's ``warn`` findings the user confirmed (``warnings`` lines starting ``confirmed:``,
  written by :meth:`kiroclaw.install.InstallPipeline._police`): :func:`record_risk`.

Nothing installed is ever ``blocked``: a block refuses the install.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import AddonRecord

SUSPICIOUS = "suspicious"
BLOCKED = "blocked"
#: What chat and the CLI's human output put before a flagged name.
ICONS = {SUSPICIOUS: "⚠️", BLOCKED: "⛔"}
#: Security-scan statuses of a version that ask the user before installing (``malicious`` blocks).
ASKING_SECURITY = frozenset({"suspicious", "pending", "error"})
#: The ``warnings`` prefix of install-policy findings the user confirmed.
CONFIRMED_PREFIX = "confirmed: "


def registry_risk(
    moderation: Mapping[str, Any] | None,
    *,
    security: str | None = None,
    verdict: str | None = None,
) -> tuple[str | None, tuple[str, ...]]:
    """The risk a registry's answer shows, and why.

    :param moderation: ClawHub's ``moderation`` object (``isSuspicious``, ``isMalwareBlocked``, ``verdict``,
        ``reasonCodes``, ``summary``) or ``None``.
    :param security: a version's ``security.status`` (``clean|suspicious|malicious|pending|error``).
    :param verdict: a bare verdict where a registry gives only that (search rows' ``trust.clawHubVerdict``).
    :returns: ``("blocked" | "suspicious" | None, reasons)``; reasons are the reason codes and summary,
        else a sentence naming the flag.
    """
    mod = moderation or {}
    verdicts = {str(v).lower() for v in (mod.get("verdict"), verdict) if v}
    status = (security or "").lower()
    reasons: list[str] = [str(code) for code in mod.get("reasonCodes") or () if code]
    if mod.get("summary"):
        reasons.append(str(mod["summary"]))
    if mod.get("isMalwareBlocked") or "malicious" in verdicts or status == "malicious":
        if status == "malicious" and not (mod.get("isMalwareBlocked") or "malicious" in verdicts):
            reasons.append("the registry's security scan of this version: malicious")
        return BLOCKED, tuple(reasons or ["flagged as malicious by the registry"])
    if mod.get("isSuspicious") or "suspicious" in verdicts or status in ASKING_SECURITY:
        if status in ASKING_SECURITY:
            reasons.append(f"the registry's security scan of this version: {status}")
        return SUSPICIOUS, tuple(reasons or ["flagged as suspicious by the registry"])
    return None, ()


def record_risk(record: AddonRecord) -> tuple[str | None, tuple[str, ...]]:
    """The flag an installed add-on keeps: ``("suspicious", reasons)`` when it was installed over a registry
    flag or confirmed install-policy warnings, else ``(None, ())``."""
    reasons: list[str] = []
    if record.origin.get("moderation") == SUSPICIOUS:
        reasons.append("the registry flags it as suspicious")
    status = record.origin.get("security", "")
    if status in ASKING_SECURITY:
        reasons.append(f"the registry's security scan: {status}")
    reasons += _confirmed(record.warnings)
    return (SUSPICIOUS, tuple(reasons)) if reasons else (None, ())


def _confirmed(warnings: Iterable[str]) -> list[str]:
    return [w.removeprefix(CONFIRMED_PREFIX) for w in warnings if w.startswith(CONFIRMED_PREFIX)]


def icon(risk: str | None) -> str:
    """``"⚠️ "`` / ``"⛔ "`` (with the space) for a risk, ``""`` for none."""
    return f"{ICONS[risk]} " if risk in ICONS else ""
