"""Built-in source ``local``: install a folder on this machine (a single skill or a plugin package).

Specs it claims: ``./dir``, ``../dir``, ``/abs/dir``, ``~/dir`` (and ``.``/``..``), or explicitly
``local:<path>``. A path to an archive file (``./x.zip``) is the ``upload`` source's, so the claims are
disjoint. ``file:`` URLs are not local paths and are left to other sources.

The folder is copied into staging file by file; what is refused, and why (security catalogue):

* symbolic links, wherever they point (inside or outside the folder): a link inside an add-on could later
  be re-pointed, and copying link targets would make the installed tree differ from what was reviewed;
* devices, FIFOs and sockets;
* more than ``MAX_ADDON_FILES`` files or ``MAX_ADDON_SIZE_MB`` in total (checked while copying);
* when the install request restricts local paths (the bot passes ``LOCAL_SOURCE_ROOTS`` as
  ``local_roots``, for installs and updates alike): any folder not under one of them.

``.git/`` folders are not copied. The package name offered to the core is the folder name; the core
decides the final name (a single skill's frontmatter ``name``) and the version (a skill's
``metadata.version``). The source has no ``search``/``info``; ``latest`` reports the folder's current
content fingerprint when it differs from the installed one, so ``kiroclaw addon update`` re-copies a
changed folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import kiroclaw
from kiroclaw import (
    AddonRecord,
    FetchContext,
    Fetched,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    Ref,
    Settings,
    Source,
    SpecError,
    UnsafeContentError,
    checkpoint,
    hookimpl,
)

_PATH_SPEC = re.compile(r"^(?:\.{1,2}|~|\.{1,2}/.*|~/.*|/.*)$", re.S)
_SKIPPED_DIRS = frozenset({".git"})
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


#: Suffixes of archive files: a path ending in one is the ``upload`` source's, not this one's.
ARCHIVE_SUFFIXES = (".zip", ".skill", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")


def is_local_spec(spec: str) -> bool:
    """True for specs that look like a path: ``./x``, ``../x``, ``/abs``, ``~/x``, ``.``, ``..``, ``~``."""
    return bool(_PATH_SPEC.match(spec.strip()))


def is_archive_path(spec: str) -> bool:
    """True for a path spec naming an archive file by its suffix (``./my-skill.zip``)."""
    return is_local_spec(spec) and spec.strip().lower().endswith(ARCHIVE_SUFFIXES)


def package_name_for(folder: Path) -> str:
    """A package name from a folder name: characters outside ``[A-Za-z0-9._+-]`` become ``-``."""
    name = _NAME_CHARS.sub("-", folder.name).strip("-.") or "local-package"
    return name[:100]


def copy_tree_safely(
    src: Path,
    dst: Path,
    *,
    max_bytes: int,
    max_files: int,
    progress: Callable[[int, int], None] | None = None,
    links: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Copy ``src`` into the new folder ``dst``: regular files and folders only, ``.git/`` skipped.

    :param links: when given, symbolic links are recorded here (path relative to ``src`` → target text,
        read with ``readlink``, never followed) and not copied; otherwise a link is refused.
    :returns: (files copied, bytes copied).
    :raises UnsafeContentError: a symlink (unless ``links`` is given), device, FIFO or socket in ``src``.
    :raises LimitExceededError: more than ``max_files`` files.
    :raises QuotaExceededError: more than ``max_bytes`` bytes in total.
    """
    files = total = 0
    dst.mkdir()
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        rel_dir = here.relative_to(src)
        target_dir = dst / rel_dir
        keep_dirs = []
        for name in sorted(dirnames):
            if name in _SKIPPED_DIRS:
                continue
            rel = (rel_dir / name).as_posix()
            mode = os.lstat(here / name).st_mode
            if stat.S_ISLNK(mode):
                if links is None:
                    raise UnsafeContentError(f"the folder contains a symbolic link ({rel}); links are not installed")
                links[rel] = os.readlink(here / name)
                continue
            keep_dirs.append(name)
            (target_dir / name).mkdir()
        dirnames[:] = keep_dirs
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            source_file = here / name
            st = os.lstat(source_file)
            if stat.S_ISLNK(st.st_mode):
                if links is None:
                    raise UnsafeContentError(f"the folder contains a symbolic link ({rel}); links are not installed")
                links[rel] = os.readlink(source_file)
                continue
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeContentError(f"the folder contains a special file ({rel}); only files are installed")
            files += 1
            total += st.st_size
            if files > max_files:
                raise LimitExceededError(f"the folder has more than {max_files} files")
            if total > max_bytes:
                raise QuotaExceededError(f"the folder is larger than {max_bytes // (1024 * 1024)} MB")
            _copy_file(source_file, target_dir / name, max_bytes - (total - st.st_size))
            checkpoint("mid-extract")
            if progress is not None:
                progress(files, total)
    return files, total


def _copy_file(src: Path, dst: Path, budget_bytes: int) -> None:
    # O_NOFOLLOW: the file may have been swapped for a link since lstat.
    fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fin, dst.open("xb") as fout:
        if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            raise UnsafeContentError(f"{src.name} is not a regular file")
        copied = 0
        while chunk := fin.read(1 << 16):
            copied += len(chunk)
            if copied > budget_bytes:
                raise QuotaExceededError("the folder grew past the size limit while it was copied")
            fout.write(chunk)
    # modes are normalised as for archives: no setuid/setgid/sticky, no group or world write
    os.chmod(dst, 0o755 if os.stat(src, follow_symlinks=False).st_mode & 0o111 else 0o644)


class LocalSource(Source):
    """Install a folder from this machine (see the module docstring for what is refused)."""

    name = "local"
    description = "a folder on the server: ./dir, /abs/dir, ~/dir (bot: only under LOCAL_SOURCE_ROOTS)"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def claims(self, spec: str) -> bool:
        """A path to a folder: ``./dir``, ``/abs/dir``, ``~/dir`` (not a path ending in an archive suffix)."""
        return is_local_spec(spec) and not is_archive_path(spec)

    def parse(self, spec: str) -> Ref:
        """``spec`` is a path; it is made absolute (``~`` expanded) so ``update`` finds it again.

        :raises SpecError: not a path spec, or contains a NUL.
        """
        text = spec.strip()
        if "\x00" in text or not text:
            raise SpecError("a local folder path is required")
        if text.startswith("file:"):
            raise SpecError("file: URLs are not local folder paths; give the path itself (./dir or /abs/dir)")
        folder = Path(os.path.abspath(os.path.expanduser(text)))
        return Ref(source=self.name, spec=str(folder), locator=str(folder), name=package_name_for(folder))

    def _check_folder(self, folder: Path, context: FetchContext) -> Path:
        if context.local_roots is not None:
            try:
                folder = context.check_local_path(folder)
            except PermissionDeniedError:
                raise PermissionDeniedError("this folder is not in an allowed local source root") from None
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            raise NotFoundError("no such folder") from None
        except OSError as exc:
            raise NotFoundError(f"the folder cannot be read ({exc.strerror})") from None
        if not stat.S_ISDIR(st.st_mode):
            raise SpecError("not a folder: the local source installs folders")
        if not os.access(folder, os.R_OK | os.X_OK):
            raise PermissionDeniedError("the folder is not readable")
        return folder

    async def fetch(self, ref: Ref, staging_dir: Path, context: FetchContext) -> Fetched:
        """Copy the folder into ``staging_dir/<folder name>`` (see :func:`copy_tree_safely`).

        :raises SpecError: ``--version`` was given (a folder has no versions).
        :raises NotFoundError, PermissionDeniedError, UnsafeContentError, LimitExceededError,
            QuotaExceededError: see the module docstring.
        """
        if ref.version is not None:
            raise SpecError("the local source installs a folder as it is; --version is not supported")
        folder = self._check_folder(Path(ref.locator), context)
        context.progress("copying", ref.name)
        target = staging_dir / package_name_for(folder)
        links: dict[str, str] = {}
        # the whole folder is staged (links recorded, not copied); the core places only the skills and
        # recipes it finds, and applies the add-on caps to those
        limits = context.tree_limits
        await asyncio.to_thread(
            copy_tree_safely,
            folder,
            target,
            max_bytes=limits.max_bytes,
            max_files=limits.max_files,
            links=links,
        )
        source_fingerprint = await asyncio.to_thread(kiroclaw.tree_fingerprint, target)
        return Fetched(
            root=target,
            origin={"path": str(folder), "source_fingerprint": source_fingerprint},
            name=ref.name,
            links=links,
        )

    async def latest(self, installed: AddonRecord) -> str | None:
        """The folder's current content fingerprint when it differs from the installed one, else ``None``.

        :raises NotFoundError: the folder is gone.
        """
        folder = Path(installed.origin.get("path") or installed.spec)
        if not folder.is_dir():
            raise NotFoundError("the folder it was installed from no longer exists")
        recorded = installed.origin.get("source_fingerprint")
        if recorded:  # the fingerprint of the whole folder as staged (only part of it is installed)
            current = await asyncio.to_thread(_folder_fingerprint, folder)
            return None if current == recorded else current
        current = await asyncio.to_thread(kiroclaw.addon_fingerprint, folder)
        return None if current == installed.fingerprint else current


def _folder_fingerprint(folder: Path) -> str:
    """The fingerprint the folder has once staged (``.git`` and links left out, as in :meth:`fetch`)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kiroclaw-local-") as tmp:
        target = Path(tmp) / "copy"
        copy_tree_safely(folder, target, max_bytes=1 << 40, max_files=1 << 30, links={})
        return kiroclaw.tree_fingerprint(target)


@hookimpl
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    register(LocalSource(settings))


