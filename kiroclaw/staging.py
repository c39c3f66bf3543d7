"""Staging helpers shared by the install pipeline and every source: new folders inside a staging area,
deleting trees we own (links removed, never followed), sha256 of files (one reader for every caller) and
the one check walk over a staged tree (:func:`walk_staged_tree`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LimitExceededError, QuotaExceededError, SpecError, UnsafeContentError

if TYPE_CHECKING:
    from .config import Settings

#: Names starting with this prefix are KiroClaw's control files (completion marker…); add-ons may not ship them.
CONTROL_PREFIX = ".kiroclaw"
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


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
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


#: Files up to this size keep their bytes on the walk's :class:`StagedFile` (for the policy scan) …
KEEP_CONTENT_BYTES = 8 * 1024 * 1024
#: … while the kept bytes of one add-on stay under this total.
KEEP_TOTAL_BYTES = 64 * 1024 * 1024


def _read_once(path: str | Path, keep: bool) -> tuple[str, bytes | None]:
    """(sha256, the bytes when ``keep`` and the file is small enough) from one read, opened without
    following a link."""
    digest = hashlib.sha256()
    kept: list[bytes] | None = [] if keep else None
    size = 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            if kept is not None:
                kept.append(chunk)
                if size > KEEP_CONTENT_BYTES:
                    kept = None
    return digest.hexdigest(), (b"".join(kept) if kept is not None else None)


def sha256_file(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 (64 lowercase characters) of a file's bytes, read in ``chunk_bytes`` chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
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


@dataclass(frozen=True)
class ExtractLimits:
    """Caps applied while extracting.

    :ivar max_files: most regular files (``MAX_ADDON_FILES``); directories count towards ``4 × max_files``.
    :ivar max_depth: most path segments (``MAX_PATH_DEPTH``).
    :ivar max_path_chars: longest relative path, in characters (``MAX_PATH_LENGTH``).
    :ivar max_bytes: most bytes written in total (``MAX_ADDON_SIZE_MB`` in bytes).
    :ivar whole_tree: a whole fetched tree that discovery picks from (:mod:`kiroclaw.discovery`): links
        are recorded in :attr:`~kiroclaw.archives.ExtractResult.links`, never written; case-folded twins
        are both written (each placed skill is checked again). Every other rule holds.
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


# --- the one walk over a staged tree --------------------------------------------------------------


@dataclass(frozen=True)
class StagedFile:
    """One regular file of a staged add-on, as the check walk saw it.

    :ivar path: POSIX path relative to the walked root (``scripts/run.sh``).
    :ivar full: the absolute path on disk (read-only: the tree is about to be installed).
    :ivar size_bytes: its size in bytes.
    :ivar sha256: lowercase hex sha256 of its bytes.
    """

    path: str
    full: Path
    size_bytes: int
    sha256: str
    #: the bytes the walk read (files up to :data:`KEEP_CONTENT_BYTES`, while the add-on's kept total stays
    #: under :data:`KEEP_TOTAL_BYTES`), so the install policy scans them without reading the file again.
    content: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class StagedTree:
    """What the check walk found: every regular file (sorted by path) and the totals."""

    root: Path
    files: tuple[StagedFile, ...]
    size_bytes: int

    def below(self, folder: Path) -> tuple[StagedFile, ...]:
        """The files under ``folder`` (``root`` or one of its sub-folders), with paths relative to it."""
        if folder == self.root:
            return self.files
        prefix = folder.relative_to(self.root).as_posix() + "/"
        return tuple(
            StagedFile(f.path[len(prefix) :], f.full, f.size_bytes, f.sha256, f.content)
            for f in self.files
            if f.path.startswith(prefix)
        )


def walk_staged_tree(root: Path, *, max_bytes: int, max_files: int, max_depth: int, max_path_chars: int) -> StagedTree:
    """The one walk over a staged tree, whatever the source did: only regular files and folders, no KiroClaw
    control files (names starting with ``.kiroclaw``), the size, count, depth and path-length caps, and the
    sha256 of every file (for the fingerprint and the policy), in a single pass.

    :raises UnsafeContentError: a symlink, device, FIFO, socket or control file.
    :raises QuotaExceededError: more than ``max_bytes`` in total.
    :raises LimitExceededError: more than ``max_files`` files, or a path too deep or too long.
    """
    files: list[StagedFile] = []
    total = 0
    kept_total = 0
    top = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(top):
        # os.walk joins each folder to ``top`` with os.path.join: the relative path is what follows it
        prefix = "" if dirpath == top else dirpath[len(top) :].lstrip(os.sep).replace(os.sep, "/") + "/"
        dirnames.sort()
        for entry in [*dirnames, *sorted(filenames)]:
            full = os.path.join(dirpath, entry)
            rel = prefix + entry
            if entry.startswith(CONTROL_PREFIX):
                raise UnsafeContentError(f"the add-on contains {rel!r}: names starting with .kiroclaw are reserved")
            if len(rel) > max_path_chars or rel.count("/") >= max_depth:
                raise LimitExceededError(f"the add-on has a path deeper or longer than allowed: {rel[:80]!r}")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeContentError(f"the add-on contains a symbolic link ({rel}); links are not allowed")
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeContentError(f"the add-on contains a special file ({rel}); only files are allowed")
            total += st.st_size
            if len(files) + 1 > max_files:
                raise LimitExceededError(f"the add-on has more than {max_files} files")
            if total > max_bytes:
                raise QuotaExceededError(f"the add-on is larger than {max_bytes // (1024 * 1024)} MB")
            keep = st.st_size <= KEEP_CONTENT_BYTES and kept_total + st.st_size <= KEEP_TOTAL_BYTES
            digest, content = _read_once(full, keep)
            kept_total += len(content) if content is not None else 0
            files.append(StagedFile(rel, Path(full), st.st_size, digest, content))
    files.sort(key=lambda f: f.path)
    return StagedTree(root, tuple(files), total)
