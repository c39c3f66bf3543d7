"""The add-on registry of one scope: reading and atomically writing ``addons.json``.

``addons.json`` is a :class:`~kiroclaw.models.RegistryDocument`. It is written atomically (a temp file in
the same folder, fsync, ``os.replace``, fsync of the folder), so a crash leaves the old or the new file,
never a torn one. A file that cannot be read (truncated, not JSON, wrong schema, an entry whose ``path``
escapes the scope root) is moved aside to ``addons.json.corrupt-<UTC timestamp>`` and reported with
:class:`~kiroclaw.errors.RegistryCorruptError`: it is never silently replaced by an empty registry.

Every installed add-on folder also holds a completion marker :data:`MARKER_FILE` (its
:class:`~kiroclaw.models.AddonRecord` as JSON, written last before the folder is renamed into place), so a
lost registry can be rebuilt from the tree (:func:`iter_markers`, used by ``kiroclaw fsck``).

Callers hold the scope's lock (see :mod:`kiroclaw.addons`) around read-modify-write cycles.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pydantic

from .errors import NotFoundError, RegistryCorruptError, StorageError
from .faults import checkpoint
from .models import AddonRecord, RegistryDocument
from .registry_read import MAX_REGISTRY_BYTES, check_records, raw_document, record_path_problem
from .workspaces import Scope, ScopePaths

log = logging.getLogger(__name__)

#: The completion marker written into every installed add-on folder (the record as JSON).
MARKER_FILE = ".kiroclaw.json"
#: Names starting with this prefix are KiroClaw's control files; add-on content may not contain them.
CONTROL_PREFIX = ".kiroclaw"


def utc_stamp() -> str:
    """A UTC timestamp usable in a file name: ``20260101T120000.123456Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def quarantine(path: Path) -> Path:
    """Move ``path`` aside to ``<name>.corrupt-<UTC timestamp>`` in the same folder; returns the new path.

    :raises StorageError: the rename failed.
    """
    target = path.with_name(f"{path.name}.corrupt-{utc_stamp()}")
    try:
        os.replace(path, target)
        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(
            "the add-on registry is corrupt and could not be moved aside", detail=f"{path}: {exc}"
        ) from exc
    return target


def parse_registry(data: bytes) -> RegistryDocument:
    """Parse and check the bytes of an ``addons.json``.

    :raises ValueError: with a short reason (not JSON, wrong schema, duplicate names, unsafe paths).
    """
    raw = raw_document(data)
    try:
        doc = RegistryDocument.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ValueError(f"wrong schema ({exc.error_count()} errors)") from None
    check_records(doc.addons)
    return doc


def load_registry(paths: ScopePaths) -> RegistryDocument:
    """Read the scope's registry; a missing file is an empty registry.

    :raises RegistryCorruptError: the file is unreadable or invalid; it has been moved aside
        (``quarantined_to`` holds the new file name) and rebuilt from the completion markers
        (:func:`rebuild_registry`), so the next read succeeds.
    :raises StorageError: an I/O error other than "file not found".
    """
    path = paths.registry_file
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_REGISTRY_BYTES + 1)
    except FileNotFoundError:
        return RegistryDocument()
    except OSError as exc:
        raise StorageError("the add-on registry cannot be read", detail=f"{path}: {exc}") from exc
    try:
        if len(data) > MAX_REGISTRY_BYTES:
            raise ValueError("file too large")
        return parse_registry(data)
    except ValueError as exc:
        moved = quarantine(path)
        log.info("registry %s is corrupt (%s); moved aside to %s", path, exc, moved)  # the error says it
        try:  # rebuild from the completion markers; never leave it empty
            count = len(rebuild_registry(paths).addons)
            tail = f"it was moved aside to {moved.name} and rebuilt from {count} installed add-on(s); try again"
        except StorageError:
            tail = f"it was moved aside to {moved.name}; run 'kiroclaw fsck --repair' to rebuild it"
        raise RegistryCorruptError(
            f"the add-on registry was corrupt ({exc}); {tail}", quarantined_to=moved.name
        ) from None


def find_addon(doc: RegistryDocument, name: str, scope: Scope) -> AddonRecord:
    """The record called ``name`` in ``doc``, else the package whose folder is ``name``.

    :raises NotFoundError: neither; the message lists what ``scope`` has installed.
    """
    text = name.strip()
    for record in doc.addons:
        if record.name == text:
            return record
    for record in doc.addons:
        if record.kind == "plugin" and Path(record.path).name == text:
            return record
    names = ", ".join(sorted(r.name for r in doc.addons)) or "none"
    raise NotFoundError(f"{text!r} is not installed in {scope.label} (installed: {names})")


def dump_registry(doc: RegistryDocument) -> bytes:
    """The canonical bytes of a registry document (sorted by name, indented, trailing newline)."""
    ordered = doc.model_copy(update={"addons": sorted(doc.addons, key=lambda r: r.name)})
    return (ordered.model_dump_json(indent=2) + "\n").encode("utf-8")


def save_registry(paths: ScopePaths, doc: RegistryDocument) -> None:
    """Write the registry atomically (see :func:`atomic_write_bytes`).

    :raises StorageError: the write failed; the previous file is untouched.
    """
    atomic_write_bytes(paths.registry_file, dump_registry(doc))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically: temp file in the same folder, fsync, ``os.replace``,
    fsync of the folder. Readers see the old or the new content, never a mix.

    :raises StorageError: disk full, permissions, I/O error; the temp file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; the registry holds nothing secret
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        checkpoint("mid-registry-write")
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise disk_error(exc, f"write {path.name}") from exc


def disk_error(exc: OSError, what: str) -> StorageError:
    """The user-facing error for an ``OSError`` while writing: "disk full" for ENOSPC/EDQUOT, "I/O error"
    for EIO, else the OS's reason. ``what`` completes "could not …" (``write addons.json``)."""
    if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
        message = f"disk full: could not {what}; nothing was changed"
    elif exc.errno == errno.EIO:
        message = f"I/O error (the disk may be failing): could not {what}; nothing was changed"
    else:
        message = f"could not {what} ({exc.strerror or type(exc).__name__}); nothing was changed"
    return StorageError(message, detail=str(exc))


def fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename in it is durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def marker_bytes(record: AddonRecord) -> bytes:
    """The completion marker's content for ``record``."""
    return (record.model_dump_json(indent=2) + "\n").encode("utf-8")


def write_marker(folder: Path, record: AddonRecord) -> None:
    """Write the completion marker into an add-on folder (fsynced)."""
    target = folder / MARKER_FILE
    with target.open("xb") as fh:
        fh.write(marker_bytes(record))
        fh.flush()
        os.fsync(fh.fileno())


def read_marker(folder: Path) -> AddonRecord | None:
    """The record stored in an add-on folder's completion marker, or ``None`` (missing or unreadable)."""
    marker = folder / MARKER_FILE
    try:
        if marker.is_symlink():
            return None
        return AddonRecord.model_validate_json(marker.read_bytes())
    except (OSError, ValueError):
        return None


def iter_markers(paths: ScopePaths) -> Iterator[tuple[Path, AddonRecord | None]]:
    """Every add-on folder of the scope (``.kiro/skills/*``, ``.kiro/plugins/*``) with its marker record
    (``None`` when the folder has no readable marker: hand-placed, or an interrupted install).

    Hidden folders are skipped. Order: skills then plugins, each sorted by folder name.
    """
    for parent in (paths.skills_dir, paths.plugins_dir):
        try:
            children = sorted(parent.iterdir())
        except OSError:
            continue
        for child in children:
            if child.name.startswith(".") or child.is_symlink() or not child.is_dir():
                continue
            yield child, read_marker(child)


# --- rebuilding from the completion markers (storage; used by readers and by fsck) -----------------


def _usable_marker(paths: ScopePaths, folder: Path, record: AddonRecord | None) -> AddonRecord | None:
    """The marker's record with ``path`` set to where the folder really is, or ``None`` if unusable."""
    if record is None or not record.name or len(record.name) > 200:
        return None
    rel = folder.relative_to(paths.root).as_posix()
    if record_path_problem(rel) is not None:
        return None
    kind_dir = "skills" if record.kind == "skill" else "plugins"
    if rel.split("/")[1] != kind_dir:
        return None
    return record if record.path == rel else record.model_copy(update={"path": rel})


def records_from_markers(paths: ScopePaths) -> tuple[list[AddonRecord], list[tuple[Path, str]]]:
    """Records of every add-on folder with a usable marker, and the folders without one (with why).

    When two markers claim one name, the newest install wins; the other folder counts as unusable.
    """
    found: dict[str, AddonRecord] = {}
    unusable: list[tuple[Path, str]] = []
    for folder, marker in iter_markers(paths):
        record = _usable_marker(paths, folder, marker)
        if record is None:
            why = "no completion marker" if marker is None else "its marker does not match where it is"
            unusable.append((folder, why))
            continue
        other = found.get(record.name)
        if other is not None:
            older, newer = sorted((other, record), key=lambda r: r.updated_at or r.installed_at)
            found[record.name] = newer
            unusable.append((paths.root / older.path, f"a second folder for add-on {record.name!r}"))
            continue
        found[record.name] = record
    return list(found.values()), unusable


def rebuild_registry(paths: ScopePaths) -> RegistryDocument:
    """Write a new ``addons.json`` from the completion markers (after a corrupt one was moved aside).

    Takes no lock: callers hold the scope lock or are the registry reader that found the corruption.

    :returns: the rebuilt document (already saved).
    :raises StorageError: the new registry could not be written.
    """
    records, _ = records_from_markers(paths)
    doc = RegistryDocument(addons=records)
    save_registry(paths, doc)
    log.warning("rebuilt %s from %d completion marker(s)", paths.registry_file, len(records))
    return doc
