"""Crash safety: ``kiroclaw addon install`` killed with SIGKILL at each stage, then start-up fsck.

Every run is a real ``kiroclaw`` subprocess killed by the env-gated checkpoint (:mod:`kiroclaw.faults`);
the "restart" is :func:`kiroclaw.fsck.reconcile_all`, exactly what the bot's start-up hook runs. After
every run: ``addons.json`` parses, no staging or temp leftovers, registry and folders agree (each listed
folder exists with its marker and its fingerprint, nothing unlisted is visible to the resolver), and the
add-on installed before the crash is untouched.
"""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kiroclaw import Scope
from kiroclaw.config import Settings
from kiroclaw.faults import POINTS
from kiroclaw.fingerprint import tree_fingerprint
from kiroclaw.fsck import reconcile_all
from kiroclaw.host import Host
from kiroclaw.registry import MARKER_FILE, parse_registry, read_marker
from tests.conftest import run_kiroclaw, write_skill

RUNS = int(os.environ.get("KIROCLAW_KILL_RUNS", "10"))
#: kill at the 2nd copied file for "mid-extract", so the staged tree is really half written
KILL_AT = {point: point for point in POINTS} | {"mid-extract": "mid-extract@2"}


def _skill(src: Path, name: str, version: str) -> Path:
    folder = write_skill(src, name, extra={"metadata": {"version": version}}, body=f"# {name} {version}\n")
    for index in range(4):
        (folder / "references").mkdir(exist_ok=True)
        (folder / "references" / f"r{index}.md").write_text(f"{name} {version} {index}\n" * 200)
    return folder


def check_invariants(settings: Settings, scope: Scope) -> dict[str, str]:
    """The crash-safety invariants of one scope; :returns: listed add-on name → version."""
    host = Host(settings)
    paths = host.paths(scope)
    doc = parse_registry(paths.registry_file.read_bytes()) if paths.registry_file.exists() else None
    records = doc.addons if doc else []
    assert not paths.staging_dir.exists() or not any(paths.staging_dir.iterdir()), "orphan staging"
    assert not list(paths.root.glob(".addons.json.*.tmp")), "registry temp file left"
    on_disk = {
        f"{kind.parent.name}/{kind.name}/{child.name}"
        for kind in (paths.skills_dir, paths.plugins_dir)
        if kind.is_dir()
        for child in kind.iterdir()
    }
    assert on_disk == {r.path for r in records}, "registry and folders disagree"
    for record in records:
        folder = paths.root / record.path
        marker = read_marker(folder)
        assert marker is not None and marker.name == record.name
        assert tree_fingerprint(folder) == record.fingerprint, f"{record.name} is not complete"
    visible = {s.name for s in host.effective_set(scope.user_id or 0).skills if s.layer.startswith("user")}
    assert visible == {skill for r in records if r.enabled for skill in r.skills}
    return {r.name: r.version or "" for r in records}


def _one_point(point: str, base: Path) -> list[dict[str, float | bool | str]]:
    workspace = base / "workspaces"
    src = base / "src"
    settings = Settings(_env_file=None, workspace_base_path=workspace)  # type: ignore[call-arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "WORKSPACE_", "MAX_ADDON"))}
    env |= {"WORKSPACE_BASE_PATH": str(workspace), "PYTHONDONTWRITEBYTECODE": "1", "POLICY_RULES": "*=off"}
    scope = Scope.user(42)
    first = run_kiroclaw("addon", "install", str(_skill(src, "base-skill", "1")), "--user", "42", env=env)
    assert first.returncode == 0, first.stderr
    results = []
    base_version = "1"
    for run in range(RUNS):
        # every third run replaces the existing add-on (--force), the others install a new one
        replace = run % 3 == 2
        name, version = ("base-skill", f"2.{run}") if replace else (f"new-{run}", "1")
        folder = _skill(src / f"run{run}", name, version)
        args = ["addon", "install", str(folder), "--user", "42", "--yes"] + (["--force"] if replace else [])
        killed = run_kiroclaw(*args, env=env | {"KIROCLAW_FAULT_KILL_AT": KILL_AT[point]})
        started = time.monotonic()
        report = reconcile_all(Host(settings), repair=True)
        recovery = time.monotonic() - started
        listed = check_invariants(settings, scope)
        assert "base-skill" in listed, "the add-on installed before the crash disappeared"
        # a killed replace leaves the old version or (killed after the rename) the new one, never a mix
        assert listed["base-skill"] == base_version or (replace and listed["base-skill"] == version)
        base_version = listed["base-skill"]
        after = reconcile_all(Host(settings), repair=False)
        assert after.consistent and not after.problems, after.problems
        results.append(
            {
                "point": point,
                "killed": killed.returncode == -signal.SIGKILL,
                "recovery_seconds": recovery,
                "repaired": len(report.repaired),
                "completed": name in listed and listed[name] == version,
            }
        )
    return results


def test_kill_matrix(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=len(POINTS)) as pool:
        futures = {p: pool.submit(_one_point, p, tmp_path / p) for p in POINTS}
        results = {p: f.result() for p, f in futures.items()}
    summary = {}
    for point, runs in results.items():
        assert len(runs) == RUNS
        assert all(r["killed"] for r in runs), f"{point}: a run was not killed at the checkpoint"
        summary[point] = {
            "runs": len(runs),
            "failures": 0,
            "completed_after_recovery": sum(bool(r["completed"]) for r in runs),
            "max_recovery_seconds": round(max(float(r["recovery_seconds"]) for r in runs), 4),
        }
    # the kill before the rename always loses the install, after it always keeps it
    assert summary["after-download"]["completed_after_recovery"] == 0
    assert summary["staged"]["completed_after_recovery"] == 0
    assert summary["after-rename"]["completed_after_recovery"] == RUNS
    assert summary["mid-registry-write"]["completed_after_recovery"] == RUNS
    out = os.environ.get("KIROCLAW_KILL_REPORT")
    if out:
        Path(out).write_text(json.dumps(summary, indent=2))


@pytest.mark.parametrize("point", ["staged", "after-rename"])
def test_cli_fsck_reports_then_repairs(tmp_path: Path, cli_env: dict[str, str], workspace: Path, point: str) -> None:
    folder = _skill(tmp_path / "src", "crashy", "1")
    env = cli_env | {"KIROCLAW_FAULT_KILL_AT": point}
    killed = run_kiroclaw("addon", "install", str(folder), "--user", "42", "--yes", env=env)
    assert killed.returncode == -signal.SIGKILL
    check = run_kiroclaw("fsck", "--json", env=cli_env)
    assert check.returncode == 1, check.stdout + check.stderr
    kinds = {p["kind"] for p in json.loads(check.stdout)["problems"]}
    assert "orphan-staging" in kinds
    if point == "after-rename":
        assert "unregistered" in kinds
    repair = run_kiroclaw("fsck", "--repair", env=cli_env)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "repaired" in repair.stdout
    again = run_kiroclaw("fsck", env=cli_env)
    assert again.returncode == 0 and "all consistent" in again.stdout
    marker = workspace / "42" / ".kiro" / "skills" / "crashy" / MARKER_FILE
    assert marker.exists() == (point == "after-rename")
