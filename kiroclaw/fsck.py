"""Reconcile each scope's registry (``addons.json``) with the add-on folders on disk; ``kiroclaw fsck``.

The install flow writes the completion marker (:data:`kiroclaw.registry.MARKER_FILE`, the add-on's record)
into the staged folder *before* the atomic rename into ``.kiro/skills|plugins/``, and the registry after.
So whatever instant a crash hits, the disk holds enough to finish or undo the operation:

==========================  ==================================================================  =========
found                       meaning                                                             repair
==========================  ==================================================================  =========
``orphan-staging``          ``.staging/<id>`` left by a killed install/remove                   delete
``stale-temp``              ``.addons.json.*.tmp`` left by a killed registry write              delete
``restored``                a listed add-on's folder was moved aside (replace/remove) and the   move back
                            process died before the registry write
``missing-folder``          a listed add-on has no folder anywhere                              drop entry
``missing-marker``          a listed add-on's folder lost its marker                            rewrite it
``stale-entry``             a replace was killed after the rename: the folder's marker is newer  take the
                                                                                                marker's
``unregistered``            a folder with a valid marker but no registry entry (killed between  re-add
                            the rename and the registry write)
``unmanaged``               a folder without a usable marker: not installed through KiroClaw    adopt (asks;
                            (hand-placed, or foreign)                                           ``--yes``)
``corrupt-registry``        ``addons.json`` unreadable: truncated, empty, not JSON, wrong       quarantine
                            schema, a path outside the scope                                    + rebuild
==========================  ==================================================================  =========

A corrupt registry is moved aside to ``addons.json.corrupt-<timestamp>`` (never silently emptied) and
rebuilt from the markers; :func:`kiroclaw.registry.load_registry` calls :func:`rebuild_registry` for
that, so any reader repairs it and tells the user.

Each scope is checked under its inter-process lock (the same ``.lock`` the AddonManager takes), so a
live install in another process is never mistaken for an orphan. :func:`reconcile_all` runs at start-up
(``startup`` hook: repairs everything but moves no unmanaged folder) and on demand (``kiroclaw fsck``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .hookspecs import hookimpl
from .registry import rebuild_registry, records_from_markers

__all__ = ["FsckReport", "Problem", "check_scope", "rebuild_registry", "reconcile_all", "records_from_markers"]

if TYPE_CHECKING:
    from .host import Host
    from .models import AddonRecord, RegistryDocument
    from .workspaces import Scope, ScopePaths

log = logging.getLogger(__name__)

_USER_DIR = re.compile(r"^[1-9][0-9]{0,19}\Z")
#: Where ``--repair`` moves folders it cannot vouch for (outside ``.kiro``: the agent never sees them).
QUARANTINE_DIR = ".quarantine"


@dataclass(frozen=True)
class Problem:
    """One inconsistency found in a scope.

    :ivar scope: ``user 42`` or ``global``.
    :ivar kind: see the module docstring's table.
    :ivar path: the affected file/folder relative to the scope root (POSIX).
    :ivar detail: one line for the operator.
    :ivar repaired: ``True`` when fsck fixed it.
    """

    scope: str
    kind: str
    path: str
    detail: str
    repaired: bool


@dataclass
class FsckReport:
    """What :func:`reconcile_all` found and fixed.

    :ivar scopes: number of scopes checked.
    :ivar problems: every problem, in the order found.
    :ivar duration_seconds: wall-clock time of the check.
    """

    scopes: int = 0
    problems: list[Problem] = field(default_factory=list)
    duration_seconds: float = 0.0

    @property
    def consistent(self) -> bool:
        """No problem left unrepaired."""
        return not self.unrepaired

    @property
    def unrepaired(self) -> list[Problem]:
        return [p for p in self.problems if not p.repaired]

    @property
    def repaired(self) -> list[Problem]:
        return [p for p in self.problems if p.repaired]

    def to_json(self) -> dict[str, Any]:
        return {
            "scopes": self.scopes,
            "consistent": self.consistent,
            "duration_seconds": round(self.duration_seconds, 4),
            "problems": [asdict(p) for p in self.problems],
        }


# --- registry rebuild ------------------------------------------------------------------------------


def _relative(paths: ScopePaths, folder: Path) -> str:
    if not folder.is_relative_to(paths.root):  # the staging area lives outside the scope's folder
        return f"<staging>/{folder.relative_to(paths.staging_dir).as_posix()}"
    return folder.relative_to(paths.root).as_posix()


# --- reconcile one scope ---------------------------------------------------------------------------


def _staged_copies(paths: ScopePaths) -> Iterator[tuple[Path, AddonRecord]]:
    """Add-on folders a killed replace/remove moved aside into staging, with their markers."""
    from .registry import read_marker

    try:
        entries = sorted(paths.staging_dir.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir():
            continue
        candidates = [entry] if entry.name.startswith("remove-") else []
        try:
            candidates += sorted(c for c in entry.iterdir() if c.name.startswith("old-") and c.is_dir())
        except OSError:
            continue
        for candidate in candidates:
            record = read_marker(candidate)
            if record is not None and not candidate.is_symlink():
                yield candidate, record


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _read_registry(paths: ScopePaths) -> tuple[RegistryDocument | None, str | None]:
    """(document, None) or (None, why it is corrupt) without side effects; missing file = empty."""
    from .models import RegistryDocument
    from .registry import MAX_REGISTRY_BYTES, parse_registry

    try:
        with paths.registry_file.open("rb") as fh:
            data = fh.read(MAX_REGISTRY_BYTES + 1)
    except FileNotFoundError:
        return RegistryDocument(), None
    if len(data) > MAX_REGISTRY_BYTES:
        return None, "file too large"
    try:
        return parse_registry(data), None
    except ValueError as exc:
        return None, str(exc)


def check_scope(
    paths: ScopePaths,
    label: str,
    *,
    repair: bool,
    move_unmanaged: bool,
    adopt: Callable[[str], bool] | None = None,
) -> list[Problem]:
    """Compare one scope's registry with its folders; fix what ``repair`` allows. Caller holds the lock.

    :param repair: fix problems (otherwise only report them).
    :param move_unmanaged: also move folders without a usable marker to ``.quarantine/``.
    :param adopt: asked with each such folder's path (relative to the scope root) when ``repair``;
        ``True`` records it as a ``local`` add-on in place (marker and registry entry), so the agent keeps it.
    :returns: every problem found, with ``repaired`` set.
    :raises StorageError: a repair could not be written (disk full…).
    """
    from .models import RegistryDocument
    from .registry import quarantine, save_registry, utc_stamp, write_marker

    problems: list[Problem] = []

    def note(kind: str, path: str, detail: str, repaired: bool) -> None:
        problems.append(Problem(label, kind, path, detail, repaired))

    doc, corrupt = _read_registry(paths)
    changed = False
    if doc is None:
        if repair:
            moved = quarantine(paths.registry_file)
            doc = RegistryDocument(addons=records_from_markers(paths)[0])
            changed = True
            note("corrupt-registry", "addons.json", f"{corrupt}; moved aside to {moved.name}, rebuilt", True)
        else:
            note("corrupt-registry", "addons.json", str(corrupt), False)
            return problems

    staged = list(_staged_copies(paths))
    kept: list[AddonRecord] = []
    for record in doc.addons:
        folder = paths.root / record.path
        if record.path.startswith(".kiro/recipes/") and (folder.exists() or folder.is_symlink()):
            kept.append(record)  # standalone recipes carry no marker; the resolver checks them
            continue
        if folder.is_dir() and not folder.is_symlink():
            from .registry import MARKER_FILE, read_marker

            marker = read_marker(folder)
            if marker is None:
                if repair:
                    (folder / MARKER_FILE).unlink(missing_ok=True)
                    write_marker(folder, record)
                note("missing-marker", record.path, f"{record.name} had no completion marker", repair)
            elif marker.name == record.name and marker.fingerprint != record.fingerprint:
                # a replace (update, --force) was killed after the rename: the folder is the new version
                note("stale-entry", record.path, f"{record.name}: the registry described the previous version", repair)
                if repair:
                    record = marker.model_copy(update={"path": record.path, "enabled": record.enabled})
                    changed = True
            kept.append(record)
            continue
        copy = next((c for c, r in staged if r.name == record.name and r.path == record.path), None)
        if copy is not None:
            if repair:
                folder.parent.mkdir(parents=True, exist_ok=True)
                os.rename(copy, folder)
                staged = [(c, r) for c, r in staged if c != copy]
            note("restored", record.path, f"{record.name} was moved aside by an interrupted operation", repair)
            kept.append(record)
            continue
        note("missing-folder", record.path, f"{record.name} is listed but its folder is gone", repair)
        if not repair:
            kept.append(record)
        changed = changed or repair

    listed_paths = {r.path for r in kept}
    listed_names = {r.name for r in kept}
    markers, unusable = records_from_markers(paths)
    for record in markers:
        if record.path in listed_paths:
            continue
        if record.name in listed_names:
            unusable.append((paths.root / record.path, f"add-on {record.name!r} is listed with another folder"))
            continue
        note("unregistered", record.path, f"{record.name} was installed but not recorded; re-added", repair)
        if repair:
            kept.append(record)
            listed_names.add(record.name)
            changed = True
    for folder, why in unusable:
        rel = _relative(paths, folder)
        if rel in listed_paths:
            continue
        why = f"not installed through KiroClaw ({why})"
        if repair and adopt is not None and folder.name not in listed_names and adopt(rel):
            record = _adopted_record(paths, folder, rel)
            write_marker(folder, record)
            kept.append(record)
            listed_names.add(record.name)
            changed = True
            note("unmanaged", rel, why + f"; adopted as {record.name}", True)
            continue
        move = repair and move_unmanaged
        if move:
            target = paths.root / QUARANTINE_DIR / f"{folder.name}-{utc_stamp()}"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, target)
        note("unmanaged", rel, why + ("; moved to .quarantine/" if move else ""), move)

    try:
        leftovers = sorted(paths.staging_dir.iterdir())
    except OSError:
        leftovers = []
    for entry in leftovers:
        if repair:
            _remove(entry)
        note("orphan-staging", _relative(paths, entry), "left by an interrupted install or remove", repair)
    if repair and paths.staging_dir.is_dir():
        try:
            paths.staging_dir.rmdir()
        except OSError:
            pass
    for temp in sorted(paths.root.glob(".addons.json.*.tmp")):
        if repair:
            temp.unlink(missing_ok=True)
        note("stale-temp", temp.name, "left by an interrupted registry write", repair)

    if repair and changed:
        save_registry(paths, RegistryDocument(schema_version=doc.schema_version, addons=kept))
    return problems


def _adopted_record(paths: ScopePaths, folder: Path, rel: str) -> AddonRecord:
    """The registry record of a hand-placed folder taken over in place (source ``local``, unpinned)."""
    from .fingerprint import tree_fingerprint, tree_size
    from .models import AddonRecord

    is_skill = folder.parent == paths.skills_dir
    skills = [folder.name] if is_skill else sorted(p.parent.name for p in folder.glob("skills/*/SKILL.md"))
    return AddonRecord(
        name=folder.name,
        source="local",
        spec=rel,
        kind="skill" if is_skill else "plugin",
        path=rel,
        skills=skills,
        origin={"adopted": "fsck"},
        fingerprint=tree_fingerprint(folder),
        size_bytes=tree_size(folder)[1],
    )


# --- all scopes ------------------------------------------------------------------------------------


def scopes_on_disk(host: Host) -> list[Scope]:
    """The global scope (if its folder exists) and every user folder under ``WORKSPACE_BASE_PATH``."""
    from .workspaces import Scope

    found: list[Scope] = []
    if host.settings.global_root.is_dir():
        found.append(Scope.global_())
    try:
        children = sorted(host.settings.workspace_base_path.iterdir(), key=lambda p: (len(p.name), p.name))
    except OSError:
        children = []
    for child in children:
        if _USER_DIR.match(child.name) and child.is_dir() and not child.is_symlink():
            found.append(Scope.user(child.name))
    return found


def reconcile_all(
    host: Host,
    *,
    repair: bool = True,
    move_unmanaged: bool = False,
    user: int | None = None,
    skip_busy: bool = False,
    adopt: Callable[[str], bool] | None = None,
) -> FsckReport:
    """Check (and by default repair) every scope, or one user's; blocking, call via ``asyncio.to_thread``.

    :param repair: fix what can be fixed (start-up and ``fsck --repair``); ``False`` only reports.
    :param move_unmanaged: move folders without a usable marker to ``.quarantine/`` (``fsck --repair``).
    :param user: only this Telegram user's scope.
    :param adopt: with ``repair``, asked for each folder not installed through KiroClaw (path relative to
        its scope root); ``True`` adopts it in place (see :func:`check_scope`).
    :param skip_busy: do not wait for a scope whose lock another process holds (start-up): it is reported
        as ``busy`` and left alone, since that process is alive and will finish or undo its own work.
    :raises StorageError: a repair could not be written (disk full…); earlier scopes stay repaired.
    :raises LimitExceededError: a scope's lock was held longer than ``LOCK_TIMEOUT_SECONDS``.
    """
    import filelock

    from .errors import LimitExceededError
    from .workspaces import Scope

    started = time.monotonic()
    report = FsckReport()
    scopes = [Scope.user(user)] if user is not None else scopes_on_disk(host)
    for scope in scopes:
        paths = host.paths(scope)
        if not paths.root.is_dir():
            continue
        report.scopes += 1
        timeout = 0 if skip_busy else host.settings.lock_timeout_seconds
        lock = filelock.FileLock(str(paths.lock_file), timeout=timeout, thread_local=False)
        try:
            with lock:
                report.problems.extend(
                    check_scope(paths, scope.label, repair=repair, move_unmanaged=move_unmanaged, adopt=adopt)
                )
        except filelock.Timeout:
            if not skip_busy:
                raise LimitExceededError(f"{scope.label} is busy (another process holds its lock)") from None
            report.problems.append(Problem(scope.label, "busy", ".lock", "another process holds the lock", False))
    report.duration_seconds = time.monotonic() - started
    for problem in report.repaired:
        log.info("fsck %s: %s %s (%s) — repaired", problem.scope, problem.kind, problem.path, problem.detail)
    for problem in report.unrepaired:
        log.info("fsck %s: %s %s (%s)", problem.scope, problem.kind, problem.path, problem.detail)
    return report


@hookimpl
def startup(host: Host) -> Any:
    """Reconcile every scope when the bot (or another long-running host) starts; never blocks start-up
    on a failure, which is logged."""
    import asyncio

    async def run() -> None:
        from .errors import KiroclawError

        try:
            report = await asyncio.to_thread(reconcile_all, host, repair=True, skip_busy=True)
        except (KiroclawError, OSError) as exc:
            log.error("start-up fsck failed: %s", exc)
            return
        if report.problems:
            log.warning(
                "start-up fsck: %d scope(s), repaired %d problem(s), %d left (run 'kiroclaw fsck')",
                report.scopes,
                len(report.repaired),
                len(report.unrepaired),
            )

    return run()


# --- CLI -------------------------------------------------------------------------------------------


@click.command("fsck")
@click.option("--user", "user_id", type=int, default=None, help="Only this Telegram user's scope.")
@click.option("--repair", is_flag=True, help="Fix what was found (otherwise only report it).")
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="With --repair: adopt hand-placed folders, no question.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def fsck(user_id: int | None, repair: bool, assume_yes: bool, as_json: bool) -> None:
    """Check every user's registry against the add-on folders on disk; --repair fixes it.

    A folder not installed through KiroClaw (hand-placed) is never moved: --repair asks whether to adopt it
    (record it as a local add-on, in place); --yes adopts without asking. Exit status: 0 when everything
    is consistent (or was repaired), 1 when problems remain.
    """
    from .host import Host

    def ask(rel: str) -> bool:
        if assume_yes:
            return True
        try:
            return click.confirm(
                f"{rel} was not installed through KiroClaw; adopt it as a local add-on (kept in place)?",
                default=False,
                err=True,
            )
        except click.Abort:
            return False

    host = Host.for_cli()
    report = reconcile_all(host, repair=repair, user=user_id, adopt=ask)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for p in report.problems:
            state = "repaired" if p.repaired else "FOUND"
            click.echo(f"{state:8}  {p.scope:12}  {p.kind:16}  {p.path}  ({p.detail})")
        summary = f"{report.scopes} scope(s) checked, {len(report.repaired)} repaired, {len(report.unrepaired)} left"
        click.echo(summary if report.problems else f"{report.scopes} scope(s) checked, all consistent")
        if report.unrepaired and not repair:
            click.echo("run 'kiroclaw fsck --repair' to fix them", err=True)
    if report.unrepaired:
        sys.exit(1)
