"""The CLI's read-only commands start light: ``kiroclaw addon list`` imports neither pydantic (the settings
nor the registry's models), asyncio, pluggy, any plugin, the registry client, the install policy, semver,
GitPython, PyYAML nor the network stacks; it reads the storage paths exactly as the settings model does
and the registry with the standard library. Speed itself is measured in ``python -m bench cli_startup``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from kiroclaw.config import Settings
from kiroclaw.storage_paths import storage_roots
from tests.conftest import DEMO_PACKAGE, run_kiroclaw

PROBE = """
import sys
from kiroclaw.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = (
    "pydantic", "pydantic_core", "pydantic_settings", "asyncio", "pluggy", "aiogram", "acp", "aiohttp", "httpx",
    "importlib_metadata", "semver", "yaml", "git", "filelock", "jinja2", "markdown_it", "redis", "yara_x",
)
core = ("kiroclaw.config", "kiroclaw.models", "kiroclaw.registry", "kiroclaw.host", "kiroclaw.plugins")
heavy += ("importlib.metadata",) if sys.argv[1:] == ["--version"] else ()
loaded = sorted(({m.split(".")[0] for m in sys.modules} | set(sys.modules)) & set(heavy))
loaded += sorted(set(core) & set(sys.modules))
plugins = sorted(m for m in sys.modules if m.startswith("kiroclaw_"))
print("HEAVY", loaded, plugins, file=sys.stderr)
"""


def _probe(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``args`` in a fresh interpreter; its stderr ends with what heavy it imported."""
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_addon_list_loads_nothing_heavy(tmp_path: Path) -> None:
    env = {"WORKSPACE_BASE_PATH": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    assert run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "5", env=env).returncode == 0
    for args in (["addon", "list", "--user", "5"], ["addon", "list", "--user", "5", "--json"]):
        done = _probe(tmp_path, env, *args)
        assert done.returncode == 0, done.stderr
        assert "demo-package" in done.stdout, done.stdout
        assert "HEAVY [] []" in done.stderr, done.stderr


def test_version_reads_no_package_metadata_and_matches_the_installed_distribution(tmp_path: Path) -> None:
    done = _probe(tmp_path, {"PATH": "/usr/bin:/bin"}, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"kiroclaw, version {importlib.metadata.version('kiroclaw')}"
    assert "HEAVY [] []" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("environ", "dotenv"),
    [
        ({}, ""),
        ({"WORKSPACE_BASE_PATH": "/srv/a"}, ""),
        ({"workspace_base_path": "/srv/lower"}, "WORKSPACE_BASE_PATH=/srv/file\n"),
        ({}, "WORKSPACE_BASE_PATH=/srv/file\nGLOBAL_ADDONS_PATH=/srv/shared\n"),
        ({"GLOBAL_ADDONS_PATH": "/srv/env-global"}, "# a comment\nexport WORKSPACE_BASE_PATH='/srv/quoted'\n"),
        ({}, 'WORKSPACE_BASE_PATH="relative/dir"  # trailing comment\n'),
    ],
)
def test_storage_roots_agree_with_the_settings_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], dotenv: str
) -> None:
    for name in ("WORKSPACE_BASE_PATH", "GLOBAL_ADDONS_PATH", "workspace_base_path"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    settings = Settings()
    assert storage_roots() == (settings.workspace_base_path, settings.global_root)
