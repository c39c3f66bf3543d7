"""Built-in source ``local``: install a folder on this machine (a single skill or a plugin package).

Specs it claims: ``./dir``, ``../dir``, ``/abs/dir``, ``~/dir`` (and ``.``/``..``), or explicitly
``local:<path>``. ``file:`` URLs are not local paths and are left to other sources.

The folder is copied into staging file by file; what is refused, and why (security catalogue):

* symbolic links, wherever they point (inside or outside the folder): a link inside an add-on could later
  be re-pointed, and copying link targets would make the installed tree differ from what was reviewed;
* devices, FIFOs and sockets;
* more than ``MAX_ADDON_FILES`` files or ``MAX_ADDON_SIZE_MB`` in total (checked while copying);
* from the bot (``interactive_caller == "bot"``): any folder not under ``LOCAL_SOURCE_ROOTS``.

``.git/`` folders are not copied. The add-on name is the folder name for a plugin package (the core
names a single skill after its frontmatter ``name``). The version is the skill's ``metadata.version``
(single skill) or ``None``. The source has no ``search``/``info``; ``latest`` reports the folder's current
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
    hookimpl,
)
from kiroclaw.faults import checkpoint

_PATH_SPEC = re.compile(r"^(?:\.{1,2}|~|\.{1,2}/.*|~/.*|/.*)$", re.S)
_SKIPPED_DIRS = frozenset({".git"})
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


def is_local_spec(spec: str) -> bool:
    """True for specs that look like a path: ``./x``, ``../x``, ``/abs``, ``~/x``, ``.``, ``..``, ``~``."""
    return bool(_PATH_SPEC.match(spec.strip()))


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
        if context.interactive_caller == "bot":
            resolved = folder.resolve()
            roots = [Path(root).expanduser().resolve() for root in self._settings.local_source_roots]
            if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
                raise PermissionDeniedError("this folder is not in an allowed local source root")
            folder = resolved
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
        from kiroclaw.acquire import ExtractLimits
        from kiroclaw.fingerprint import tree_fingerprint

        target = staging_dir / package_name_for(folder)
        links: dict[str, str] = {}
        # the whole folder is staged (links recorded, not copied); the core places only the skills and
        # recipes it finds, and applies the add-on caps to those
        limits = ExtractLimits.for_fetch(self._settings)
        await asyncio.to_thread(
            copy_tree_safely,
            folder,
            target,
            max_bytes=limits.max_bytes,
            max_files=limits.max_files,
            links=links,
        )
        version = _skill_version(target)
        source_fingerprint = await asyncio.to_thread(tree_fingerprint, target)
        return Fetched(
            root=target,
            version=version,
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
        root = folder
        # the core installs the folder's only sub-folder when the top holds no add-on (layout detection)
        if not any((folder / name).exists() for name in ("SKILL.md", "skills", "recipes")):
            entries = [p for p in folder.iterdir() if p.name not in {".git", "__MACOSX", ".DS_Store"}]
            if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
                root = entries[0]
        from kiroclaw.fingerprint import tree_fingerprint

        current = await asyncio.to_thread(tree_fingerprint, root)
        return None if current == installed.fingerprint else current


def _folder_fingerprint(folder: Path) -> str:
    """The fingerprint the folder would have once staged (``.git`` and links left out, as in a copy)."""
    import tempfile

    from kiroclaw.fingerprint import tree_fingerprint

    with tempfile.TemporaryDirectory(prefix="kiroclaw-local-") as tmp:
        target = Path(tmp) / "copy"
        copy_tree_safely(folder, target, max_bytes=1 << 40, max_files=1 << 30, links={})
        return tree_fingerprint(target)


def _skill_version(root: Path) -> str | None:
    from kiroclaw.skills import read_manifest_text, split_frontmatter

    try:
        data, _ = split_frontmatter(read_manifest_text(root / "SKILL.md", what="SKILL.md"))
    except Exception:
        return None
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and metadata.get("version") is not None:
        return str(metadata["version"])
    return None


@hookimpl
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    register(LocalSource(settings))


@hookimpl
def resolve_source(spec: str) -> str | None:
    return "local" if is_local_spec(spec) else None
