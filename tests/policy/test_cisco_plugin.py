"""The optional Cisco scanner plugin (``kiroclaw[cisco-scan]``): severities mapped by family, silent when
the scanner is not installed, its rule ids switchable through ``POLICY_RULES``."""

from __future__ import annotations

from pathlib import Path

import pytest
from kiroclaw_cisco_scan import _overrides, scanner_available
from kiroclaw_cisco_scan.mapping import verdict_for
from kiroclaw_policy import rule_actions

from kiroclaw import Scope
from kiroclaw.config import Settings
from kiroclaw.host import Host
from tests.conftest import write_skill


@pytest.mark.parametrize(
    ("category", "severity", "verdict"),
    [
        ("command_injection", "CRITICAL", "block"),
        ("data_exfiltration", "HIGH", "block"),
        ("command_injection", "MEDIUM", "warn"),
        ("prompt_injection", "CRITICAL", "warn"),
        ("social_engineering", "MEDIUM", "warn"),
        ("policy_violation", "LOW", None),
        ("obfuscation", "INFO", None),
    ],
)
def test_severities_are_mapped_by_family(category: str, severity: str, verdict: str | None) -> None:
    assert verdict_for(category, severity) == verdict


def test_cisco_rule_ids_are_switched_in_policy_rules() -> None:
    entries = ["cisco.YARA_command_injection_generic=off", "curl-pipe-shell=warn"]
    assert _overrides(entries) == {"YARA_COMMAND_INJECTION_GENERIC": "off"}
    assert rule_actions(entries)["curl-pipe-shell"] == "warn"  # the built-in policy accepts the cisco. entries


@pytest.mark.skipif(scanner_available(), reason="checks the plugin without the optional scanner installed")
async def test_without_the_scanner_the_plugin_is_silent(workspace: Path, tmp_path: Path) -> None:
    host = Host(Settings(_env_file=None, workspace_base_path=workspace))  # type: ignore[call-arg]
    assert "cisco-scan" in host.plugins
    result = await host.addons.install(str(write_skill(tmp_path / "src", "weather-api")), Scope.user(5))
    assert not any("cisco." in w for w in result.warnings)
