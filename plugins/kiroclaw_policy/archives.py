"""What YARA cannot do with binary files: recognise executables, read archive encryption flags, peek into
nested archives.

An archive inside an add-on is never unpacked by the installer; the agent (or the user) may unpack it
later, so its member names and the first bytes of each member are checked here without extracting
anything: executables and encrypted entries are findings, an archive we cannot open (7z, RAR) is a finding.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from typing import IO

__all__ = ["archive_kind", "native_kind", "peek_archive"]

#: Members looked at per nested archive, and bytes read from each.
MAX_MEMBERS = 2000
MEMBER_HEAD = 4096


def native_kind(head: bytes) -> str | None:
    """``ELF``/``Mach-O``/``PE`` when ``head`` (a file's first bytes) starts a native executable."""
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head[:4] in {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}:
        return "Mach-O"
    if head[:4] in {b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"} and len(head) >= 8:
        # A fat Mach-O shares CAFEBABE with Java class files; its arch count is small, a class file's
        # major version (same bytes) is at least 45.
        (count,) = struct.unpack(">I", head[4:8])
        return "Mach-O" if 0 < count < 45 else None
    if head.startswith(b"MZ") and len(head) >= 0x40:
        (offset,) = struct.unpack("<I", head[0x3C:0x40])
        if offset + 4 <= len(head) and head[offset : offset + 4] == b"PE\x00\x00":
            return "PE"
    return None


def archive_kind(head: bytes) -> str | None:
    """``zip``, ``tar``, ``gzip``, ``bzip2``, ``xz``, ``7z`` or ``rar`` from a file's first bytes."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


#: Zip-based document formats: an archive by bytes, a document to people (no finding when clean).
DOCUMENT_SUFFIXES = frozenset(
    {".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".epub", ".jar", ".whl", ".vsix", ".xpi", ".apk", ".ipa"}
)


def _rar_encrypted(data: bytes) -> bool:
    # RAR 4: the archive header's flags (offset 10, 2 bytes) bit 0x80 = encrypted headers;
    # RAR 5: an "archive encryption header" (type 4) right after the signature.
    if data.startswith(b"Rar!\x1a\x07\x00") and len(data) >= 12:
        return bool(struct.unpack("<H", data[10:12])[0] & 0x80)
    if data.startswith(b"Rar!\x1a\x07\x01\x00") and len(data) >= 16:
        return data[14] == 4 or data[13] == 4
    return False


def peek_archive(kind: str, data: bytes, *, depth: int = 0) -> Iterator[tuple[str, str]]:
    """What an archive holds that matters: ``(rule, detail)`` pairs.

    - ``("encrypted-archive", …)``: an encrypted entry (zip flag bit 0, RAR/7z encrypted headers);
    - ``("native-binary", …)``: a member that starts like an ELF, Mach-O or PE executable;
    - ``("scan-incomplete", …)``: an archive that could not be looked into (7z, RAR, corrupt, too deep).

    Nested archives are peeked into up to two levels. Nothing is extracted to disk.
    """
    if kind in {"7z", "rar"}:
        encrypted = _rar_encrypted(data) if kind == "rar" else b"\x06\xf1\x07\x01" in data[:65536]
        if encrypted:
            yield "encrypted-archive", f"{kind} archive with encrypted content"
        yield "scan-incomplete", f"{kind} archive: its content cannot be checked"
        return
    if depth > 2:
        yield "scan-incomplete", f"{kind} archive nested more than two levels deep: not looked into"
        return
    try:
        if kind == "zip":
            yield from _peek_zip(data, depth)
        elif kind in {"tar", "gzip", "bzip2", "xz"}:
            yield from _peek_tar(data, depth)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        if kind == "zip" and zip_is_encrypted(data):
            yield "encrypted-archive", "zip archive with encrypted entries"
        yield "scan-incomplete", f"{kind} archive that cannot be read: its content cannot be checked"


def _member_findings(name: str, head: bytes, depth: int, read_all: Callable[[], bytes]) -> Iterator[tuple[str, str]]:
    exe = native_kind(head)
    if exe is not None:
        yield "native-binary", f"{exe} executable inside the archive: {name[:60]}"
        return
    inner = archive_kind(head)
    if inner is not None:
        for rule, detail in peek_archive(inner, read_all(), depth=depth + 1):
            yield rule, f"{detail} (in {name[:60]})"


def _peek_zip(data: bytes, depth: int) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for index, info in enumerate(archive.infolist()):
            if index >= MAX_MEMBERS:
                yield "bundled-archive", f"zip archive with over {MAX_MEMBERS} members (not all looked into)"
                return
            if info.flag_bits & 0x1:
                yield "encrypted-archive", f"zip archive with encrypted entries ({info.filename[:60]})"
                return
            if info.is_dir():
                continue
            with archive.open(info) as member:
                head = member.read(MEMBER_HEAD)
            yield from _member_findings(info.filename, head, depth, lambda i=info: _read_member(archive.open(i)))


def _peek_tar(data: bytes, depth: int) -> Iterator[tuple[str, str]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for index, member in enumerate(archive):
            if index >= MAX_MEMBERS:
                yield "bundled-archive", f"tar archive with over {MAX_MEMBERS} members (not all looked into)"
                return
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            head = handle.read(MEMBER_HEAD) if handle is not None else b""
            yield from _member_findings(member.name, head, depth, lambda m=member: _read_member(archive.extractfile(m)))


#: Bytes of a nested archive read to look into it.
MAX_NESTED_BYTES = 8 * 1024 * 1024


def _read_member(handle: IO[bytes] | None) -> bytes:
    if handle is None:
        return b""
    with handle:
        return handle.read(MAX_NESTED_BYTES)


def zip_is_encrypted(data: bytes) -> bool:
    """True when a zip has an entry with the "encrypted" flag (central directory, else first local header)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(info.flag_bits & 0x1 for info in archive.infolist()[:100_000])
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError, RuntimeError):
        pass
    return len(data) >= 8 and data[:4] == b"PK\x03\x04" and bool(struct.unpack("<H", data[6:8])[0] & 0x1)
