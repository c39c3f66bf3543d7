"""Interop: the real ``clawhub`` npm CLI (pinned) against ``kiroclaw hub serve``.

The CLI is installed once from the npm registry into a temporary folder keyed by its version, so repeated
runs are fast. Skipped, with the reason, when node/npm are missing or the package cannot be installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock

from kiroclaw.fingerprint import tree_fingerprint

from .conftest import ServedHub

CLAWHUB_VERSION = "0.23.3"

pytestmark = pytest.mark.network_npm

#: the reason the npm install failed in this run (tried once per run, not once per test)
_install_failure: list[str] = []


def clawhub_bin() -> Path:
    """Path of the pinned ``clawhub`` CLI, installing it on first use; skips the test when impossible."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot run the clawhub CLI")
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install the clawhub CLI")
    prefix = Path(tempfile.gettempdir()) / f"kiroclaw-clawhub-{CLAWHUB_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "clawhub"
    prefix.mkdir(parents=True, exist_ok=True)
    if _install_failure:
        pytest.skip(_install_failure[0])
    with FileLock(str(prefix) + ".lock", timeout=300):
        if not binary.exists():
            result = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--fetch-retries=1",
                    f"clawhub@{CLAWHUB_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
            if result.returncode != 0 or not binary.exists():
                _install_failure.append(
                    f"could not install clawhub@{CLAWHUB_VERSION} from npm: {result.stderr.strip()[-300:]}"
                )
                pytest.skip(_install_failure[0])
    return binary


@pytest.fixture
def clawhub(served: ServedHub, tmp_path: Path):  # type: ignore[no-untyped-def]
    binary = clawhub_bin()
    home = tmp_path / "home"
    home.mkdir()
    workdir = tmp_path / "wd"
    workdir.mkdir()
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "CLAWHUB_REGISTRY": served.url,
        "CLAWHUB_CONFIG_PATH": str(home / "clawhub.json"),
        "CLAWHUB_DISABLE_TELEMETRY": "1",
        "NO_COLOR": "1",
    }

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in {**base_env, **(env or {})}.items() if v}
        return subprocess.run(
            [str(binary), "--workdir", str(workdir), "--no-input", *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    run.workdir = workdir  # type: ignore[attr-defined]
    return run


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.relative_to(folder).as_posix().startswith(".clawhub")
    }


def test_clawhub_cli_search_install_version_and_update(clawhub, catalog: Path) -> None:  # type: ignore[no-untyped-def]
    found = clawhub("search", "weather")
    assert found.returncode == 0, found.stderr
    assert "weather-api v1.1.0" in found.stdout and "@alice" in found.stdout
    assert "evil-tool" not in found.stdout

    pinned = clawhub("install", "weather-api", "--version", "1.0.0")
    assert pinned.returncode == 0, pinned.stderr + pinned.stdout
    folder = clawhub.workdir / "skills" / "weather-api"
    assert files_of(folder) == files_of(catalog / "weather-api" / "1.0.0")
    origin = json.loads((folder / ".clawhub" / "origin.json").read_text())
    assert origin["fingerprint"] == tree_fingerprint(folder), "the CLI and KiroClaw must agree on fingerprints"

    updated = clawhub("update", "weather-api")
    assert updated.returncode == 0, updated.stderr + updated.stdout
    assert files_of(folder) == files_of(catalog / "weather-api" / "1.1.0")
    lock = json.loads((clawhub.workdir / ".clawhub" / "lock.json").read_text())
    assert lock["skills"]["weather-api"]["version"] == "1.1.0"
    assert lock["skills"]["weather-api"]["ownerHandle"] == "alice"

    latest = clawhub("install", "plain-notes")
    assert latest.returncode == 0, latest.stderr + latest.stdout
    assert files_of(clawhub.workdir / "skills" / "plain-notes") == files_of(catalog / "plain-notes" / "2.0.0")
    current = clawhub("update", "plain-notes")
    assert current.returncode == 0 and "up to date" in (current.stdout + current.stderr)


def test_clawhub_cli_honours_our_moderation_flags(clawhub) -> None:  # type: ignore[no-untyped-def]
    blocked = clawhub("install", "evil-tool", "--force")
    assert blocked.returncode != 0 and "malicious" in (blocked.stdout + blocked.stderr).lower()
    shady = clawhub("install", "shady-tool")
    assert shady.returncode != 0 and "suspicious" in (shady.stdout + shady.stderr).lower()
    assert not (clawhub.workdir / "skills" / "evil-tool").exists()
    assert not (clawhub.workdir / "skills" / "shady-tool").exists()


def test_clawhub_cli_inspect_explore_and_site_discovery(clawhub, served: ServedHub) -> None:  # type: ignore[no-untyped-def]
    inspected = clawhub("inspect", "weather-api", "--versions", "--files")
    out = inspected.stdout + inspected.stderr
    assert inspected.returncode == 0, out
    assert "1.1.0" in out and "1.0.0" in out and "scripts/run.sh" in out
    explored = clawhub("explore")
    assert explored.returncode == 0 and "plain-notes" in explored.stdout and "evil-tool" not in explored.stdout
    found = clawhub("search", "forecasts", env={"CLAWHUB_REGISTRY": "", "CLAWHUB_SITE": served.url})
    assert found.returncode == 0 and "weather-api" in found.stdout, found.stderr
