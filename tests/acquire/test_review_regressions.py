"""Regressions for hostile inputs found in an adversarial review of the acquisition path.

Each test builds its hostile input in memory, runs the real code, and asserts a clean refusal (one of the
project's own errors) or a safe result.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from kiroclaw.acquire import ExtractLimits, extract_archive, is_public_address
from kiroclaw.config import Settings
from kiroclaw.errors import LimitExceededError, SourceError, UnsafeContentError, ValidationError
from kiroclaw.host import Host
from kiroclaw.skills import skill_name_problems
from kiroclaw.workspaces import Scope

SKILL = b"---\nname: x\ndescription: d\n---\n"


def _tar_header(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def test_zip_whose_end_record_understates_its_central_directory_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parse_whole_directory(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("zipfile parsed the whole central directory (a ZipInfo per entry) first")

    name = b"a"
    crc = zlib.crc32(b"")
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, 0, 0, len(name), 0) + name
    entry = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, 0, 0, 1, 0, 0, 0, 0, 0, 0)
    directory = (entry + name) * 30_000  # far over the cap, while the end record claims one entry
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local), 0)
    archive = tmp_path / "a.zip"
    archive.write_bytes(local + directory + end)
    monkeypatch.setattr(zipfile, "ZipFile", parse_whole_directory)
    with pytest.raises(LimitExceededError, match="more than 5000 members"):
        extract_archive(archive, tmp_path / "out", ExtractLimits())


def test_skipped_tar_members_count_against_the_member_cap(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    with gzip.open(archive, "wb") as out:
        out.write(_tar_header("SKILL.md", len(SKILL)) + SKILL + b"\0" * (512 - len(SKILL)))
        out.write(_tar_header(".git/x") * 25_000)
        out.write(b"\0" * 1024)
    with pytest.raises(LimitExceededError, match="more than 5000 members"):
        extract_archive(archive, tmp_path / "out", ExtractLimits())


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_oversized_pax_and_long_name_headers_are_refused_without_reading_them(tmp_path: Path, kind: bytes) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(_tar_header("././@LongLink", 1 << 30, kind))]
    parts += [compressor.compress(b"\0" * (1 << 20)) for _ in range(64)]
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"".join([*parts, compressor.flush()]))
    with pytest.raises(UnsafeContentError, match="oversized tar header"):
        extract_archive(archive, tmp_path / "out", ExtractLimits())


@pytest.mark.parametrize("method", [1, 6, 9, 93, 99])
def test_zip_with_an_unsupported_compression_method_is_a_clean_refusal(tmp_path: Path, method: int) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SKILL.md", SKILL)
    raw = bytearray(buffer.getvalue())
    raw[8:10] = struct.pack("<H", method)
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 10 : central + 12] = struct.pack("<H", method)
    path = tmp_path / "a.zip"
    path.write_bytes(bytes(raw))
    with pytest.raises(UnsafeContentError):
        extract_archive(path, tmp_path / "out", ExtractLimits())


def test_pax_sparse_members_are_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("hole.bin")
    info.size = 512
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.realsize": "41943040"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"1\n0\n512\n".ljust(512, b"\0")))
    path = tmp_path / "a.tar"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeContentError, match="sparse"):
        extract_archive(path, tmp_path / "out", ExtractLimits())


def test_names_with_a_trailing_newline_are_not_valid_skill_names() -> None:
    assert skill_name_problems("pdf\n")
    assert not skill_name_problems("pdf")


async def test_a_skill_named_with_a_trailing_newline_cannot_be_installed(tmp_path: Path) -> None:
    host = Host(Settings(_env_file=None, workspace_base_path=tmp_path / "ws"))  # type: ignore[call-arg]
    folder = tmp_path / "src" / "pdf"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text('---\nname: "pdf\\n"\ndescription: d\n---\n')
    with pytest.raises(ValidationError, match="lowercase letters"):
        await host.addons.install(str(folder), Scope.user(12))
    assert host.addons.list(Scope.user(12)) == []


async def test_local_installs_drop_setuid_and_world_write_bits(tmp_path: Path) -> None:
    host = Host(Settings(_env_file=None, workspace_base_path=tmp_path / "ws"))  # type: ignore[call-arg]
    folder = tmp_path / "src" / "moded"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: moded\ndescription: d\n---\n")
    tool = folder / "scripts" / "tool.sh"
    tool.write_text("#!/bin/sh\necho hi\n")
    os.chmod(tool, 0o6777)
    os.chmod(folder / "SKILL.md", 0o666)
    await host.addons.install(str(folder), Scope.user(12))
    installed = host.paths(Scope.user(12)).skills_dir / "moded"
    assert stat.S_IMODE((installed / "scripts" / "tool.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((installed / "SKILL.md").stat().st_mode) == 0o644


@pytest.mark.parametrize("address", ["fec0::1", "fec0::a9fe:a9fe", "192.88.99.1", "3fff::1"])
def test_site_local_6to4_relay_and_documentation_ranges_are_not_public(address: str) -> None:
    assert not is_public_address(address)


def test_public_addresses_stay_public() -> None:
    assert is_public_address("8.8.8.8") and is_public_address("2606:4700::1111")


@pytest.mark.parametrize(
    "manifest",
    [
        {"plugins": [{"skills": 7}]},
        {"plugins": [{"source": 3, "skills": ["./skills/a"]}]},
        {"plugins": [{"skills": ["./skills/a\u0000b"]}]},
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["skills-int", "source-int", "nul", "deep"],
)
def test_hostile_marketplace_json_is_ignored_with_a_warning(tmp_path: Path, manifest: object) -> None:
    # the marketplace is read by the core's discovery now (issue 11), for every source
    from kiroclaw.discovery import discover

    tree = tmp_path / "tree"
    (tree / ".claude-plugin").mkdir(parents=True)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (tree / ".claude-plugin" / "marketplace.json").write_text(text)
    found = discover(tree)
    assert found.skills == () and found.recipes == ()


def test_registry_answers_nested_too_deeply_are_a_clean_source_error() -> None:
    from kiroclaw_kirohub.client import parse_model
    from kiroclaw_kirohub.schemas import SearchResponse

    with pytest.raises(SourceError, match="invalid answer"):
        parse_model(SearchResponse, b"[" * 100_000 + b"]" * 100_000, "search", "registry.test")
