"""Disk full and I/O errors (ENOSPC/EIO injected in-process) and corrupt registries.

Faults are injected at the file-system calls the real code makes (``Path.open`` for staged copies and
markers, ``os.fdopen`` for archive members, ``os.fsync``/``os.replace`` for the registry write), the way
node-tar's ``'fail write'`` tests and python-atomicwrites' ``test_teardown`` do (security-catalogue §9).
Every case asserts: one "disk full"/"I/O error" message, the scope's tree and ``addons.json`` byte-identical,
no staging or temp leftovers.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kiroclaw import Scope
from kiroclaw.acquire import ExtractLimits, extract_archive
from kiroclaw.config import Settings
from kiroclaw.errors import RegistryCorruptError, StorageError
from kiroclaw.host import Host
from kiroclaw.registry import MARKER_FILE
from tests.conftest import run_kiroclaw, snapshot, write_skill
from tests.reliability.test_crash import check_invariants

SCOPE = Scope.user(42)


class _FailingFile:
    """A writable file object whose writes fail with ``err`` once ``after_bytes`` were written."""

    def __init__(self, fh: Any, err: int, after_bytes: int) -> None:
        self._fh, self._err, self._left = fh, err, after_bytes

    def write(self, data: bytes) -> int:
        if len(data) > self._left:
            self._fh.write(data[: self._left])
            raise OSError(self._err, os.strerror(self._err))
        self._left -= len(data)
        return int(self._fh.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def _fail_path_open(monkeypatch: pytest.MonkeyPatch, err: int, when: Any, after_bytes: int = 1000) -> None:
    real_open = Path.open

    def fake_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_open(self, mode, *args, **kwargs)
        if ("w" in mode or "x" in mode) and when(self):
            return _FailingFile(fh, err, after_bytes)
        return fh

    monkeypatch.setattr(Path, "open", fake_open)


@pytest.fixture
async def installed(workspace: Path, tmp_path: Path) -> tuple[Host, Path]:
    """A host whose user 42 already has one add-on; :returns: (host, a second skill folder to install)."""
    settings = Settings(_env_file=None, workspace_base_path=workspace)  # type: ignore[call-arg]
    host = Host(settings)
    first = write_skill(tmp_path / "src", "first-skill")
    await host.addons.install(str(first), SCOPE)
    second = write_skill(tmp_path / "src", "second-skill", body="x" * 200_000)
    return host, second


def _assert_untouched(host: Host, before: dict[str, str]) -> None:
    paths = host.paths(SCOPE)
    assert snapshot(paths.root) == before
    assert [r.name for r in host.addons.list(SCOPE)] == ["first-skill"]
    check_invariants(host.settings, SCOPE)


@pytest.mark.parametrize(("err", "words"), [(errno.ENOSPC, "disk full"), (errno.EIO, "I/O error")])
async def test_fault_while_staging_files(
    installed: tuple[Host, Path], monkeypatch: pytest.MonkeyPatch, err: int, words: str
) -> None:
    host, second = installed
    before = snapshot(host.paths(SCOPE).root)
    _fail_path_open(monkeypatch, err, lambda p: ".kiroclaw-staging" in p.parts and p.name == "SKILL.md")
    with pytest.raises(StorageError, match=words) as info:
        await host.addons.install(str(second), SCOPE)
    assert str(host.settings.workspace_base_path) not in info.value.user_message  # no server paths
    monkeypatch.undo()
    _assert_untouched(host, before)


async def test_disk_full_while_writing_the_marker(
    installed: tuple[Host, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, second = installed
    before = snapshot(host.paths(SCOPE).root)
    _fail_path_open(monkeypatch, errno.ENOSPC, lambda p: p.name == MARKER_FILE, after_bytes=10)
    with pytest.raises(StorageError, match="disk full"):
        await host.addons.install(str(second), SCOPE)
    monkeypatch.undo()
    _assert_untouched(host, before)


@pytest.mark.parametrize(
    ("call", "err", "words"),
    [("fsync", errno.EIO, "I/O error"), ("fsync", errno.ENOSPC, "disk full"), ("replace", errno.ENOSPC, "disk full")],
)
async def test_fault_during_the_registry_write(
    installed: tuple[Host, Path], monkeypatch: pytest.MonkeyPatch, call: str, err: int, words: str
) -> None:
    host, second = installed
    root = host.paths(SCOPE).root
    before = snapshot(root)
    if call == "fsync":
        real_fsync = os.fsync

        def fake_fsync(fd: int) -> None:
            if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".addons.json."):
                raise OSError(err, os.strerror(err))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fake_fsync)
    else:
        real_replace = os.replace

        def fake_replace(src: Any, dst: Any, **kwargs: Any) -> None:
            if os.path.basename(os.fspath(dst)) == "addons.json":
                raise OSError(err, os.strerror(err))
            real_replace(src, dst, **kwargs)

        monkeypatch.setattr(os, "replace", fake_replace)
    with pytest.raises(StorageError, match=words):
        await host.addons.install(str(second), SCOPE)
    monkeypatch.undo()
    _assert_untouched(host, before)
    # the folder that was renamed into place was rolled back: a retry works
    assert (await host.addons.install(str(second), SCOPE)).record.name == "second-skill"


@pytest.mark.parametrize(("err", "words"), [(errno.ENOSPC, "disk space"), (errno.EIO, "I/O error")])
def test_fault_while_extracting_an_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, words: str
) -> None:
    archive = tmp_path / "skill.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for index in range(3):
            data = b"y" * 100_000
            info = tarfile.TarInfo(f"skill/file{index}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "staging" / "tree"
    dest.parent.mkdir()
    real_fdopen = os.fdopen

    def fake_fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_fdopen(fd, mode, *args, **kwargs)
        if "w" in mode and "/staging/" in os.readlink(f"/proc/self/fd/{fd}"):
            return _FailingFile(fh, err, 50_000)
        return fh

    monkeypatch.setattr(os, "fdopen", fake_fdopen)
    limits = ExtractLimits(max_bytes=10 * 1024 * 1024, max_files=100, max_depth=10, max_path_chars=200)
    with pytest.raises(StorageError, match=words):
        extract_archive(archive, dest, limits)


# --- corrupt registries ------------------------------------------------------------------------------

CORRUPT = {
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda good: b"",
    "invalid-json": lambda good: b"{",
    "invalid-utf8": lambda good: b"\xff\xfe" + good,
    "wrong-schema": lambda good: b'{"schema_version": 1, "addons": [{"name": 3}]}',
    "unknown-schema-version": lambda good: good.replace(b'"schema_version": 1', b'"schema_version": 99'),
    "path-outside": lambda good: good.replace(b".kiro/skills/first-skill", b"../../123/.kiro/skills/x"),
    "absolute-path": lambda good: good.replace(b".kiro/skills/first-skill", b"/etc/first-skill"),
}


@pytest.mark.parametrize("variant", list(CORRUPT))
async def test_corrupt_registry_is_quarantined_rebuilt_and_reported(installed: tuple[Host, Path], variant: str) -> None:
    host, second = installed
    await host.addons.install(str(second), SCOPE)
    paths = host.paths(SCOPE)
    good = paths.registry_file.read_bytes()
    bad = CORRUPT[variant](good)
    paths.registry_file.write_bytes(bad)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger("kiroclaw").addHandler(handler)
    try:
        with pytest.raises(RegistryCorruptError) as info:
            host.addons.list(SCOPE)
    finally:
        logging.getLogger("kiroclaw").removeHandler(handler)
    message = info.value.user_message
    assert "corrupt" in message and "rebuilt from 2 installed add-on(s)" in message
    assert str(paths.root) not in message
    assert (paths.root / info.value.quarantined_to).read_bytes() == bad  # kept for inspection
    assert any("rebuilt" in r.getMessage() for r in seen)  # the operator is told (log warning)
    # never silently emptied: both add-ons are back, with their original records
    assert [r.name for r in host.addons.list(SCOPE)] == ["first-skill", "second-skill"]
    check_invariants(host.settings, SCOPE)


async def test_fsck_cli_reports_then_rebuilds_a_corrupt_registry(
    installed: tuple[Host, Path], cli_env: dict[str, str]
) -> None:
    host, _ = installed
    paths = host.paths(SCOPE)
    paths.registry_file.write_bytes(b'{"schema_version": 1, "addons": [')
    check = run_kiroclaw("fsck", "--user", "42", env=cli_env)
    assert check.returncode == 1 and "corrupt-registry" in check.stdout
    assert paths.registry_file.read_bytes() == b'{"schema_version": 1, "addons": ['  # report only: untouched
    repair = run_kiroclaw("fsck", "--user", "42", "--repair", env=cli_env)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "moved aside to addons.json.corrupt-" in repair.stdout
    assert [r.name for r in host.addons.list(SCOPE)] == ["first-skill"]
    assert len(list(paths.root.glob("addons.json.corrupt-*"))) == 1
