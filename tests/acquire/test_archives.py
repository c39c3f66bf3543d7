"""Adversarial archives (catalogue §7 A, cases 1–21), built in memory, served from 127.0.0.1 and installed
through ``host.addons.install``; each refusal asserts the §7 invariants (one clean message, the user's tree
and ``addons.json`` byte-identical, the canary users 9/12/123 unchanged, no staging dirs or processes).
A few cases also drive :func:`kiroclaw.acquire.extract_archive` directly to measure what reached the disk."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from kiroclaw import LimitExceededError, QuotaExceededError, Scope, UnsafeContentError, ValidationError
from kiroclaw.acquire import ExtractLimits, extract_archive
from kiroclaw.config import Settings
from kiroclaw.host import Host

from .conftest import USER, HttpServer, Invariants, TarMember, expect_refusal, make_tar, make_zip, skill_md

SKILL = skill_md("demo-skill")
SYM, LNK = tarfile.SYMTYPE, tarfile.LNKTYPE


def ustar_header(name: bytes, size: int = 0, kind: bytes = b"0", mode: int = 0o644) -> bytes:
    """A raw ustar header (fast; for huge member counts and hand-made corruption)."""
    header = bytearray(512)
    header[0 : len(name)] = name
    header[100:108] = b"%07o\0" % mode
    header[108:116] = b"0001750\0"
    header[116:124] = b"0001750\0"
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"14544516544\0"
    header[148:156] = b" " * 8
    header[156:157] = kind
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def raw_tar(entries: list[tuple[bytes, bytes]]) -> bytes:
    out = bytearray()
    for name, data in entries:
        out += ustar_header(name, len(data)) + data + b"\0" * (-len(data) % 512)
    return bytes(out + b"\0" * 1024)


def _local(name: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data)
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0) + name


def _central(name: bytes, data: bytes, offset: int) -> bytes:
    crc = zlib.crc32(data)
    return (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            0,
            0,
            0,
            0,
            crc,
            len(data),
            len(data),
            len(name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            offset,
        )
        + name
    )


def raw_zip(files: list[tuple[bytes, bytes, int]], blob: bytes) -> bytes:
    """``blob`` (local headers + data, laid out by the caller) + a central directory for ``files``
    ``(name, data, offset)``."""
    central = b"".join(_central(name, data, offset) for name, data, offset in files)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(files), len(files), len(central), len(blob), 0)
    return blob + central + end


def sequential_zip(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A stored zip laid out normally, from raw (possibly hostile) name bytes."""
    blob = b""
    files = []
    for name, data in entries:
        files.append((name, data, len(blob)))
        blob += _local(name, data) + data
    return raw_zip(files, blob)


def overlap_zip() -> bytes:
    """Quoted overlap: the second entry's local header lies inside the first entry's data."""
    inner_name, inner_data = b"demo-skill/extra.md", b"A" * 2000
    inner = _local(inner_name, inner_data) + inner_data
    outer_name, outer_data = b"demo-skill/SKILL.md", SKILL + inner
    blob = _local(outer_name, outer_data) + outer_data
    inner_offset = 30 + len(outer_name) + len(SKILL)
    return raw_zip([(outer_name, outer_data, 0), (inner_name, inner_data, inner_offset)], blob)


def duplicate_local_header_zip() -> bytes:
    name, data = b"demo-skill/SKILL.md", SKILL
    blob = _local(name, data) + data
    return raw_zip([(name, data, 0), (b"demo-skill/other.md", data, 0)], blob)


def gzip_bomb(total_bytes: int) -> bytes:
    """A .tar.gz whose one member is ``total_bytes`` of zeros (compressed in a stream)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(ustar_header(b"demo-skill/SKILL.md", total_bytes))]
    chunk = b"\0" * (1 << 20)
    for _ in range(total_bytes // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(b"\0" * 1024))
    parts.append(compressor.flush())
    return b"".join(parts)


def many_members(count: int) -> bytes:
    data = b"".join(ustar_header(b"demo-skill/m%d" % i) for i in range(count)) + b"\0" * 1024
    return gzip.compress(data, 1)


def zip_bad_crc() -> bytes:
    good = bytearray(make_zip([("demo-skill/SKILL.md", SKILL), ("demo-skill/data.md", b"data " * 200)]))
    index = good.find(b"PK\x03\x04", 10)  # second local header; corrupt a byte of its data
    good[index + 30 + len("demo-skill/data.md") + 3] ^= 0xFF
    return bytes(good)


def tar_bad_second_header() -> bytes:
    data = bytearray(raw_tar([(b"demo-skill/SKILL.md", SKILL), (b"demo-skill/more.md", b"more")]))
    second = 512 + ((len(SKILL) + 511) // 512) * 512
    data[second + 1] ^= 0x55  # the name changes, the stored checksum no longer matches
    return bytes(data)


def invalid_utf8_tar() -> bytes:
    return gzip.compress(raw_tar([(b"demo-skill/SKILL.md", SKILL), (b"demo-skill/\xff\xfe.md", b"x")]))


def zip_with(names: list[str]) -> bytes:
    return make_zip([("demo-skill/SKILL.md", SKILL), *[(name, b"x") for name in names]])


def tar_with(*members: TarMember, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    return make_tar([TarMember("demo-skill/SKILL.md", SKILL), *members], fmt=fmt)


# (case id, file name served, archive builder, expected error, message fragment)
REFUSALS: list[tuple[str, str, Callable[[], bytes], type[Exception], str]] = [
    # 1, 2: parent escapes
    ("01-tar-parent", "a.tar.gz", lambda: tar_with(TarMember("../evil", b"x")), UnsafeContentError, "outside"),
    ("02-zip-parent", "a.zip", lambda: zip_with(["../../evil"]), UnsafeContentError, "outside"),
    ("02-zip-dir-parent", "a.zip", lambda: zip_with(["dir/../../evil"]), UnsafeContentError, "outside"),
    # 3: absolute and drive paths
    ("03-abs", "a.tar.gz", lambda: tar_with(TarMember("/abs/evil", b"x")), UnsafeContentError, "absolute"),
    ("03-abs2", "a.tar.gz", lambda: tar_with(TarMember("//abs/evil", b"x")), UnsafeContentError, "absolute"),
    ("03-drive-backslash", "a.zip", lambda: zip_with(["C:\\evil"]), UnsafeContentError, "backslash"),
    ("03-drive", "a.zip", lambda: zip_with(["C:evil"]), UnsafeContentError, "absolute"),
    ("03-unc", "a.zip", lambda: zip_with(["\\\\srv\\share\\x"]), UnsafeContentError, "backslash"),
    # 4, 5, 6, 7: links of every kind
    (
        "04-symlink-then-child",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/lnk", type=SYM, linkname="/etc"), TarMember("demo-skill/lnk/x", b"x")),
        UnsafeContentError,
        "link",
    ),
    (
        "05-chain-parent",
        "a.tar.gz",
        lambda: tar_with(TarMember("a", type=SYM, linkname=".."), TarMember("a/x", b"x")),
        UnsafeContentError,
        "link",
    ),
    (
        "05-chain-redir",
        "a.tar.gz",
        lambda: tar_with(
            TarMember("redir", type=SYM, linkname="."),
            TarMember("redir/up", type=SYM, linkname=".."),
            TarMember("redir/up/x", b"x"),
        ),
        UnsafeContentError,
        "link",
    ),
    (
        "06-hardlink-abs",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/h", type=LNK, linkname="/etc/hostname")),
        UnsafeContentError,
        "link",
    ),
    (
        "06-hardlink-parent",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/h", type=LNK, linkname="../secret")),
        UnsafeContentError,
        "link",
    ),
    (
        "06-hardlink-to-symlink",
        "a.tar.gz",
        lambda: tar_with(
            TarMember("demo-skill/s", type=SYM, linkname="/etc/passwd"),
            TarMember("demo-skill/h", type=LNK, linkname="demo-skill/s"),
        ),
        UnsafeContentError,
        "link",
    ),
    (
        "06-empty-name-symlinks",
        "a.tar.gz",
        lambda: tar_with(
            TarMember("demo-skill/e", type=SYM, linkname=""), TarMember("demo-skill/f", type=SYM, linkname="e/..")
        ),
        UnsafeContentError,
        "link",
    ),
    (
        "07-benign-symlink-tar",
        "a.tar.gz",
        lambda: make_tar([TarMember("docs/a.md", SKILL), TarMember("SKILL.md", type=SYM, linkname="docs/a.md")]),
        UnsafeContentError,
        "links are not allowed",
    ),
    (
        "07-benign-symlink-zip",
        "a.zip",
        lambda: make_zip([("docs/a.md", SKILL), ("SKILL.md", b"docs/a.md", 0o120777)]),
        UnsafeContentError,
        "links are not allowed",
    ),
    # 8: special members
    (
        "08-chr",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/c", type=tarfile.CHRTYPE)),
        UnsafeContentError,
        "device",
    ),
    (
        "08-blk",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/b", type=tarfile.BLKTYPE)),
        UnsafeContentError,
        "device",
    ),
    (
        "08-fifo",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/f", type=tarfile.FIFOTYPE)),
        UnsafeContentError,
        "FIFO",
    ),
    (
        "08-sparse",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/s", type=tarfile.GNUTYPE_SPARSE), fmt=tarfile.GNU_FORMAT),
        UnsafeContentError,
        "unsupported",
    ),
    (
        "08-contiguous",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/c", type=tarfile.CONTTYPE)),
        UnsafeContentError,
        "unsupported",
    ),
    (
        "08-unknown",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/u", type=b"Z")),
        UnsafeContentError,
        "unsupported",
    ),
    (
        "08-zip-fifo",
        "a.zip",
        lambda: make_zip([("demo-skill/SKILL.md", SKILL), ("demo-skill/p", b"", 0o010644)]),
        UnsafeContentError,
        "FIFO",
    ),
    # 10, 11: bombs
    ("10-gzip-bomb", "a.tar.gz", lambda: gzip_bomb(100 * 1024 * 1024), QuotaExceededError, "more than 4 MB"),
    (
        "10-many-small",
        "a.tar.gz",
        lambda: tar_with(*[TarMember(f"demo-skill/f{i}", b"\1" * 65536) for i in range(80)]),
        QuotaExceededError,
        "4 MB",
    ),
    ("11-overlap", "a.zip", overlap_zip, UnsafeContentError, "overlapping"),
    # 13, 14: counts, depth and length
    ("13-200k-members", "a.tar.gz", lambda: many_members(200_000), LimitExceededError, "more than"),
    ("14-deep", "a.tar.gz", lambda: tar_with(TarMember("a/" * 40 + "f", b"x")), LimitExceededError, "deeper"),
    ("14-depth-2000", "a.tar.gz", lambda: tar_with(TarMember("a/" * 2000 + "f", b"x")), LimitExceededError, ""),
    (
        "14-long-segment",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/" + "x" * 300, b"x")),
        LimitExceededError,
        "255",
    ),
    ("14-long-path", "a.tar.gz", lambda: tar_with(TarMember("ab/" * 1500 + "f", b"x")), LimitExceededError, "longer"),
    # 15: duplicates
    (
        "15-same-name-twice",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/x.md", b"one"), TarMember("demo-skill/x.md", b"two")),
        UnsafeContentError,
        "duplicate",
    ),
    ("15-dup-local-header", "a.zip", duplicate_local_header_zip, UnsafeContentError, "zip"),
    ("15-data-after-end", "a.zip", lambda: zip_with([]) + b"trailing bytes", UnsafeContentError, "after the end"),
    (
        "15-file-and-dir",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/x", b"file"), TarMember("demo-skill/x/y", b"child")),
        UnsafeContentError,
        "both a file and a folder",
    ),
    (
        "15-dir-then-file",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/x", type=tarfile.DIRTYPE), TarMember("demo-skill/x", b"file")),
        UnsafeContentError,
        "duplicate",
    ),
    # 16: polyglot
    (
        "16-polyglot",
        "a.tar.gz",
        lambda: make_tar([TarMember("SKILL.md", SKILL)]) + make_zip([("SKILL.md", SKILL)]),
        UnsafeContentError,
        "ambiguous",
    ),
    # 17: names
    (
        "17-nul",
        "a.zip",
        lambda: sequential_zip([(b"demo-skill/SKILL.md", SKILL), (b"demo-skill/a\x00b.md", b"x")]),
        UnsafeContentError,
        "control",
    ),
    ("17-newline", "a.tar.gz", lambda: tar_with(TarMember("demo-skill/a\nb.md", b"x")), UnsafeContentError, "control"),
    ("17-tab", "a.zip", lambda: zip_with(["demo-skill/a\tb.md"]), UnsafeContentError, "control"),
    ("17-rlo", "a.zip", lambda: zip_with(["demo-skill/gpj.\u202eexe"]), UnsafeContentError, "control"),
    ("17-invalid-utf8", "a.tar.gz", invalid_utf8_tar, UnsafeContentError, "utf-8"),
    (
        "17-nfc-nfd-twins",
        "a.zip",
        lambda: zip_with(
            [unicodedata.normalize("NFC", "demo-skill/café.md"), unicodedata.normalize("NFD", "demo-skill/café.md")]
        ),
        UnsafeContentError,
        "duplicate",
    ),
    ("17-sharp-s", "a.zip", lambda: zip_with(["demo-skill/ß.md", "demo-skill/SS.md"]), UnsafeContentError, "duplicate"),
    # 18: our control files
    ("18-marker", "a.zip", lambda: zip_with(["demo-skill/.kiroclaw.json"]), UnsafeContentError, "reserved"),
    (
        "18-marker-symlink",
        "a.tar.gz",
        lambda: tar_with(TarMember("demo-skill/.kiroclaw.json", type=SYM, linkname="/etc/passwd")),
        UnsafeContentError,
        "link",
    ),
    ("18-parent-registry", "a.zip", lambda: zip_with(["../addons.json"]), UnsafeContentError, "outside"),
    # 19: layout
    ("19-no-skill", "a.zip", lambda: make_zip([("pkg/README.md", b"# nothing")]), ValidationError, "not a skill"),
    # (an archive of two top-level skill folders is a package of two skills since issue 11: see
    # tests/discovery/test_sources.py)
    # 20: corruption
    (
        "20-truncated",
        "a.tar.gz",
        lambda: (lambda b: b[: len(b) // 2])(tar_with(TarMember("demo-skill/r.bin", os.urandom(50_000)))),
        UnsafeContentError,
        "corrupt",
    ),
    ("20-bad-crc", "a.zip", zip_bad_crc, UnsafeContentError, "corrupt"),
    ("20-bad-tar-checksum", "a.tar", tar_bad_second_header, UnsafeContentError, "corrupt"),
    ("20-empty", "a.zip", lambda: b"", UnsafeContentError, "empty"),
    ("20-not-archive", "a.tar.gz", lambda: b"just some text, not an archive", UnsafeContentError, "not a zip or tar"),
]


@pytest.fixture
def small_host(acq_settings: Settings) -> Host:
    """A host with a 4 MB add-on cap and the default member/depth/length caps."""
    return Host(acq_settings.model_copy(update={"max_addon_size_mb": 4}))


@pytest.mark.parametrize(("case", "filename", "build", "error", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_hostile_archive_is_refused(
    small_host: Host,
    http_server: HttpServer,
    canary: Path,
    tmp_path: Path,
    workspace: Path,
    case: str,
    filename: str,
    build: Callable[[], bytes],
    error: type[Exception],
    message: str,
) -> None:
    http_server.routes[f"/{case}/{filename}"] = build()
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    await expect_refusal(
        invariants, small_host.addons.install(http_server.url(f"/{case}/{filename}"), Scope.user(USER)), error, message
    )


# --- accepted on purpose -------------------------------------------------------------------------------


async def test_inside_detours_modes_unicode_and_stripped_folders(
    acq_host: Host, http_server: HttpServer, workspace: Path
) -> None:
    archive = make_tar(
        [
            TarMember("demo-skill/SKILL.md", SKILL, mode=0o7777, uid=0),  # rwsrwsrwt, root-owned
            TarMember("demo-skill/tool.sh", b"#!/bin/sh\n", mode=0o777),
            TarMember("demo-skill/docs/../ok.txt", b"normalised"),  # case 2: stays inside
            TarMember("demo-skill/åäö_日本語.md", b"unicode"),  # case 17: valid UTF-8
            TarMember("demo-skill/data", type=tarfile.DIRTYPE, mode=0o777),
            TarMember("demo-skill/.git/hooks/post-checkout", b"#!/bin/sh\ntouch pwned\n", mode=0o755),  # case 18
            TarMember("demo-skill/addons.json", b"{}"),
        ]
    )
    http_server.routes["/ok/demo.tar.gz"] = archive
    record = (await acq_host.addons.install(http_server.url("/ok/demo.tar.gz"), Scope.user(USER))).record

    root = workspace / str(USER) / ".kiro" / "skills" / "demo-skill"
    assert record.path == ".kiro/skills/demo-skill"
    assert (root / "ok.txt").read_bytes() == b"normalised"
    assert (root / "åäö_日本語.md").read_bytes() == b"unicode"
    assert not (root / ".git").exists()
    assert (root / "SKILL.md").stat().st_mode & 0o7777 == 0o755  # no setuid/setgid/sticky, no group/other write
    assert (root / "tool.sh").stat().st_mode & 0o7777 == 0o755
    assert (root / "data").stat().st_mode & 0o7777 == 0o755
    assert (root / "ok.txt").stat().st_mode & 0o7777 == 0o644
    assert (root / "SKILL.md").stat().st_uid == os.getuid()
    registry = (workspace / str(USER) / "addons.json").read_text()
    assert '"demo-skill"' in registry and (root / "addons.json").read_bytes() == b"{}"


async def test_wrong_top_folder_is_installed_under_the_frontmatter_name(
    acq_host: Host, http_server: HttpServer, workspace: Path
) -> None:
    http_server.routes["/w/wrong.zip"] = make_zip([("wrong/SKILL.md", skill_md("right"))])
    record = (await acq_host.addons.install(http_server.url("/w/wrong.zip"), Scope.user(USER))).record
    assert record.path == ".kiro/skills/right"
    assert not (workspace / str(USER) / ".kiro" / "skills" / "wrong").exists()


async def test_failed_reinstall_keeps_the_old_version(
    acq_host: Host, http_server: HttpServer, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    http_server.routes["/r/demo.tar.gz"] = make_tar([TarMember("demo-skill/SKILL.md", SKILL)])
    scope = Scope.user(USER)
    await acq_host.addons.install(http_server.url("/r/demo.tar.gz"), scope)
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    http_server.routes["/r/demo.tar.gz"] = tar_with(TarMember("demo-skill/evil", type=SYM, linkname="/etc"))
    await expect_refusal(
        invariants, acq_host.addons.install(http_server.url("/r/demo.tar.gz"), scope, force=True), UnsafeContentError
    )
    [result] = await acq_host.addons.update("demo-skill", scope)
    assert result.status == "failed"
    invariants.check(UnsafeContentError("x"))
    assert [r.name for r in acq_host.addons.list(scope) if r.name == "demo-skill"] == ["demo-skill"]


# --- what reaches the disk -----------------------------------------------------------------------------


def _disk_bytes(root: Path) -> int:
    return sum(os.lstat(Path(d) / f).st_size for d, _, files in os.walk(root) for f in files)


def test_streamed_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    cap = 1024 * 1024
    members = [TarMember(f"s/f{i:03d}", b"\0" * 100_000) for i in range(100)]  # 10 MB real, 10 KB compressed
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(make_tar([TarMember("s/SKILL.md", SKILL), *members]))
    assert archive.stat().st_size < 64 * 1024
    dest = tmp_path / "out"
    with pytest.raises(QuotaExceededError):
        extract_archive(archive, dest, ExtractLimits(max_bytes=cap))
    assert _disk_bytes(dest) <= cap + 64 * 1024


def test_zip_that_lies_about_its_size_never_writes_more(tmp_path: Path) -> None:
    real = b"\0" * (8 * 1024 * 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("s/SKILL.md", SKILL)
        archive.writestr("s/big.bin", real)
    data = bytearray(buffer.getvalue())
    # Patch the declared uncompressed size of big.bin to 1 KiB in both headers.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_len = struct.unpack("<H", data[start + (26 if signature == b"PK\x03\x04" else 28) :][:2])[0]
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + name_len] == b"s/big.bin":
                data[start + offset : start + offset + 4] = struct.pack("<I", 1024)
            start += 4
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    dest = tmp_path / "out"
    with pytest.raises(UnsafeContentError):
        extract_archive(path, dest, ExtractLimits(max_bytes=4 * 1024 * 1024))
    assert _disk_bytes(dest) <= 1024 + len(SKILL)


def test_member_cap_stops_while_iterating(tmp_path: Path) -> None:
    import time

    archive = tmp_path / "many.tar.gz"
    archive.write_bytes(many_members(200_000))
    started = time.monotonic()
    with pytest.raises(LimitExceededError):
        extract_archive(archive, tmp_path / "out", ExtractLimits(max_files=2000))
    assert time.monotonic() - started < 5
    assert sum(1 for _ in (tmp_path / "out").rglob("*")) <= 2001
    zip_path = tmp_path / "many.zip"
    zip_path.write_bytes(make_zip([(f"m{i}", b"") for i in range(9000)]))
    with pytest.raises(LimitExceededError):
        extract_archive(zip_path, tmp_path / "out2", ExtractLimits(max_files=2000))
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


def test_containment_uses_resolved_paths_not_prefixes(tmp_path: Path) -> None:
    """``workspaces/12`` vs ``workspaces/123`` (pip ``test_is_within_directory``): a member can never land
    in a sibling whose name merely starts with the destination's name."""
    (tmp_path / "12").mkdir()
    (tmp_path / "123").mkdir()
    archive = tmp_path / "a.tar"
    archive.write_bytes(make_tar([TarMember("../123/x", b"x")], compression=""))
    with pytest.raises(UnsafeContentError):
        extract_archive(archive, tmp_path / "12" / "dest", ExtractLimits())
    assert list((tmp_path / "123").iterdir()) == []
