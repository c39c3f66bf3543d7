"""Acquisition shared by every source: staging helpers, the one safe archive extractor, integrity checks and
the hardened HTTP downloader.

Rules (security catalogue §1 and §3; each has a test in ``tests/acquire/``):

* **Extraction** (:func:`extract_archive`, :func:`extract_tar_stream`): one parser both validates and
  extracts, member by member, as the archive streams. Only regular files and directories are written;
  every symlink, hardlink, device, FIFO, sparse/contiguous or unknown member is refused at the first such
  member. Names are refused when absolute, with a drive letter, ``..``, a backslash, NUL/control/format
  characters or invalid UTF-8, when they collide with another member after NFC normalisation and case
  folding (``café``/``café``, ``ß``/``SS``, a file and a folder of the same name), or when a segment starts
  with ``.kiroclaw`` (our control files). ``.git`` and ``__MACOSX`` folders are skipped. Caps: member
  count (``MAX_ADDON_FILES``), path depth (``MAX_PATH_DEPTH``), path length (``MAX_PATH_LENGTH``), and the
  bytes actually decompressed (``MAX_ADDON_SIZE_MB``), counted while writing in 64 KiB chunks, so a bomb
  stops at the cap. Every target is checked with ``Path.resolve().is_relative_to(root)``, files are created
  with ``O_EXCL|O_NOFOLLOW`` and modes are normalised to 0644/0755.
* **Formats** are sniffed from magic bytes (:func:`sniff_format`): zip, tar, and tar compressed with gzip,
  bzip2 or xz. A file that is both (a tar.gz with a zip appended) is refused as ambiguous. Zip archives are
  refused when their entries overlap (quoted-overlap bombs), when a local header disagrees with the
  central directory, when data follows the end record, or when they are encrypted.
* **Downloads** (:func:`download`): aiohttp, streamed to a file, connect/read/total timeouts, at most
  :data:`MAX_REDIRECTS` redirects each re-validated, the byte cap enforced on the bytes received, no
  automatic decompression, no proxies from the environment. Hosts are resolved once through an injectable
  resolver; every address must be global (loopback, private, link-local, multicast, reserved, shared and
  unspecified addresses are refused, IPv4 and IPv6, including IPv4-mapped, 6to4, Teredo and NAT64 forms and
  numeric literals such as ``2130706433``), unless the host is listed in ``URL_ALLOW_PRIVATE_HOSTS``. The
  connection goes to the vetted address (a pinning aiohttp resolver), so there is no second lookup.
"""

from __future__ import annotations

import asyncio
import bz2
import errno
import gzip
import hashlib
import ipaddress
import lzma
import os
import re
import shutil
import socket
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urljoin, urlsplit, urlunsplit

from .errors import (
    LimitExceededError,
    QuotaExceededError,
    SourceError,
    SpecError,
    StorageError,
    UnsafeContentError,
)

if TYPE_CHECKING:
    from .config import Settings

#: Names starting with this prefix are KiroClaw's control files (completion marker…); archives may not ship them.
CONTROL_PREFIX = ".kiroclaw"
#: Folders dropped silently from archives (VCS metadata, macOS resource forks).
SKIPPED_SEGMENTS = frozenset({".git", "__macosx"})
#: Write/read chunk size, bytes; the byte cap may be exceeded by at most this much on disk.
CHUNK_BYTES = 64 * 1024
#: Most redirects a download follows (catalogue §3).
MAX_REDIRECTS = 3
#: Per-member header allowance when bounding a decompressed tar stream, bytes (header + pax/GNU records).
_TAR_HEADER_ALLOWANCE = 4096

ArchiveFormat = Literal["zip", "tar", "gzip", "bzip2", "xz"]
#: An injectable DNS resolver: ``(host, port) -> [ip text, …]``. Tests pass a fake one.
HostResolver = Callable[[str, int], Awaitable[list[str]]]

_DRIVE = re.compile(r"^[A-Za-z]:")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


# --- limits and results -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractLimits:
    """Caps applied while extracting.

    :ivar max_files: most regular files (``MAX_ADDON_FILES``); directories count towards ``4 × max_files``.
    :ivar max_depth: most path segments (``MAX_PATH_DEPTH``).
    :ivar max_path_chars: longest relative path, in characters (``MAX_PATH_LENGTH``).
    :ivar max_bytes: most bytes written in total (``MAX_ADDON_SIZE_MB`` in bytes).
    :ivar whole_tree: the archive is a whole fetched tree (a repository) of which skill discovery picks
        what is installed (:mod:`kiroclaw.discovery`): link members (symbolic and hard) are recorded in
        :attr:`ExtractResult.links` instead of refused, and never written; names equal only after case
        or Unicode folding are both written (each placed skill folder is checked again). Every other
        rule holds.
    """

    max_files: int = 5000
    max_depth: int = 32
    max_path_chars: int = 512
    max_bytes: int = 50 * 1024 * 1024
    whole_tree: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, *, max_bytes: int | None = None) -> ExtractLimits:
        """Limits from ``MAX_ADDON_FILES``, ``MAX_PATH_DEPTH``, ``MAX_PATH_LENGTH``, ``MAX_ADDON_SIZE_MB``."""
        return cls(
            max_files=settings.max_addon_files,
            max_depth=settings.max_path_depth,
            max_path_chars=settings.max_path_length,
            max_bytes=max_bytes if max_bytes is not None else settings.max_addon_size_bytes,
        )

    @classmethod
    def for_fetch(cls, settings: Settings) -> ExtractLimits:
        """Limits for staging a whole tree (a repository, a folder) before discovery picks what is
        installed: :data:`FETCH_CAP_FACTOR_FILES` × ``MAX_ADDON_FILES`` files and
        :data:`FETCH_CAP_FACTOR_BYTES` × ``MAX_ADDON_SIZE_MB``; the add-on caps then apply to what is
        placed. ``whole_tree`` is on."""
        return cls(
            max_files=settings.max_addon_files * FETCH_CAP_FACTOR_FILES,
            max_depth=settings.max_path_depth,
            max_path_chars=settings.max_path_length,
            max_bytes=settings.max_addon_size_bytes * FETCH_CAP_FACTOR_BYTES,
            whole_tree=True,
        )


#: A fetched tree may hold this many times ``MAX_ADDON_FILES`` files (tests, docs, assets beside skills).
FETCH_CAP_FACTOR_FILES = 10
#: A fetched tree may hold this many times ``MAX_ADDON_SIZE_MB`` bytes.
FETCH_CAP_FACTOR_BYTES = 4


@dataclass(frozen=True)
class ExtractResult:
    """What an extraction wrote: ``files`` regular files holding ``size_bytes`` bytes in total, and the
    members it skipped on purpose (``.git/…``, ``__MACOSX/…``), as archive names; with
    ``ExtractLimits.whole_tree``, the ``links`` recorded (path → target text, POSIX; a hard link's target
    is given relative to the link's folder, like a symbolic link's)."""

    files: int
    size_bytes: int
    skipped: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: ``path`` holds ``size_bytes`` bytes fetched from ``final_url`` (after redirects);
    ``sha256`` is their hex digest; ``content_type`` is the server's claim (advisory only)."""

    path: Path
    final_url: str
    size_bytes: int
    sha256: str
    content_type: str = ""


# --- staging helpers ----------------------------------------------------------------------------


def new_subdir(staging_dir: Path, name: str) -> Path:
    """Create the empty folder ``staging_dir/name`` (one plain segment) and return it.

    :raises UnsafeContentError: ``name`` is not one plain path segment.
    """
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise UnsafeContentError(f"invalid staging folder name {name!r}")
    path = staging_dir / name
    path.mkdir(mode=0o755)
    return path


def remove_tree(path: Path) -> None:
    """Delete a folder or file we created; links are removed, never followed; missing is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return

    shutil.rmtree(path, ignore_errors=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def parse_sha256(text: str) -> str:
    """Normalise a user-given sha256 (64 hex digits, any case).

    :raises SpecError: not 64 hex digits.
    """
    value = text.strip().lower()
    if not _SHA256.match(value):
        raise SpecError("sha256 must be 64 hexadecimal digits")
    return value


def verify_sha256(path: Path, expected: str) -> str:
    """Check a file's sha256 before it is used (catalogue case 42).

    :returns: the digest.
    :raises UnsafeContentError: ``integrity mismatch`` when the digest differs.
    """
    actual = sha256_file(path)
    if actual != parse_sha256(expected):
        raise UnsafeContentError(
            f"integrity mismatch: the download's sha256 is {actual[:12]}…, expected {expected.strip()[:12]}…"
        )
    return actual


# --- member names -------------------------------------------------------------------------------


def check_member_name(raw: str, limits: ExtractLimits) -> tuple[str, ...] | None:
    """Validate one archive member name and split it into NFC-normalised segments.

    ``..`` segments are resolved lexically: ``dir/../ok.txt`` becomes ``ok.txt``; one that climbs above the
    root is refused. A trailing ``/`` (zip directories) and ``./`` segments are dropped.

    :returns: the segments, or ``None`` for a member to skip (under ``.git/`` or ``__MACOSX/``, or the
        root ``./`` itself).
    :raises UnsafeContentError: absolute path, drive letter, backslash, ``..``, control/format characters,
        invalid UTF-8, a ``.kiroclaw`` control name.
    :raises LimitExceededError: too long or too deep.
    """
    shown = raw[:80].encode("unicode_escape", "backslashreplace").decode("ascii")
    if not raw:
        raise UnsafeContentError("the archive has a member with an empty name")
    if len(raw) > limits.max_path_chars:
        raise LimitExceededError(f"the archive has a path longer than {limits.max_path_chars} characters")
    for char in raw:
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise UnsafeContentError(f"the archive has a member name that is not valid UTF-8: {shown!r}")
        if unicodedata.category(char) in {"Cc", "Cf", "Co", "Zl", "Zp"}:
            raise UnsafeContentError(f"the archive has a member name with control characters: {shown!r}")
    if "\\" in raw:
        raise UnsafeContentError(f"the archive has a member name with a backslash: {shown!r}")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise UnsafeContentError(f"the archive has an absolute member path (outside destination): {shown!r}")
    parts: list[str] = []
    for segment in raw.split("/"):
        if segment in {"", "."}:
            continue
        if segment == "..":
            # ``dir/../ok.txt`` stays inside and becomes ``ok.txt``; a ``..`` above the root is an escape.
            if not parts:
                raise UnsafeContentError(f"the archive has a member outside destination ('..'): {shown!r}")
            parts.pop()
            continue
        parts.append(segment)
    if not parts:
        return None
    if len(parts) > limits.max_depth or raw.count("/") > 4 * limits.max_depth:
        raise LimitExceededError(f"the archive has a path deeper than {limits.max_depth} folders")
    normalised = tuple(unicodedata.normalize("NFC", p) for p in parts)
    for part in normalised:
        if part.lower().startswith(CONTROL_PREFIX):
            raise UnsafeContentError(f"the archive ships a reserved name ({part!r}; .kiroclaw* is ours)")
        if len(part.encode("utf-8")) > 255:
            raise LimitExceededError("the archive has a file name longer than 255 bytes")
    if any(p.lower() in SKIPPED_SEGMENTS for p in normalised):
        return None
    return normalised


def _fold(parts: tuple[str, ...]) -> str:
    """Collision key: NFC, then case-folded (``ß`` and ``SS`` meet at ``ss``), then NFC again."""
    return unicodedata.normalize("NFC", "/".join(parts).casefold())


def _file_mode(archive_mode: int | None) -> int:
    return 0o755 if archive_mode is not None and archive_mode & 0o111 else 0o644


class _Writer:
    """Writes validated members under ``root``; enforces collisions, caps and containment."""

    def __init__(self, root: Path, limits: ExtractLimits) -> None:
        self.root = root.resolve()
        self.limits = limits
        self.files = 0
        self.entries = 0
        self.size_bytes = 0
        self.skipped: list[str] = []
        self._kinds: dict[str, str] = {}  # fold key → "file" | "dir"
        self._resolved: dict[tuple[str, ...], Path] = {}
        self._made: set[Path] = {self.root}
        self.links: list[tuple[str, str]] = []

    def _target(self, parts: tuple[str, ...]) -> Path:
        # Containment on resolved paths (never string prefixes). The parent folder's resolution is cached:
        # nothing but plain folders is ever created under the root, so it cannot change between members.
        parent_key = parts[:-1]
        parent = self._resolved.get(parent_key)
        if parent is None:
            parent = self.root.joinpath(*parent_key).resolve()
            if not parent.is_relative_to(self.root):
                raise UnsafeContentError("the archive has a member outside destination")
            self._resolved[parent_key] = parent
        target = parent / parts[-1]
        if target.parent != parent or not target.is_relative_to(self.root) or target == self.root:
            raise UnsafeContentError("the archive has a member outside destination")
        if target.is_symlink():
            raise UnsafeContentError("the archive has a member outside destination (through a link)")
        return target

    def _count(self) -> None:
        self.entries += 1
        if self.entries > 4 * self.limits.max_files + 16:
            raise LimitExceededError(f"the archive has more than {self.limits.max_files} members")

    def skip(self, name: str) -> None:
        """Leave a member out (``.git/``, ``__MACOSX/``…); it still counts against the member cap."""
        self._count()
        if len(self.skipped) < 100:
            self.skipped.append(name)

    def _claim(self, parts: tuple[str, ...], kind: str) -> bool:
        """Register ``parts`` (and its parents as dirs); True if the dir already existed."""
        self._count()
        fold = (lambda p: "/".join(p)) if self.limits.whole_tree else _fold
        for depth in range(1, len(parts)):
            key = fold(parts[:depth])
            if self._kinds.setdefault(key, "dir") != "dir":
                raise UnsafeContentError(f"the archive uses {'/'.join(parts[:depth])!r} as both a file and a folder")
        key = fold(parts)
        existing = self._kinds.get(key)
        if existing is None:
            self._kinds[key] = kind
            return False
        if kind == "dir" and existing == "dir":
            return True
        raise UnsafeContentError(
            f"the archive has duplicate names (same name twice, or equal after case/Unicode folding): "
            f"{'/'.join(parts)[:80]!r}"
        )

    def _mkdirs(self, folder: Path) -> None:
        if folder not in self._made:
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
            self._made.add(folder)

    def add_link(self, parts: tuple[str, ...], target: str) -> None:
        """Record a link member (``whole_tree`` only); nothing is written."""
        self._claim(parts, "link")
        if len(target) > self.limits.max_path_chars * 4 or "\x00" in target:
            target = "/"  # an unusable target: discovery reports it as absolute
        self.links.append(("/".join(parts), target))

    def add_dir(self, parts: tuple[str, ...]) -> None:
        if self._claim(parts, "dir"):
            return
        target = self._target(parts)
        self._mkdirs(target)

    def add_file(self, parts: tuple[str, ...], declared_size: int | None, mode: int | None, source: IO[bytes]) -> None:
        self._claim(parts, "file")
        self.files += 1
        if self.files > self.limits.max_files:
            raise LimitExceededError(f"the archive has more than {self.limits.max_files} files")
        if declared_size is not None and self.size_bytes + declared_size > self.limits.max_bytes:
            raise QuotaExceededError(self._too_big())
        target = self._target(parts)
        self._mkdirs(target.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(target, flags, 0o600)
        os.fchmod(fd, _file_mode(mode))
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = source.read(CHUNK_BYTES)
                if not chunk:
                    break
                self.size_bytes += len(chunk)
                if self.size_bytes > self.limits.max_bytes:
                    raise QuotaExceededError(self._too_big())
                out.write(chunk)

    def _too_big(self) -> str:
        return f"the archive unpacks to more than {self.limits.max_bytes // (1024 * 1024)} MB"

    def result(self) -> ExtractResult:
        return ExtractResult(self.files, self.size_bytes, tuple(self.skipped), tuple(self.links))


# --- format sniffing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ZipEnd:
    """The end-of-central-directory record that ends exactly at the end of the file.

    :ivar position: its offset in the file, in bytes.
    :ivar entries: the entry count it declares, or ``None`` (ZIP64 marker).
    :ivar directory_bytes: the central directory's size it declares (the file size for a ZIP64 marker,
        an upper bound).
    :ivar directory_offset: where it says the central directory starts, or ``None`` (ZIP64 marker).
    """

    position: int
    entries: int | None
    directory_bytes: int
    directory_offset: int | None


def _zip_end_record(path: Path, size: int) -> _ZipEnd | None:
    """Find the end record whose comment ends exactly at the end of the file (so no data hides after
    it), read before ``zipfile`` parses anything; ``None`` when there is none."""
    tail_len = min(size, 22 + 65535)
    with path.open("rb") as handle:
        handle.seek(size - tail_len)
        tail = handle.read(tail_len)
    index = tail.rfind(b"PK\x05\x06")
    while index >= 0:
        if index + 22 <= len(tail):
            entries, directory_bytes, offset, comment_len = struct.unpack("<HIIH", tail[index + 10 : index + 22])
            if index + 22 + comment_len == len(tail):
                return _ZipEnd(
                    position=size - tail_len + index,
                    entries=None if entries == 0xFFFF else entries,
                    directory_bytes=size if directory_bytes == 0xFFFFFFFF else directory_bytes,
                    directory_offset=None if offset == 0xFFFFFFFF else offset,
                )
        index = tail.rfind(b"PK\x05\x06", 0, index)
    return None


def sniff_format(path: Path) -> ArchiveFormat:
    """The archive format of ``path`` from its magic bytes (names and Content-Type are not trusted).

    :raises UnsafeContentError: empty, not an archive (an HTML page…), or ambiguous (a polyglot that is
        both a tar/gzip and a zip).
    """
    size = path.stat().st_size
    if size == 0:
        raise UnsafeContentError("the archive is empty")
    with path.open("rb") as handle:
        head = handle.read(512)
    kinds: list[ArchiveFormat] = []
    if head.startswith(b"\x1f\x8b"):
        kinds.append("gzip")
    elif head.startswith(b"BZh"):
        kinds.append("bzip2")
    elif head.startswith(b"\xfd7zXZ\x00"):
        kinds.append("xz")
    elif len(head) >= 262 and head[257:262] == b"ustar":
        kinds.append("tar")
    zip_start = head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    if zip_start or (kinds and _zip_end_record(path, size) is not None):
        kinds.append("zip")
    if len(kinds) > 1:
        raise UnsafeContentError("the archive is ambiguous (it is both a zip and a tar/gzip file); refused")
    if not kinds:
        sniffed = head[:64].lstrip().lower()
        if sniffed.startswith((b"<!doctype", b"<html", b"<?xml", b"{")):
            raise UnsafeContentError("the download is a web page or document, not an archive")
        raise UnsafeContentError("not a zip or tar archive (unknown format)")
    return kinds[0]


_CONTENT_TYPES: dict[str, str] = {
    "application/zip": "zip",
    "application/x-zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-tgz": "gzip",
    "application/x-compressed-tar": "gzip",
    "application/x-tar": "tar",
    "application/x-bzip2": "bzip2",
    "application/x-xz": "xz",
}


def check_content_type(content_type: str, fmt: ArchiveFormat) -> None:
    """Refuse a download whose Content-Type names a different archive format than its magic bytes, or a
    web page (catalogue case 16 and 40). Generic types (``application/octet-stream``, none) are fine.

    :raises UnsafeContentError: the claim and the bytes disagree.
    """
    claimed = content_type.split(";", 1)[0].strip().lower()
    if claimed in {"text/html", "application/xhtml+xml"}:
        raise UnsafeContentError("the server sent a web page (Content-Type text/html), not an archive")
    expected = _CONTENT_TYPES.get(claimed)
    if expected is not None and expected != fmt:
        raise UnsafeContentError(
            f"the archive is ambiguous: the server calls it {claimed} but its bytes are {fmt}; refused"
        )


# --- tar ---------------------------------------------------------------------------------------

_TAR_OK_FILE = (tarfile.REGTYPE, tarfile.AREGTYPE)


class _BoundedReader:
    """A read/seek/tell wrapper over a decompressed stream that refuses to go past ``limit`` bytes and
    remembers the last 512-byte block read (to check the end-of-archive marker)."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self.last_block: tuple[int, bytes] | None = None

    #: Largest single read: tarfile reads a whole pax or GNU long-name header at once, and no legitimate
    #: header is anywhere near this (member data is read in 64 KiB chunks).
    MAX_READ_BYTES = 1024 * 1024

    def read(self, size: int = -1) -> bytes:
        if size is not None and size > self.MAX_READ_BYTES:
            raise UnsafeContentError("the archive has an oversized tar header (pax or long-name bomb); refused")
        pos = self._raw.tell()
        if size is None or size < 0:
            size = self._limit - pos + 1
        if pos + size > self._limit:
            size = max(self._limit - pos + 1, 0)
        data = self._raw.read(size)
        if pos + len(data) > self._limit:
            raise QuotaExceededError(f"the archive unpacks to more than {self._limit // (1024 * 1024)} MB")
        if size == tarfile.BLOCKSIZE:
            self.last_block = (pos, data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0 and offset > self._limit:
            raise QuotaExceededError(f"the archive unpacks to more than {self._limit // (1024 * 1024)} MB")
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _tar_member(member: tarfile.TarInfo, writer: _Writer, tar: tarfile.TarFile) -> None:
    shown = member.name[:80].encode("unicode_escape", "backslashreplace").decode("ascii")
    if (member.issym() or member.islnk()) and writer.limits.whole_tree:
        parts = check_member_name(member.name, writer.limits)
        if parts is None:
            writer.skip(member.name)
            return
        target = member.linkname
        if member.islnk():  # a hard link names another member from the archive root
            target = _hard_link_target(member.name, target)
        writer.add_link(parts, target)
        return
    if member.issym() or member.islnk():
        raise UnsafeContentError(f"the archive contains a link ({shown}); links are not allowed")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeContentError(f"the archive contains a device or FIFO ({shown}); only files are allowed")
    if member.type not in (*_TAR_OK_FILE, tarfile.DIRTYPE) or member.issparse():
        kind = "sparse" if member.issparse() else f"type {member.type!r}"
        raise UnsafeContentError(f"the archive contains an unsupported member ({shown}, {kind})")
    parts = check_member_name(member.name, writer.limits)
    if parts is None:
        writer.skip(member.name)
        return
    if member.isdir():
        writer.add_dir(parts)
        return
    if member.size < 0:
        raise UnsafeContentError("corrupt tar header (negative size)")
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - regular members always have data
        raise UnsafeContentError(f"unreadable tar member {shown}")
    with source:
        writer.add_file(parts, member.size, member.mode, source)


def _hard_link_target(name: str, linkname: str) -> str:
    """A hard link's target (a member path from the archive root) as a path relative to the link's folder."""
    import posixpath

    if linkname.startswith("/"):
        return linkname
    base = posixpath.dirname(name.strip("/").removeprefix("./"))
    return posixpath.relpath(posixpath.normpath(linkname.removeprefix("./")) or ".", base or ".")


def _tar_loop(tar: tarfile.TarFile, writer: _Writer) -> None:
    while True:
        member = tar.next()
        if member is None:
            return
        _tar_member(member, writer, tar)


def extract_tar_stream(stream: IO[bytes], dest: Path, limits: ExtractLimits) -> ExtractResult:
    """Extract an uncompressed tar read sequentially from ``stream`` (a pipe, e.g. ``git archive``) into the
    new folder ``dest``, with every rule of :func:`extract_archive`.

    The caller checks that the producer exited cleanly: a stream cut short ends like a valid archive.
    """
    dest.mkdir(mode=0o755)
    writer = _Writer(dest, limits)
    try:
        with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tar:
            _tar_loop(tar, writer)
    except (tarfile.TarError, EOFError, zipfile.BadZipFile) as exc:
        raise UnsafeContentError(f"corrupt tar archive ({_short(exc)})") from exc
    except OSError as exc:
        raise _storage_error(exc) from exc
    return writer.result()


def _open_decompressed(path: Path, fmt: ArchiveFormat) -> IO[bytes]:
    if fmt == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if fmt == "bzip2":
        return bz2.open(path, "rb")
    if fmt == "xz":
        return lzma.open(path, "rb")
    return path.open("rb")


def _extract_tar_file(path: Path, fmt: ArchiveFormat, writer: _Writer) -> None:
    limits = writer.limits
    bound = limits.max_bytes + (4 * limits.max_files + 16) * _TAR_HEADER_ALLOWANCE + 2 * tarfile.RECORDSIZE
    with _open_decompressed(path, fmt) as raw:
        reader = _BoundedReader(raw, bound)
        with tarfile.open(
            fileobj=cast(IO[bytes], reader), mode="r:", encoding="utf-8", errors="surrogateescape"
        ) as tar:
            _tar_loop(tar, writer)
            # tarfile treats a broken header after the first one as the end of the archive; a real end
            # is a block of zeros, so anything else (bad checksum, truncation) is refused here.
            last = reader.last_block
            if last is None or last[0] != tar.offset:
                reader.seek(tar.offset)
                block = reader.read(tarfile.BLOCKSIZE)
            else:
                block = last[1]
            if len(block) != tarfile.BLOCKSIZE or block.count(0) != tarfile.BLOCKSIZE:
                raise UnsafeContentError("corrupt or truncated tar archive (bad header checksum or missing end)")


# --- zip ---------------------------------------------------------------------------------------


def _zip_directory_entries(path: Path, end: _ZipEnd, stop_after: int) -> int:
    """Count the central directory's entry headers by walking them (46 fixed bytes + name, extra and
    comment each), stopping past ``stop_after``: the end record's count can lie, and zipfile would build a
    ZipInfo for every entry before any cap applied. ``0`` for a ZIP64 or out-of-range offset (zipfile
    checks those; the declared size was bounded before)."""
    offset = end.directory_offset
    if offset is None or offset > end.position:
        return 0
    count = 0
    position = offset
    with path.open("rb") as handle:
        handle.seek(offset)
        while position + 46 <= end.position and count <= stop_after:
            header = handle.read(46)
            if len(header) < 46 or header[:4] != b"PK\x01\x02":
                break
            name_len, extra_len, comment_len = struct.unpack("<HHH", header[28:34])
            skip = name_len + extra_len + comment_len
            handle.seek(skip, os.SEEK_CUR)
            position += 46 + skip
            count += 1
    return count


def _zip_check_layout(handle: IO[bytes], infos: list[zipfile.ZipInfo], central_start: int) -> None:
    """Refuse overlapping entries, duplicate local headers and local/central name mismatches."""
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        handle.seek(info.header_offset)
        header = handle.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise UnsafeContentError("corrupt zip archive (bad local header)")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        local_name = handle.read(name_len)
        if local_name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace"):
            raise UnsafeContentError("corrupt zip archive (local header and central directory disagree)")
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end, info.filename))
    spans.sort()
    for (_start, end, _name), following in zip(spans, [*spans[1:], (central_start, central_start, "")], strict=True):
        if end > following[0]:
            raise UnsafeContentError("the zip archive has overlapping entries (zip bomb); refused")


def _zip_name(info: zipfile.ZipInfo) -> str:
    # orig_filename: zipfile cuts ``filename`` at a NUL, which would hide it from the name check.
    if info.flag_bits & 0x800:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")
    try:
        return raw.decode("utf-8")  # most tools write UTF-8 without setting the flag
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape")


#: Zip compression methods the standard library can read: stored, deflate, bzip2, LZMA.
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


def _extract_zip(path: Path, writer: _Writer) -> None:
    limits = writer.limits
    size = path.stat().st_size
    end = _zip_end_record(path, size)
    if end is None:
        raise UnsafeContentError("corrupt zip archive (data after the end record, or no end record)")
    max_entries = 4 * limits.max_files + 16
    # zipfile parses the whole central directory whatever the end record's count says: bound it by its
    # size too (46 bytes per entry at the least, names up to the path length cap, some extra fields)
    if (end.entries is not None and end.entries > max_entries) or (
        end.directory_bytes > max_entries * (46 + limits.max_path_chars + 64)
    ):
        raise LimitExceededError(f"the archive has more than {limits.max_files} members")
    if _zip_directory_entries(path, end, max_entries) > max_entries:
        raise LimitExceededError(f"the archive has more than {limits.max_files} members")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError) as exc:
        raise UnsafeContentError(f"corrupt zip archive ({_short(exc)})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > 4 * limits.max_files + 16:
            raise LimitExceededError(f"the archive has more than {limits.max_files} members")
        central_start = archive.start_dir
        with path.open("rb") as handle:
            _zip_check_layout(handle, infos, central_start)
        for info in infos:
            name = _zip_name(info)
            shown = name[:80].encode("unicode_escape", "backslashreplace").decode("ascii")
            unix_mode = info.external_attr >> 16
            kind = stat.S_IFMT(unix_mode)
            if kind == stat.S_IFLNK and writer.limits.whole_tree:
                parts = check_member_name(name, limits)
                if parts is None:
                    writer.skip(name)
                elif info.file_size > 4096:
                    writer.add_link(parts, "/")  # no real link target is this long: reported as unusable
                else:
                    writer.add_link(parts, archive.read(info).decode("utf-8", "replace"))
                continue
            if kind == stat.S_IFLNK:
                raise UnsafeContentError(f"the archive contains a link ({shown}); links are not allowed")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeContentError(f"the archive contains a device or FIFO ({shown}); only files are allowed")
            if info.flag_bits & 0x1:
                raise UnsafeContentError(f"the archive is encrypted ({shown}); refused")
            is_dir = name.endswith("/")
            if kind == stat.S_IFDIR and not is_dir:
                raise UnsafeContentError(f"corrupt zip archive (folder {shown} without a trailing '/')")
            parts = check_member_name(name, limits)
            if parts is None:
                writer.skip(name)
                continue
            if is_dir:
                writer.add_dir(parts)
                continue
            if info.compress_type not in _ZIP_METHODS:
                raise UnsafeContentError(f"the archive uses an unsupported zip compression method ({shown})")
            with archive.open(info) as source:
                writer.add_file(parts, info.file_size, unix_mode or None, source)


def extract_archive(archive: Path, dest: Path, limits: ExtractLimits) -> ExtractResult:
    """Validate and extract ``archive`` (zip, tar, tar.gz/.bz2/.xz, sniffed) into the new folder ``dest``.

    Blocking: call through ``asyncio.to_thread``. On any error ``dest`` may hold a partial tree: the caller
    owns the staging folder and removes it (the core does).

    :param archive: the archive file (already within the download size cap).
    :param dest: a folder that does not exist yet, inside the staging area.
    :returns: counts of what was written.
    :raises UnsafeContentError: a forbidden member, name, layout or a corrupt archive.
    :raises LimitExceededError: too many members, too deep or too long a path.
    :raises QuotaExceededError: more than ``limits.max_bytes`` decompressed.
    """
    fmt = sniff_format(archive)
    dest.mkdir(mode=0o755)
    writer = _Writer(dest, limits)
    try:
        if fmt == "zip":
            _extract_zip(archive, writer)
        else:
            _extract_tar_file(archive, fmt, writer)
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        EOFError,
        lzma.LZMAError,
        gzip.BadGzipFile,
        zlib.error,
        NotImplementedError,
    ) as exc:
        raise UnsafeContentError(f"corrupt or truncated archive ({_short(exc)})") from exc
    except OSError as exc:
        if "Invalid data stream" in str(exc) or "CRC" in str(exc):
            raise UnsafeContentError(f"corrupt or truncated archive ({_short(exc)})") from exc
        raise _storage_error(exc) from exc
    return writer.result()


def _storage_error(exc: OSError) -> Exception:
    """Disk full / quota / I/O errors while writing become a :class:`StorageError`; others stay as they are."""
    if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
        return StorageError("not enough disk space to unpack the add-on")
    if exc.errno == errno.EIO:
        return StorageError("an I/O error happened while unpacking the add-on")
    return exc


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return re.sub(r"[^\x20-\x7e]", "?", text)[:120] or type(exc).__name__


# --- URLs and addresses -------------------------------------------------------------------------

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    compat = int(ip)
    if compat >> 32 == 0 and compat > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(compat)
    return None


def is_public_address(text: str) -> bool:
    """True when ``text`` is a globally routable unicast address (catalogue case 34).

    IPv6 forms that embed an IPv4 address (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64 ``64:ff9b::``) are
    judged by the embedded address as well. Scoped addresses (``fe80::1%eth0``) are never public.
    """
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_v4(ip)
        if inner is not None and not is_public_address(str(inner)):
            return False
    if any(ip in network for network in _NOT_PUBLIC if network.version == ip.version):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


#: Ranges Python's ``is_global`` still calls global that no add-on download should reach (Advocate's deny
#: list): the 6to4 relay anycast range and the IPv6 documentation range of RFC 9637.
_NOT_PUBLIC = (ipaddress.ip_network("192.88.99.0/24"), ipaddress.ip_network("3fff::/20"))


def ip_literal(host: str) -> str | None:
    """The IP address a URL host denotes by itself, or ``None`` for a DNS name.

    Legacy IPv4 spellings that ``getaddrinfo`` accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``0``)
    count as literals, so they are judged before any lookup.
    """
    text = host.strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", text) and re.match(r"^[0-9]", text):
        try:
            return socket.inet_ntoa(socket.inet_aton(text))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed :func:`check_url`: ``host`` lower-cased (IDNA-encoded), ``port`` explicit."""

    url: str
    scheme: str
    host: str
    port: int
    allow_private: bool


def _host_in(host: str, listed: Iterable[str]) -> bool:
    return host.lower() in {h.strip().lower().strip("[]") for h in listed}


def check_url(url: str, settings: Settings) -> CheckedUrl:
    """Validate a download URL's text (catalogue cases 36 and 37), before any lookup.

    https only, except hosts in ``URL_ALLOW_HTTP_HOSTS``/``URL_ALLOW_PRIVATE_HOSTS`` which may use http; no
    userinfo, backslashes, control characters or ``%00``; default ports only unless the host is
    admin-listed.

    :raises SpecError: the URL is malformed or not allowed.
    """
    if any(ord(c) < 33 or ord(c) == 127 for c in url) or "\\" in url or "%00" in url.lower():
        raise SpecError("the URL contains spaces, control characters, a backslash or %00")
    try:
        parts = urlsplit(url)
        port_value = parts.port
    except ValueError as exc:
        raise SpecError("the URL is malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise SpecError(f"only https:// URLs can be downloaded (not {scheme or 'a relative URL'}:)")
    if "@" in parts.netloc or parts.username is not None:
        raise SpecError("URLs with a user name or password are not allowed")
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        raise SpecError("the URL has no host")
    try:
        host = raw_host.encode("idna").decode("ascii").lower() if not raw_host.isascii() else raw_host.lower()
    except UnicodeError as exc:
        raise SpecError("the URL's host name is not valid") from exc
    listed_private = _host_in(host, settings.url_allow_private_hosts)
    listed_http = _host_in(host, settings.url_allow_http_hosts)
    if scheme == "http" and not (listed_private or listed_http):
        raise SpecError(f"plain http:// is not allowed for {host}; use https://")
    port = port_value or (443 if scheme == "https" else 80)
    if port not in {80, 443} and not (listed_private or listed_http):
        raise SpecError(f"port {port} is not allowed; only the default http(s) ports")
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, allow_private=listed_private)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver (``getaddrinfo``); ``[ip text, …]`` without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SourceError(f"cannot resolve host {host}") from exc
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


async def vet_host(checked: CheckedUrl, resolver: HostResolver) -> list[str]:
    """The addresses to connect to for ``checked.host``: resolved once, every one must be public
    (catalogue cases 34 and 35) unless the host is in ``URL_ALLOW_PRIVATE_HOSTS``.

    :raises SourceError: the host does not resolve.
    :raises UnsafeContentError: an address is not public.
    """
    literal = ip_literal(checked.host)
    addresses = [literal] if literal is not None else await resolver(checked.host, checked.port)
    if not addresses:
        raise SourceError(f"cannot resolve host {checked.host}")
    if not checked.allow_private:
        for address in addresses:
            if not is_public_address(address.split("%")[0]) or "%" in address:
                raise UnsafeContentError(
                    f"refusing to download from {checked.host}: it points to a private or reserved address"
                )
    return addresses


class _PinnedResolver:
    """aiohttp resolver that answers only with addresses vetted beforehand (no second lookup)."""

    def __init__(self) -> None:
        self.pinned: dict[str, list[str]] = {}

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        addresses = self.pinned.get(host.lower().rstrip("."))
        if not addresses:
            raise OSError(f"host {host} was not vetted")
        results = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


@dataclass
class _Progress:
    callback: Callable[[str, str | None], None] | None = None
    last_reported: int = field(default=0)

    def bytes(self, count: int) -> None:
        if self.callback is not None and count - self.last_reported >= 1024 * 1024:
            self.last_reported = count
            self.callback("downloading", f"{count // (1024 * 1024)} MB")


async def download(
    url: str,
    dest: Path,
    *,
    settings: Settings,
    max_bytes: int,
    resolver: HostResolver | None = None,
    progress: Callable[[str, str | None], None] | None = None,
) -> DownloadResult:
    """Download ``url`` into the new file ``dest`` (streamed; partial file removed on failure).

    Timeouts: ``DOWNLOAD_CONNECT_TIMEOUT_SECONDS``, ``DOWNLOAD_READ_TIMEOUT_SECONDS`` (between reads) and
    ``DOWNLOAD_TOTAL_TIMEOUT_SECONDS`` (the whole download, redirects included).

    :param max_bytes: refuse bodies larger than this, counted on the bytes received.
    :param resolver: DNS resolver for vetting hosts (default :func:`system_resolver`).
    :raises SpecError: the URL (or a redirect target) is not allowed.
    :raises UnsafeContentError: a host resolves to a non-public address.
    :raises QuotaExceededError: the body is larger than ``max_bytes``.
    :raises LimitExceededError: a timeout, or too many redirects.
    :raises SourceError: network failure or an HTTP error status.
    """
    import aiohttp

    digest = hashlib.sha256()
    timeout = settings.download_total_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await _download(url, dest, settings, max_bytes, resolver or system_resolver, progress, digest)
    except TimeoutError as exc:
        dest.unlink(missing_ok=True)
        raise LimitExceededError(
            f"the download timed out ({settings.download_read_timeout_seconds:g} s without data or "
            f"{timeout:g} s in total)"
        ) from exc
    except aiohttp.ClientError as exc:
        dest.unlink(missing_ok=True)
        raise SourceError(f"the download failed: {_describe_client_error(exc)}", detail=_short(exc)) from exc
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _url_for_detail(url: str) -> str:
    """``url`` without user info, query or fragment (they may hold tokens), for a ``detail`` line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _describe_client_error(exc: BaseException) -> str:
    """One fixed phrase per aiohttp failure (the server's own bytes never reach the user)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "the server's TLS certificate is not valid (certificate verification failed)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "cannot connect to the server"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the server sent a broken response body"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the server sent an invalid HTTP response"
    return type(exc).__name__


async def _download(
    url: str,
    dest: Path,
    settings: Settings,
    max_bytes: int,
    resolver: HostResolver,
    progress: Callable[[str, str | None], None] | None,
    digest: Any,
) -> DownloadResult:
    import aiohttp

    pinned = _PinnedResolver()
    connector = aiohttp.TCPConnector(resolver=pinned, use_dns_cache=False, force_close=True)  # type: ignore[arg-type]
    client_timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=settings.download_connect_timeout_seconds,
        sock_read=settings.download_read_timeout_seconds,
    )
    report = _Progress(progress)
    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout, trust_env=False, auto_decompress=False
    ) as session:
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            checked = check_url(current, settings)
            pinned.pinned[checked.host] = await vet_host(checked, resolver)
            async with session.get(current, allow_redirects=False, headers={"Accept-Encoding": "identity"}) as response:
                if response.status in {301, 302, 303, 307, 308}:
                    location = response.headers.get("Location")
                    if not location:
                        raise SourceError(f"the server sent a redirect without a target (HTTP {response.status})")
                    if hop == MAX_REDIRECTS:
                        raise LimitExceededError(f"too many redirects (more than {MAX_REDIRECTS})")
                    current = urljoin(current, location)
                    continue
                if response.status >= 400:
                    raise SourceError(
                        f"the server answered HTTP {response.status} for {checked.host}",
                        detail=f"HTTP {response.status} {_url_for_detail(current)}",
                    )
                if response.status != 200:
                    raise SourceError(
                        f"unexpected HTTP status {response.status} from {checked.host}",
                        detail=f"HTTP {response.status} {_url_for_detail(current)}",
                    )
                length = response.content_length
                if length is not None and length > max_bytes:
                    raise QuotaExceededError(
                        f"the download is larger than {max_bytes // (1024 * 1024)} MB (server says {length} bytes)"
                    )
                received = 0
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                with os.fdopen(os.open(dest, flags, 0o600), "wb") as out:
                    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                        received += len(chunk)
                        if received > max_bytes:
                            raise QuotaExceededError(f"the download is larger than {max_bytes // (1024 * 1024)} MB")
                        digest.update(chunk)
                        out.write(chunk)
                        report.bytes(received)
                return DownloadResult(
                    path=dest,
                    final_url=current,
                    size_bytes=received,
                    sha256=digest.hexdigest(),
                    content_type=response.headers.get("Content-Type", ""),
                )
    raise LimitExceededError(f"too many redirects (more than {MAX_REDIRECTS})")  # pragma: no cover
