"""The built-in ``local`` source: spec claims, safe copying, bot roots, versions and ``latest``."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import kiroclaw_local
import pytest

from kiroclaw.config import Settings
from kiroclaw.errors import (
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    SpecError,
    UnsafeContentError,
)
from kiroclaw.host import Host
from kiroclaw.sources import FetchContext
from kiroclaw.workspaces import Scope
from tests.conftest import write_package, write_skill

USER = Scope.user(42)


@pytest.mark.parametrize(
    ("spec", "claimed"),
    [
        ("./dir", True),
        ("../dir", True),
        ("/abs/dir", True),
        ("~/dir", True),
        (".", True),
        ("~", True),
        ("file:///x", False),
        ("org/repo", False),
        ("weather-api", False),
        ("https://example.com/x.zip", False),
        (".hidden", False),
    ],
)
def test_claims_only_paths(spec: str, claimed: bool) -> None:
    assert kiroclaw_local.is_local_spec(spec) is claimed


def test_parse_makes_the_path_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ref = kiroclaw_local.LocalSource(Settings(_env_file=None)).parse("./My Skills!")
    assert ref.spec == ref.locator == str(tmp_path / "My Skills!")
    assert ref.name == "My-Skills"
    with pytest.raises(SpecError, match="file: URLs"):
        kiroclaw_local.LocalSource(Settings(_env_file=None)).parse("file:///tmp/x")


def _context(settings: Settings, local_roots: tuple[Path, ...] | None = None, max_bytes: int = 10**7) -> FetchContext:
    # trust is a value now (local_roots), no longer a caller="cli"|"bot" string
    return FetchContext(settings=settings, scope=USER, max_bytes=max_bytes, local_roots=local_roots)


async def test_fetch_copies_files_skips_git_and_keeps_modes(settings, tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "pkg", skills=["tool"])
    script = pkg / "skills" / "tool" / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    (pkg / ".git" / "objects").mkdir(parents=True)
    (pkg / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    source = kiroclaw_local.LocalSource(settings)
    staging = tmp_path / "staging"
    staging.mkdir()
    fetched = await source.fetch(source.parse(str(pkg)), staging, _context(settings))
    assert fetched.root == staging / "pkg"
    assert not (fetched.root / ".git").exists()
    assert os.access(fetched.root / "skills" / "tool" / "run.sh", os.X_OK)
    assert fetched.origin["path"] == str(pkg)  # plus the staged folder's fingerprint, for update checks


@pytest.mark.parametrize("target", ["inside", "outside"])
async def test_symlinks_are_recorded_never_copied_or_followed(settings, tmp_path: Path, target: str) -> None:
    """Issue 11: the whole folder is staged with its links recorded (not refused); the core decides."""
    skill = write_skill(tmp_path / "src", "linky")
    (skill / "real.md").write_text("x")
    (skill / "alias.md").symlink_to(skill / "real.md" if target == "inside" else "/etc/hostname")
    (skill / "etc").symlink_to("/etc", target_is_directory=True)
    source = kiroclaw_local.LocalSource(settings)
    staging = tmp_path / "staging"
    staging.mkdir()
    fetched = await source.fetch(source.parse(str(skill)), staging, _context(settings))
    assert dict(fetched.links) == {
        "alias.md": str(skill / "real.md") if target == "inside" else "/etc/hostname",
        "etc": "/etc",
    }
    assert not os.path.lexists(fetched.root / "alias.md") and not os.path.lexists(fetched.root / "etc")


async def test_sockets_and_fifos_are_refused(settings, tmp_path: Path) -> None:
    source = kiroclaw_local.LocalSource(settings)
    cases = []
    b = write_skill(tmp_path / "b", "fifo")
    os.mkfifo(b / "pipe")
    cases.append((b, "special file"))
    c = write_skill(tmp_path / "c", "sock")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(c / "s"))
    except OSError:
        pytest.skip("cannot bind a unix socket here")
    cases.append((c, "special file"))
    for index, (folder, message) in enumerate(cases):
        staging = tmp_path / f"staging{index}"
        staging.mkdir()
        with pytest.raises(UnsafeContentError, match=message):
            await source.fetch(source.parse(str(folder)), staging, _context(settings))
    sock.close()


async def test_file_count_cap(workspace: Path, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, workspace_base_path=workspace, max_addon_files=3)
    skill = write_skill(tmp_path / "src", "many-files")
    for i in range(5):
        (skill / f"f{i}.txt").write_text("x")
    host = Host(settings)
    with pytest.raises(LimitExceededError, match="more than 3 files"):
        await host.addons.install(str(skill), USER)


async def test_missing_folder_file_and_version(host, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such folder"):
        await host.addons.install(str(tmp_path / "nope"), USER)
    (tmp_path / "file.md").write_text("x")
    with pytest.raises(SpecError, match="not a folder"):
        await host.addons.install(str(tmp_path / "file.md"), USER)
    with pytest.raises(SpecError, match="--version is not supported"):
        await host.addons.install(str(write_skill(tmp_path, "v-skill")), USER, version="1.0")


async def test_bot_may_only_install_under_local_source_roots(workspace: Path, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    inside = write_skill(allowed, "approved")
    outside = write_skill(tmp_path / "elsewhere", "unapproved")
    sneaky = allowed / "sneaky"
    sneaky.symlink_to(outside)  # a link under the root that points out of it
    settings = Settings(_env_file=None, workspace_base_path=workspace, local_source_roots=[allowed])
    host = Host(settings)
    bot = tuple(settings.local_source_roots)  # what the bot passes as the request's local_roots
    with pytest.raises(PermissionDeniedError, match="not in an allowed local source root"):
        await host.addons.install(str(outside), USER, local_roots=bot)
    with pytest.raises(PermissionDeniedError):
        await host.addons.install(str(allowed / ".." / "elsewhere" / "unapproved"), USER, local_roots=bot)
    with pytest.raises(PermissionDeniedError):
        await host.addons.install(str(sneaky), USER, local_roots=bot)
    result = await host.addons.install(str(inside), USER, local_roots=bot)
    assert result.record.name == "approved"
    # the CLI may install any readable folder
    assert (await host.addons.install(str(outside), USER)).record.name == "unapproved"
    none_allowed = Host(Settings(_env_file=None, workspace_base_path=workspace))
    with pytest.raises(PermissionDeniedError):
        await none_allowed.addons.install(str(inside), Scope.user(43), local_roots=())


async def test_version_from_metadata_and_update_follows_the_folder(host, tmp_path: Path) -> None:
    src = write_skill(tmp_path, "versioned", extra={"metadata": {"version": "0.9.1"}})
    record = (await host.addons.install(str(src), USER)).record
    assert record.version == "0.9.1"
    source = host.sources["local"]
    assert await source.latest(record) is None
    (src / "extra.md").write_text("more\n")
    assert await source.latest(record) not in (None, record.fingerprint)
    (result,) = await host.addons.update("versioned", USER)
    assert result.status == "updated"
    assert (host.paths(USER).skills_dir / "versioned" / "extra.md").exists()
    for child in src.iterdir():
        child.unlink()
    src.rmdir()
    (result,) = await host.addons.update("versioned", USER)
    assert (result.status, result.message) == ("failed", "the folder it was installed from no longer exists")


async def test_latest_of_a_wrapped_package_compares_the_same_tree(host, tmp_path: Path) -> None:
    outer = tmp_path / "checkout"
    write_package(outer / "inner-pack", skills=["wrapped"])
    record = (await host.addons.install(str(outer), USER)).record
    assert record.skills == ["wrapped"]
    assert await host.sources["local"].latest(record) is None
    (result,) = await host.addons.update(record.name, USER)
    assert result.status == "current"
