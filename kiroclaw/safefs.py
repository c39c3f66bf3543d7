"""Open files below a bot-owned folder without following links the agent may have made.

With the default launcher the agent runs as the bot's OS user inside the user's folder, so it can replace
``{thread}/inbox`` or ``{thread}/sent`` with a link to another user's folder (an upload of user 12 landed
in user 123's skill folder that way). Every path component below the trusted ``root`` is opened with
``O_NOFOLLOW`` relative to its parent's descriptor (``openat``), so a link anywhere on the way is refused
instead of followed, and the file is created with ``O_EXCL`` (never through an existing name).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath

from .errors import UnsafeContentError

__all__ = ["create_beneath", "read_beneath", "remove_beneath"]

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _parts(rel: str) -> tuple[str, ...]:
    parts = PurePosixPath(rel).parts
    if not parts or any(p in {"", ".", "..", "/"} or "\x00" in p for p in parts):
        raise UnsafeContentError(f"invalid path {rel!r}")
    return parts


def _open_dirs(root: Path, parts: tuple[str, ...], *, create: bool) -> int:
    """A descriptor of ``root/parts…`` (folders), each opened without following links."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o700, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in {errno.ELOOP, errno.ENOTDIR}:
                    raise UnsafeContentError(f"{part!r} is a link or not a folder; refusing to follow it") from None
                raise
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def create_beneath(root: Path, folder: str, name: str) -> tuple[int, str]:
    """Create a new file ``root/folder/name`` (or ``name-2``, ``name-3``… when taken) for writing.

    Folders are created (0700) as needed; no component may be a link.

    :returns: (writable descriptor, the name used).
    :raises UnsafeContentError: a component is a link or not a folder.
    """
    dir_fd = _open_dirs(root, _parts(folder), create=True)
    try:
        stem, dot, suffix = name.rpartition(".")
        if not dot or not stem:
            stem, suffix = name, ""
        candidate, counter = name, 1
        while True:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            try:
                return os.open(candidate, flags, 0o600, dir_fd=dir_fd), candidate
            except FileExistsError:
                counter += 1
                candidate = f"{stem}-{counter}.{suffix}" if suffix else f"{stem}-{counter}"
    finally:
        os.close(dir_fd)


def remove_beneath(root: Path, rel: str) -> None:
    """Remove the file ``root/rel`` if it is there (links on the way are not followed)."""
    parts = _parts(rel)
    try:
        dir_fd = _open_dirs(root, parts[:-1], create=False)
    except (OSError, UnsafeContentError):
        return
    try:
        os.unlink(parts[-1], dir_fd=dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def read_beneath(root: Path, rel: str, *, max_bytes: int) -> bytes:
    """The bytes of the regular file ``root/rel``, opened without following links.

    :raises UnsafeContentError: a component is a link, the file is not a regular file, or it is larger
        than ``max_bytes``.
    :raises FileNotFoundError: it is gone.
    """
    import stat

    parts = _parts(rel)
    dir_fd = _open_dirs(root, parts[:-1], create=False)
    try:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0),
                         dir_fd=dir_fd)  # fmt: skip
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeContentError(f"{parts[-1]!r} is a link; refusing to send it") from None
            raise
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeContentError(f"{parts[-1]!r} is not a regular file")
        if info.st_size > max_bytes:
            raise UnsafeContentError(f"{parts[-1]!r} is larger than {max_bytes // (1024 * 1024)} MB")
        return handle.read(max_bytes + 1)[:max_bytes]
