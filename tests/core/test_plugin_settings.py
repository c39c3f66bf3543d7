"""Plugins own their settings: each built-in source reads its own pydantic-settings model with its prefix,
under the same environment variable names as before; bad values stop start-up naming the variable; the
read-only ``addon list`` loads no plugin code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import kiroclaw
from kiroclaw.config import Settings
from kiroclaw.host import Host


def test_sources_read_their_own_settings_under_the_same_names(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("GITHUB_BASE_URL", "https://git.example.test")
    monkeypatch.setenv("GIT_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("KIROHUB_REGISTRY_URL", "https://hub.example.test")
    host = Host(Settings(workspace_base_path=tmp_path / "ws"))
    github = host.sources["github"]
    assert github.own.base_url == "https://git.example.test" and github.own.timeout_seconds == 7  # type: ignore[attr-defined]
    assert host.sources["kirohub"].client.registry_url == "https://hub.example.test"  # type: ignore[attr-defined]
    assert not hasattr(Settings, "kirohub_registry_url") and "github_base_url" not in Settings.model_fields
    # values given to the core Settings by the variable's name reach the plugin (tests, embedding)
    host = Host(Settings(_env_file=None, workspace_base_path=tmp_path / "ws", kirohub_registry_url="file:///x"))
    assert host.sources["kirohub"].client.registry_url == "file:///x"  # type: ignore[attr-defined]


def test_an_invalid_plugin_setting_stops_start_up_naming_the_variable(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KIROHUB_RETRIES", "-1")
    with pytest.raises(kiroclaw.PluginError, match="KIROHUB_RETRIES"):
        Host(Settings(workspace_base_path=tmp_path / "ws"))


@pytest.mark.parametrize("command", [["addon", "list"], ["skills"], ["recipes"]])
def test_read_only_commands_load_no_builtin_plugin_code(cli_env, workspace: Path, command: list[str]) -> None:
    """``addon list`` reads the registry without a host; ``skills``/``recipes`` build a host without
    KiroClaw's own source and policy plugins (third-party plugins still load: they may add layers)."""
    code = (
        "import sys\n"
        "from kiroclaw.cli import main\n"
        "try:\n"
        f"    main({command!r} + ['--user', '42', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "watched = ('aiohttp',) if sys.argv[-1] != 'list' else ('kiroclaw.host', 'kiroclaw.plugins', 'aiohttp')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('kiroclaw_') or m in watched)\n"
        "print('LOADED=' + ','.join(loaded), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, command[-1]], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert json.loads(proc.stdout) in ({"addons": []}, {"skills": [], "shadowed": []}, {"recipes": [], "shadowed": []})
    assert "LOADED=\n" in proc.stderr + "\n", proc.stderr
