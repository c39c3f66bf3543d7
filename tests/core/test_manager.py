"""The AddonManager in-process: quotas under concurrency, rollback, update, control files, search."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

import kiroclaw
from kiroclaw import hookimpl
from kiroclaw.addons import AddonManager, package_dir_for
from kiroclaw.config import Settings
from kiroclaw.errors import (
    AlreadyInstalledError,
    NotFoundError,
    NotSupportedError,
    QuotaExceededError,
    SpecError,
    StorageError,
    UnsafeContentError,
)
from kiroclaw.host import Host
from kiroclaw.registry import MARKER_FILE, load_registry
from kiroclaw.sources import Fetched, Ref, SearchHit, Source
from kiroclaw.staging import walk_staged_tree
from kiroclaw.workspaces import Scope
from tests.conftest import DEMO_PACKAGE, snapshot, write_package, write_skill

USER = Scope.user(42)


async def test_ten_concurrent_installs_with_quota_five(workspace: Path, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, workspace_base_path=workspace, max_addons_per_user=5)
    host = Host(settings)
    specs = [str(write_skill(tmp_path / f"s{i}", f"skill-{i}")) for i in range(10)]
    results = await asyncio.gather(*(host.addons.install(s, USER) for s in specs), return_exceptions=True)
    installed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(installed) == 5 and len(refused) == 5
    assert all(isinstance(r, QuotaExceededError) for r in refused)
    names = sorted(r.record.name for r in installed)
    assert [r.name for r in host.addons.list(USER)] == names
    assert sorted(p.name for p in (host.paths(USER).skills_dir).iterdir()) == names
    assert not host.paths(USER).staging_dir.exists()


async def test_two_managers_in_one_process_serialise_through_the_file_lock(settings, tmp_path: Path) -> None:
    # two hosts = two asyncio locks; only the file lock keeps their read-modify-write cycles apart
    a, b = Host(settings), Host(settings)
    specs = [str(write_skill(tmp_path / f"s{i}", f"parallel-{i}")) for i in range(8)]
    await asyncio.gather(*(h.addons.install(s, USER) for h, s in zip([a, b] * 4, specs, strict=True)))
    assert len(a.addons.list(USER)) == 8


async def test_failed_registry_write_rolls_the_tree_back(host, tmp_path: Path, monkeypatch) -> None:
    await host.addons.install(str(write_skill(tmp_path / "a", "keeper")), USER)
    root = host.paths(USER).root
    before = snapshot(root)

    def disk_full(paths, doc) -> None:
        raise StorageError("could not write addons.json (No space left on device)")

    # the install pipeline (kiroclaw.install) and the facade's remove (kiroclaw.addons) both write it
    monkeypatch.setattr("kiroclaw.install.save_registry", disk_full)
    monkeypatch.setattr("kiroclaw.addons.save_registry", disk_full)
    with pytest.raises(StorageError):
        await host.addons.install(str(DEMO_PACKAGE), USER)
    with pytest.raises(StorageError):
        await host.addons.install(str(write_skill(tmp_path / "b", "keeper", "New text.")), USER, force=True)
    with pytest.raises(StorageError):
        await host.addons.remove("keeper", USER)
    assert snapshot(root) == before


async def test_force_reinstall_replaces_the_folder_and_keeps_enabled_state(host, tmp_path: Path) -> None:
    src = write_package(tmp_path / "pack", skills=["one", "two"])
    await host.addons.install(str(src), USER)
    await host.addons.disable("pack", USER)
    (src / "skills" / "two").rename(tmp_path / "moved-away")
    result = await host.addons.install(str(src), USER, force=True)
    assert result.replaced is not None and result.replaced.skills == ["one", "two"]
    assert result.record.skills == ["one"] and result.record.enabled is False
    assert not (host.paths(USER).plugins_dir / "pack" / "skills" / "two").exists()
    assert result.record.installed_at == result.replaced.installed_at


async def test_a_stray_folder_needs_force(host, tmp_path: Path) -> None:
    write_skill(host.paths(USER).skills_dir, "hand-made")
    with pytest.raises(AlreadyInstalledError, match="not installed with kiroclaw"):
        await host.addons.install(str(write_skill(tmp_path, "hand-made")), USER)
    result = await host.addons.install(str(write_skill(tmp_path, "hand-made")), USER, force=True)
    assert result.record.name == "hand-made"


async def test_marker_is_the_record_and_fingerprint_matches(host) -> None:
    result = await host.addons.install(str(DEMO_PACKAGE), USER)
    folder = host.paths(USER).root / result.record.path
    marker = json.loads((folder / MARKER_FILE).read_text())
    assert marker["name"] == "demo-package" and marker["fingerprint"] == result.record.fingerprint
    assert kiroclaw.AddonRecord.model_validate(marker).skills == result.record.skills
    from kiroclaw.fingerprint import tree_fingerprint

    assert tree_fingerprint(folder) == result.record.fingerprint  # the marker (a dotfile) is not covered


class EvilSource(Source):
    """Stages whatever the test asks for, including things a source must never stage."""

    name = "evil"

    def parse(self, spec: str) -> Ref:
        return Ref(source=self.name, spec=spec, locator=spec, name="evil-pack")

    async def fetch(self, ref: Ref, staging_dir: Path, context) -> Fetched:
        root = staging_dir / "pkg"
        write_skill(root / "skills", "fine")
        if ref.locator == "control-file":
            (root / "skills" / "fine" / MARKER_FILE).write_text("{}")  # inside what is installed
        elif ref.locator == "link":
            (root / "skills" / "fine" / "data").symlink_to("/etc")
        elif ref.locator == "outside":
            return Fetched(root=Path("/tmp"))
        elif ref.locator == "bad-dir":
            return Fetched(root=root, package_dir="../escape")
        return Fetched(root=root, name="evil/pack")


class EvilPlugin:
    @hookimpl
    def register_sources(self, register):
        register(EvilSource())


@pytest.mark.parametrize(
    ("locator", "error", "text"),
    [
        ("control-file", UnsafeContentError, "reserved"),
        ("outside", UnsafeContentError, "outside its staging folder"),
        ("bad-dir", SpecError, "package folder"),
    ],
)
async def test_core_refuses_what_a_source_must_not_stage(settings, locator, error, text) -> None:
    host = Host(settings, extra_plugins=[("evil", EvilPlugin())])
    with pytest.raises(error, match=text):
        await host.addons.install(f"evil:{locator}", USER)
    assert host.addons.list(USER) == []
    assert snapshot(host.paths(USER).root) == {}


async def test_a_link_a_source_wrote_on_disk_is_left_out_never_followed(settings) -> None:
    """Issue 11: an absolute link inside an installed skill is left out (one line); no link reaches the
    user's folder and nothing outside staging is read."""
    host = Host(settings, extra_plugins=[("evil", EvilPlugin())])
    result = await host.addons.install("evil:link", USER)
    assert result.skipped == ["skills/fine/data: link is absolute (/etc); left out"]
    folder = host.paths(USER).root / result.record.path / "skills" / "fine"
    assert (folder / "SKILL.md").is_file() and not os.path.lexists(folder / "data")
    assert not [p for p in host.paths(USER).root.rglob("*") if p.is_symlink()]


async def test_package_name_org_repo_lands_in_org_at_repo(settings) -> None:
    host = Host(settings, extra_plugins=[("evil", EvilPlugin())])
    result = await host.addons.install("evil:ok", USER)
    assert (result.record.name, result.record.path) == ("evil/pack", ".kiro/plugins/evil@pack")
    assert [s.qualified_name for s in host.effective_set(42).skills] == ["evil/pack/fine"]
    assert host.addons.get("evil@pack", USER).name == "evil/pack"  # the folder name finds it too
    await host.addons.remove("evil/pack", USER)
    assert host.effective_set(42).skills == []


def test_package_dir_for() -> None:
    assert package_dir_for("org/repo") == "org@repo"
    for bad in ("../x", "a/../b", ".hidden", "", "a b"):
        with pytest.raises(SpecError):
            package_dir_for(bad)


def test_scan_staged_tree_counts_and_caps(tmp_path: Path) -> None:
    write_package(tmp_path / "p", skills=["a", "b"])
    scan = walk_staged_tree(tmp_path / "p", max_bytes=10**6, max_files=10, max_depth=8, max_path_chars=100)
    assert len(scan.files) == 3
    with pytest.raises(kiroclaw.LimitExceededError, match="more than 2 files"):
        walk_staged_tree(tmp_path / "p", max_bytes=10**6, max_files=2, max_depth=8, max_path_chars=100)
    with pytest.raises(kiroclaw.LimitExceededError, match="deeper or longer"):
        walk_staged_tree(tmp_path / "p", max_bytes=10**6, max_files=10, max_depth=2, max_path_chars=100)


async def test_update_reports_current_updated_local_edits_and_unsupported(settings, tmp_path: Path) -> None:
    host = Host(settings, extra_plugins=[("evil", EvilPlugin())])
    src = write_skill(tmp_path / "src", "evolving", "First version.", extra={"metadata": {"version": "1.0"}})
    await host.addons.install(str(src), USER)
    await host.addons.install("evil:ok", USER)
    results = {r.name: r for r in await host.addons.update(None, USER)}
    assert results["evolving"].status == "current"
    assert (results["evil/pack"].status, results["evil/pack"].message) == (
        "unsupported",
        "the evil source cannot check for updates",
    )

    write_skill(tmp_path / "src", "evolving", "Second version.", extra={"metadata": {"version": "2.0"}})
    installed = host.paths(USER).skills_dir / "evolving" / "notes.md"
    installed.write_text("my local notes\n")
    (result,) = await host.addons.update("evolving", USER)
    assert result.status == "failed" and "local edits" in result.message
    assert installed.exists()
    (result,) = await host.addons.update("evolving", USER, force=True)
    assert (result.status, result.old, result.new) == ("updated", "1.0", "2.0")
    assert not installed.exists()
    assert host.addons.get("evolving", USER).version == "2.0"
    assert host.addons.get("evolving", USER).updated_at is not None


async def test_update_skips_pinned_add_ons(host, tmp_path: Path) -> None:
    await host.addons.install(str(write_skill(tmp_path, "pinned-one")), USER)
    paths = host.paths(USER)
    doc = load_registry(paths)
    from kiroclaw.registry import save_registry

    save_registry(paths, doc.model_copy(update={"addons": [doc.addons[0].model_copy(update={"pinned": True})]}))
    (result,) = await host.addons.update(None, USER)
    assert result.status == "pinned"


async def test_not_found_names_what_is_installed(host, tmp_path: Path) -> None:
    await host.addons.install(str(write_skill(tmp_path, "present")), USER)
    with pytest.raises(NotFoundError, match=r"'absent' is not installed in user 42 \(installed: present\)"):
        await host.addons.remove("absent", USER)
    with pytest.raises(NotFoundError):
        await host.addons.update("absent", USER)


class FinderSource(Source):
    name = "finder"

    async def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        return [SearchHit(name=f"{query}-{i}", source=self.name) for i in range(3)][:limit]


class BrokenSearch(Source):
    name = "flaky"

    async def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        raise kiroclaw.SourceError("the registry did not answer")


async def test_search_fans_out_to_sources_that_can(settings) -> None:
    class Plugin:
        @hookimpl
        def register_sources(self, register):
            register(FinderSource())
            register(BrokenSearch())

    host = Host(settings, extra_plugins=[("finder", Plugin())])
    hits = await host.addons.search("weather", limit=2)
    assert [(h.name, h.source) for h in hits] == [("weather-0", "finder"), ("weather-1", "finder")]
    with pytest.raises(NotSupportedError, match="the local source cannot search"):
        await host.addons.search("x", source="local")
    with pytest.raises(kiroclaw.SourceError):
        await host.addons.search("x", source="flaky")


async def test_manager_works_across_event_loops(host, tmp_path: Path) -> None:
    # the CLI runs one asyncio.run per command; a host may outlive a loop
    manager: AddonManager = host.addons
    skill = write_skill(tmp_path, "loop-skill")
    await manager.install(str(skill), USER)

    def other_loop() -> None:
        asyncio.run(manager.remove("loop-skill", USER))

    await asyncio.to_thread(other_loop)
    assert manager.list(USER) == []


async def test_a_folder_named_like_an_installed_add_on_is_judged_by_its_content(host, tmp_path: Path) -> None:
    await host.addons.install(str(write_package(tmp_path / "a" / "tools", skills=["x-one"])), USER)
    # a different folder with the same base name holding a single skill called "hammer"
    result = await host.addons.install(str(write_skill(tmp_path / "b", "hammer", folder="tools")), USER)
    assert result.record.name == "hammer"
    assert [r.name for r in host.addons.list(USER)] == ["hammer", "tools"]


async def test_update_that_needs_confirmation_raises_and_then_goes_through(settings, tmp_path: Path) -> None:
    class WarnOnV2:
        @hookimpl
        def check_addon(self, addon):
            return kiroclaw.warn("version 2 asks for network access") if addon.version == "2.0" else None

    host = Host(settings, extra_plugins=[("warn-v2", WarnOnV2())])
    src = write_skill(tmp_path, "guarded", extra={"metadata": {"version": "1.0"}})
    await host.addons.install(str(src), USER)
    write_skill(tmp_path, "guarded", extra={"metadata": {"version": "2.0"}})
    with pytest.raises(kiroclaw.ConfirmationRequired) as info:
        await host.addons.update("guarded", USER)
    assert info.value.reasons == ["version 2 asks for network access"]
    assert host.addons.get("guarded", USER).version == "1.0"
    (result,) = await host.addons.update("guarded", USER, assume_yes=True)
    assert (result.status, result.new) == ("updated", "2.0")


async def test_update_all_asks_for_each_confirmation_on_its_own(settings, tmp_path: Path) -> None:
    """Updating everything never confirms one add-on's warnings on behalf of another: each add-on that
    needs confirmation is reported (with its reasons) and left alone; the others are updated."""

    class WarnOnV2:
        @hookimpl
        def check_addon(self, addon):
            if addon.version == "2.0" and addon.name != "plain":
                return kiroclaw.warn(f"{addon.name} version 2 asks for network access")
            return None

    host = Host(settings, extra_plugins=[("warn-v2", WarnOnV2())])
    for name in ("first", "plain", "second"):
        await host.addons.install(str(write_skill(tmp_path / name, name, extra={"metadata": {"version": "1.0"}})), USER)
        write_skill(tmp_path / name, name, extra={"metadata": {"version": "2.0"}})
    results = {r.name: r for r in await host.addons.update(None, USER)}
    assert {name: r.status for name, r in results.items()} == {
        "first": "confirm",
        "plain": "updated",
        "second": "confirm",
    }
    assert results["first"].reasons == ("first version 2 asks for network access",)
    assert results["second"].reasons == ("second version 2 asks for network access",)
    assert [host.addons.get(n, USER).version for n in ("first", "plain", "second")] == ["1.0", "2.0", "1.0"]
    (confirmed,) = await host.addons.update("first", USER, assume_yes=True)
    assert confirmed.status == "updated" and host.addons.get("second", USER).version == "1.0"


async def test_update_renamed_to_another_add_ons_name_is_refused(host, tmp_path: Path) -> None:
    """An update whose new version takes the name of a different installed add-on must not replace it."""
    await host.addons.install(str(write_skill(tmp_path / "a", "alpha")), USER)
    await host.addons.install(str(write_skill(tmp_path / "b", "beta", "the real beta")), USER)
    before = snapshot(host.paths(USER).root)
    write_skill(tmp_path / "a", "beta", "alpha renamed itself", folder="alpha")
    (result,) = await host.addons.update("alpha", USER)
    assert result.status == "failed" and "another installed add-on" in result.message
    with pytest.raises(AlreadyInstalledError, match="another installed add-on"):
        await host.addons.install(str(tmp_path / "a" / "alpha"), USER, force=True)
    assert snapshot(host.paths(USER).root) == before
    assert [(r.name, r.spec) for r in host.addons.list(USER)] == [
        ("alpha", str(tmp_path / "a" / "alpha")),
        ("beta", str(tmp_path / "b" / "beta")),
    ]


async def test_update_renamed_to_a_free_name_replaces_the_old_add_on(host, tmp_path: Path) -> None:
    await host.addons.install(str(write_skill(tmp_path / "a", "alpha")), USER)
    await host.addons.disable("alpha", USER)
    write_skill(tmp_path / "a", "gamma", folder="alpha")
    (result,) = await host.addons.update("alpha", USER)
    assert result.status == "updated"
    assert [(r.name, r.enabled) for r in host.addons.list(USER)] == [("gamma", False)]
    assert not (host.paths(USER).skills_dir / "alpha").exists()


async def test_disabled_state_survives_a_registry_rebuilt_from_markers(host, tmp_path: Path) -> None:
    from kiroclaw.errors import RegistryCorruptError

    await host.addons.install(str(write_skill(tmp_path / "a", "alpha")), USER)
    await host.addons.install(str(DEMO_PACKAGE), USER)
    await host.addons.disable("demo-package", USER)
    paths = host.paths(USER)
    paths.registry_file.write_text('{"schema_version": 1,')  # truncated
    with pytest.raises(RegistryCorruptError):
        host.addons.list(USER)
    assert {r.name: r.enabled for r in host.addons.list(USER)} == {"alpha": True, "demo-package": False}
    assert [s.name for s in host.effective_set(42).skills] == ["alpha"]
    await host.addons.enable("demo-package", USER)
    paths.registry_file.write_text("")
    with pytest.raises(RegistryCorruptError):
        host.addons.list(USER)
    assert host.addons.get("demo-package", USER).enabled
