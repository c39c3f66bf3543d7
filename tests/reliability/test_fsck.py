"""fsck repairs, one scenario per problem kind (kiroclaw.fsck), built from a real install."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kiroclaw import Scope
from kiroclaw.config import Settings
from kiroclaw.fsck import QUARANTINE_DIR, reconcile_all
from kiroclaw.host import Host
from kiroclaw.registry import MARKER_FILE, load_registry
from tests.conftest import write_skill
from tests.reliability.test_crash import check_invariants

SCOPE = Scope.user(42)


@pytest.fixture
async def host(workspace: Path, tmp_path: Path) -> Host:
    host = Host(Settings(_env_file=None, workspace_base_path=workspace))  # type: ignore[call-arg]
    for name in ("alpha", "beta"):
        await host.addons.install(str(write_skill(tmp_path / "src", name)), SCOPE)
    return host


def _kinds(host: Host, **kwargs: object) -> dict[str, bool]:
    report = reconcile_all(host, **kwargs)  # type: ignore[arg-type]
    return {p.kind: p.repaired for p in report.problems}


async def test_consistent_scope_has_no_problems(host: Host) -> None:
    report = reconcile_all(host, repair=False)
    assert report.scopes == 1 and report.problems == [] and report.consistent


async def test_folder_moved_aside_by_a_killed_remove_is_restored(host: Host) -> None:
    paths = host.paths(SCOPE)
    aside = paths.staging_dir / "deadbeef" / "old-0"
    aside.parent.mkdir(parents=True)
    os.rename(paths.skills_dir / "alpha", aside)
    assert _kinds(host, repair=False) == {"restored": False, "orphan-staging": False}
    assert _kinds(host) == {"restored": True, "orphan-staging": True}
    assert (paths.skills_dir / "alpha" / "SKILL.md").exists()
    check_invariants(host.settings, SCOPE)


async def test_listed_add_on_without_folder_is_dropped(host: Host) -> None:
    shutil.rmtree(host.paths(SCOPE).skills_dir / "beta")
    assert _kinds(host) == {"missing-folder": True}
    assert [r.name for r in host.addons.list(SCOPE)] == ["alpha"]


async def test_lost_marker_is_rewritten_from_the_registry(host: Host) -> None:
    marker = host.paths(SCOPE).skills_dir / "alpha" / MARKER_FILE
    marker.write_text("{not json")
    assert _kinds(host) == {"missing-marker": True}
    check_invariants(host.settings, SCOPE)


async def test_unmanaged_folder_is_reported_then_moved_out_of_sight(host: Host, tmp_path: Path) -> None:
    paths = host.paths(SCOPE)
    write_skill(paths.skills_dir, "hand-placed")
    assert _kinds(host) == {"unmanaged": False}  # start-up: reported, not moved
    assert _kinds(host, move_unmanaged=True) == {"unmanaged": True}
    assert not (paths.skills_dir / "hand-placed").exists()
    (moved,) = (paths.root / QUARANTINE_DIR).iterdir()
    assert (moved / "SKILL.md").exists()
    assert reconcile_all(host, repair=False).consistent


async def test_rebuild_keeps_every_marked_add_on(host: Host) -> None:
    paths = host.paths(SCOPE)
    before = {r.name: r.fingerprint for r in load_registry(paths).addons}
    paths.registry_file.write_bytes(b"")
    assert _kinds(host) == {"corrupt-registry": True}
    assert {r.name: r.fingerprint for r in load_registry(paths).addons} == before
    assert len(list(paths.root.glob("addons.json.corrupt-*"))) == 1


async def test_startup_check_skips_a_scope_another_process_is_using(host: Host) -> None:
    import subprocess
    import sys
    import time

    lock = host.paths(SCOPE).lock_file
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import filelock,sys,time\nwith filelock.FileLock({str(lock)!r}):\n print(1, flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"1"
        started = time.monotonic()
        report = reconcile_all(host, skip_busy=True)
        assert time.monotonic() - started < 5
        assert [(p.kind, p.repaired) for p in report.problems] == [("busy", False)]
    finally:
        holder.kill()
        holder.wait()
