"""Safe archive extraction shared by every source: one parser both validates and extracts.

Rules (security catalogue §1; each has a test in ``tests/acquire/``): members are written one by one as
the archive streams. Only regular files and directories are written; every symlink, hardlink, device,
FIFO, sparse/contiguous or unknown member is refused at the first such member. Names are refused when
absolute, with a drive letter, ``..`` above the root, a backslash, NUL/control/format characters or invalid
UTF-8, when they collide with another member after NFC normalisation and case folding (``café``/``café``,
``ß``/``SS``, a file and a folder of the same name), or when a segment starts with ``.kiroclaw`` (our
control files). ``.git`` and ``__MACOSX`` folders are skipped. Caps: member count (``MAX_ADDON_FILES``),
path depth (``MAX_PATH_DEPTH``), path length (``MAX_PATH_LENGTH``), and the bytes actually decompressed
(``MAX_ADDON_SIZE_MB``), counted while writing in 64 KiB chunks, so a bomb stops at the cap. Every target
is checked with ``Path.resolve().is_relative_to(root)``, files are created with ``O_EXCL|O_NOFOLLOW`` and
modes are normalised to 0644/0755.

Formats are sniffed from magic bytes (:func:`sniff_format`): zip, tar, and tar compressed with gzip, bzip2
or xz. A file that is both (a tar.gz with a zip appended) is refused as ambiguous. Zip archives are refused
when their entries overlap, when a local header disagrees with the central directory, when data follows
the end record, or when they are encrypted (checks in :mod:`kiroclaw.zipcheck`).
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import re
import stat
import tarfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, cast

from .errors import LimitExceededError, QuotaExceededError, StorageError, UnsafeContentError
from .staging import CONTROL_PREFIX, ExtractLimits
from .treeindex import hard_link_target
from .zipcheck import zip_check_layout, zip_directory_entries, zip_end_record, zip_name

if TYPE_CHECKING:
    pass

__all__ = ["CONTROL_PREFIX", "ExtractLimits", "check_member_name", "recorded_link_target"]

#: Folders dropped silently from archives (VCS metadata, macOS resource forks).
SKIPPED_SEGMENTS = frozenset({".git", "__macosx"})
#: Write/read chunk size, bytes; the byte cap may be exceeded by at most this much on disk.
CHUNK_BYTES = 64 * 1024
#: Per-member header allowance when bounding a decompressed tar stream, bytes (header + pax/GNU records).
_TAR_HEADER_ALLOWANCE = 4096

ArchiveFormat = Literal["zip", "tar", "gzip", "bzip2", "xz"]

_DRIVE = re.compile(r"^[A-Za-z]:")


# --- limits and results -------------------------------------------------------------------------


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
    plain = raw.isascii() and raw.isprintable()  # no surrogate, control or format character: skip the loop
    for char in "" if plain else raw:
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
    normalised = tuple(parts) if plain else tuple(unicodedata.normalize("NFC", p) for p in parts)
    for part in normalised:
        if part.lower().startswith(CONTROL_PREFIX):
            raise UnsafeContentError(f"the archive ships a reserved name ({part!r}; .kiroclaw* is ours)")
        if len(part.encode("utf-8")) > 255:
            raise LimitExceededError("the archive has a file name longer than 255 bytes")
    if any(p.lower() in SKIPPED_SEGMENTS for p in normalised):
        return None
    return normalised


def recorded_link_target(target: str, limits: ExtractLimits) -> str:
    """A link's target as recorded with ``ExtractLimits.whole_tree``: ``target`` itself, or ``/`` (which
    discovery reports as an absolute, unusable target) when it is longer than 4 × ``max_path_chars``
    characters or holds a NUL."""
    return "/" if len(target) > limits.max_path_chars * 4 or "\x00" in target else target


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
        self._resolved: dict[tuple[str, ...], str] = {}
        self._made: set[str] = {str(self.root)}
        self.links: list[tuple[str, str]] = []

    def _target(self, parts: tuple[str, ...]) -> tuple[str, str]:
        """(folder, path) of a member, both absolute strings.

        Containment on resolved paths (never string prefixes). The parent folder's resolution is cached:
        nothing but plain folders is ever created under the root, so it cannot change between members.
        The last part is one checked segment (:func:`check_member_name`: never empty, ``.``, ``..`` or
        holding a ``/``), so the path stays in that folder.
        """
        parent_key = parts[:-1]
        parent = self._resolved.get(parent_key)
        if parent is None:
            resolved = self.root.joinpath(*parent_key).resolve()
            if not resolved.is_relative_to(self.root):
                raise UnsafeContentError("the archive has a member outside destination")
            parent = self._resolved[parent_key] = str(resolved)
        name = parts[-1]
        if not name or name in {".", ".."} or "/" in name:
            raise UnsafeContentError("the archive has a member outside destination")
        target = os.path.join(parent, name)
        if os.path.islink(target):
            raise UnsafeContentError("the archive has a member outside destination (through a link)")
        return parent, target

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

    def _mkdirs(self, folder: str) -> None:
        if folder not in self._made:
            os.makedirs(folder, mode=0o755, exist_ok=True)
            self._made.add(folder)

    def add_link(self, parts: tuple[str, ...], target: str) -> None:
        """Record a link member (``whole_tree`` only); nothing is written."""
        self._claim(parts, "link")
        self.links.append(("/".join(parts), recorded_link_target(target, self.limits)))

    def add_dir(self, parts: tuple[str, ...]) -> None:
        if self._claim(parts, "dir"):
            return
        self._mkdirs(self._target(parts)[1])

    def add_file(self, parts: tuple[str, ...], declared_size: int | None, mode: int | None, source: IO[bytes]) -> None:
        self._claim(parts, "file")
        self.files += 1
        if self.files > self.limits.max_files:
            raise LimitExceededError(f"the archive has more than {self.limits.max_files} files")
        if declared_size is not None and self.size_bytes + declared_size > self.limits.max_bytes:
            raise QuotaExceededError(self._too_big())
        folder, target = self._target(parts)
        self._mkdirs(folder)
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
    if zip_start or (kinds and zip_end_record(path, size) is not None):
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
            target = hard_link_target(member.name, target)
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
        raise UnsafeContentError(f"corrupt tar archive ({short_reason(exc)})") from exc
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


_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


def _extract_zip(path: Path, writer: _Writer) -> None:
    limits = writer.limits
    size = path.stat().st_size
    end = zip_end_record(path, size)
    if end is None:
        raise UnsafeContentError("corrupt zip archive (data after the end record, or no end record)")
    max_entries = 4 * limits.max_files + 16
    # zipfile parses the whole central directory whatever the end record's count says: bound it by its
    # size too (46 bytes per entry at the least, names up to the path length cap, some extra fields)
    if (end.entries is not None and end.entries > max_entries) or (
        end.directory_bytes > max_entries * (46 + limits.max_path_chars + 64)
    ):
        raise LimitExceededError(f"the archive has more than {limits.max_files} members")
    if zip_directory_entries(path, end, max_entries) > max_entries:
        raise LimitExceededError(f"the archive has more than {limits.max_files} members")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError) as exc:
        raise UnsafeContentError(f"corrupt zip archive ({short_reason(exc)})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > 4 * limits.max_files + 16:
            raise LimitExceededError(f"the archive has more than {limits.max_files} members")
        central_start = archive.start_dir
        with path.open("rb") as handle:
            zip_check_layout(handle, infos, central_start)
        for info in infos:
            name = zip_name(info)
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
        raise UnsafeContentError(f"corrupt or truncated archive ({short_reason(exc)})") from exc
    except OSError as exc:
        if "Invalid data stream" in str(exc) or "CRC" in str(exc):
            raise UnsafeContentError(f"corrupt or truncated archive ({short_reason(exc)})") from exc
        raise _storage_error(exc) from exc
    return writer.result()


def _storage_error(exc: OSError) -> Exception:
    """Disk full / quota / I/O errors while writing become a :class:`StorageError`; others stay as they are."""
    if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
        return StorageError("not enough disk space to unpack the add-on")
    if exc.errno == errno.EIO:
        return StorageError("an I/O error happened while unpacking the add-on")
    return exc


def short_reason(exc: BaseException) -> str:
    """An exception as one short printable-ASCII phrase (at most 120 characters) for user messages."""
    text = " ".join(str(exc).split())
    return re.sub(r"[^\x20-\x7e]", "?", text)[:120] or type(exc).__name__
