"""How a Cisco AI Defense ``cisco-ai-skill-scanner`` finding becomes a KiroClaw verdict (no imports of
either package, so the bench can use it in the scanner's own environment).

Severities are mapped by rule family: the *chain* families (command injection, data exfiltration,
malware, obfuscation, supply-chain attack: code that runs or leaks) block at HIGH and CRITICAL; every
other family warns from MEDIUM; LOW, INFO and SAFE findings are dropped; a scanner error warns.
"""

from __future__ import annotations

from typing import Literal

Verdict = Literal["block", "warn"]

#: Cisco threat categories whose HIGH/CRITICAL findings block.
CHAIN_FAMILIES = frozenset({"command_injection", "data_exfiltration", "malware", "obfuscation", "supply_chain_attack"})
_RANK = {"SAFE": 0, "INFO": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}


def verdict_for(category: str, severity: str) -> Verdict | None:
    """The verdict of one finding (``category``: ThreatCategory value, ``severity``: Severity value)."""
    rank = _RANK.get(severity.upper(), 0)
    if category in CHAIN_FAMILIES and rank >= _RANK["HIGH"]:
        return "block"
    if rank >= _RANK["MEDIUM"]:
        return "warn"
    return None
