"""Content fingerprints of add-on folders: the ClawHub ``buildSkillFingerprint`` algorithm.

One algorithm serves both KiroClaw's registry (detecting local edits before ``update``) and the KiroHub
protocol (``GET /api/v1/resolve?hash=``), so fingerprints computed here match the ``clawhub`` CLI's and
the ClawHub server's (``kirohub-protocol.md`` §7):

1. every regular file under the folder, skipping any path segment that starts with ``.`` and
   ``node_modules``;
2. ``path`` (POSIX, relative) and ``sha256`` (lowercase hex of the bytes) per file;
3. sorted like JavaScript's ``a.path.localeCompare(b.path)`` (ICU collation, *not* code-point order);
4. the lines ``path:sha256`` joined with ``\\n`` (no trailing newline), then sha256-hex of that.

``.gitignore``/``.clawhubignore`` rules of the skill are not applied (installed add-ons hold neither
after staging; documented difference).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from .staging import sha256_file as file_sha256

__all__ = [
    "covered",
    "file_sha256",
    "fingerprint_entries",
    "iter_files",
    "js_locale_key",
    "tree_fingerprint",
    "tree_size",
]

#: ICU root collation order of printable ASCII at the primary level, as JS ``localeCompare`` sorts it
#: (fuzz-verified against Node 20 on printable-ASCII paths; kirohub-protocol.md §7, trap 2).
_ORDER = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_RANK = {c: i for i, c in enumerate(_ORDER)}


#: ``str.translate`` tables for ASCII paths (the fast path of :func:`js_locale_key`): each character to the
#: character whose code is its primary rank (all below 256), and to ``\x01``/``\x00`` for upper case.
_PRIMARY_ASCII = {i: chr(_RANK.get(chr(i).lower(), len(_ORDER) + i)) for i in range(128)}
_UPPER_ASCII = {i: "\x01" if chr(i).isupper() else "\x00" for i in range(128)}


def js_locale_key(path: str) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """Sort key equal to JS ``localeCompare`` order for printable-ASCII strings.

    Characters outside the table sort after it by code point (an approximation; ICU would be exact).
    Lowercase sorts before uppercase on a tie, as in ICU's tertiary level (``1`` for an upper-case character).
    """
    if path.isascii():  # the same numbers, computed in C
        primary = tuple(path.translate(_PRIMARY_ASCII).encode("latin-1"))
        return primary, tuple(path.translate(_UPPER_ASCII).encode("ascii")), path
    return (
        tuple(_RANK.get(c.lower(), len(_ORDER) + ord(c)) for c in path),
        tuple(int(c.isupper()) for c in path),
        path,
    )


def covered(path: str) -> bool:
    """Whether the fingerprint covers the file at POSIX relative ``path``: no segment starts with ``.``
    and no folder is ``node_modules`` (rule 1 of the module docstring)."""
    *folders, name = path.split("/")
    return not name.startswith(".") and not any(f.startswith(".") or f == "node_modules" for f in folders)


def iter_files(root: Path) -> Iterable[tuple[str, Path]]:
    """(POSIX relative path, absolute path) of every regular file the fingerprint covers."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "node_modules"]
        base = Path(dirpath)
        for name in filenames:
            if name.startswith("."):
                continue
            full = base / name
            if full.is_symlink() or not full.is_file():
                continue
            yield full.relative_to(root).as_posix(), full


def fingerprint_entries(entries: Iterable[tuple[str, str]]) -> str:
    """Fingerprint from ``(relative POSIX path, sha256 hex)`` pairs (server side: files of a version)."""
    ordered = sorted(entries, key=lambda item: js_locale_key(item[0]))
    return hashlib.sha256("\n".join(f"{p}:{h}" for p, h in ordered).encode("utf-8")).hexdigest()


def tree_fingerprint(root: Path) -> str:
    """Fingerprint of the folder ``root`` (see module docstring); sha256 hex, 64 characters."""
    return fingerprint_entries((rel, file_sha256(full)) for rel, full in iter_files(root))


def tree_size(root: Path) -> tuple[int, int]:
    """(number of regular files, total bytes) under ``root``, links not followed."""
    count = total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            count += 1
            total += st.st_size
    return count, total
