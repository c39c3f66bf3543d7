"""The AddonManager: the facade over a host's add-ons — locks, queries, remove, enable/disable, update
orchestration and events. Installing is the pipeline's (:mod:`kiroclaw.install`).

All mutating operations of one scope are serialised (see :meth:`AddonManager.locked`). On every failure
the scope's tree and ``addons.json`` are exactly as they were. Event hooks run after the change is final,
each with the host and one :class:`~kiroclaw.events.AddonEvent`; an exception in one is logged and never
undoes anything.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import secrets
import weakref
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import (
    Confirmation,
    ConfirmationRequired,
    KiroclawError,
    NotFoundError,
    NotSupportedError,
    SourceError,
    StorageError,
    UpdateSkippedError,
)
from .events import AddonEvent
from .fingerprint import iter_files, tree_fingerprint
from .hookcall import call_all
from .install import InstallPipeline, InstallRequest, InstallResult
from .models import AddonRecord, RegistryDocument
from .naming import check_addon_name, package_dir_for, short_version
from .registry import MARKER_FILE, atomic_write_bytes, find_addon, load_registry, marker_bytes, save_registry
from .sources import AddonInfo, ProgressCallback, Ref, SearchHit, Source
from .staging import remove_tree
from .workspaces import Scope, ScopePaths, unwritable

if TYPE_CHECKING:
    from .discovery import Discovery
    from .host import Host

log = logging.getLogger(__name__)

__all__ = [
    "AddonManager",
    "InstallRequest",
    "InstallResult",
    "UpdateResult",
    "check_addon_name",
    "package_dir_for",
    "short_version",
]

UpdateStatus = Literal["updated", "current", "pinned", "unsupported", "skipped", "confirm", "failed"]


@dataclass(frozen=True)
class UpdateResult:
    """The outcome of ``update`` for one add-on.

    :ivar status: ``updated``, ``current`` (nothing newer), ``pinned`` (skipped: exact version pinned),
        ``unsupported`` (the source cannot check for updates), ``skipped`` (updating does not apply, e.g.
        an uploaded file), ``confirm`` (not updated: the new version needs the user's confirmation, see
        ``reasons`` and ``inspected``; update that one add-on again confirming it) or ``failed``.
    :ivar reasons: for ``confirm``: why, one line each (policy warnings, registry moderation flags).
    :ivar inspected: for ``confirm``: what the user is asked to confirm (pass back as ``confirmed``).
    :ivar old: the version (or short commit/fingerprint) before, or ``None``.
    :ivar new: the version after (``updated``) or available, or ``None``.
    :ivar message: one line for the user.
    :ivar detail, fix: for ``failed``: the source's own words (git's stderr, HTTP status) and the operator's fix.
    :ivar server: for ``failed``: the server's set-up is at fault (:attr:`KiroclawError.server
        <kiroclaw.errors.KiroclawError>`), so a chat user is told the admin knows instead of the message.
    """

    name: str
    status: UpdateStatus
    old: str | None = None
    new: str | None = None
    message: str = ""
    reasons: tuple[str, ...] = ()
    inspected: Confirmation | None = None
    detail: str | None = None
    fix: str | None = None
    server: bool = False


def _failed(name: str, old: str | None, new: str | None, exc: KiroclawError) -> UpdateResult:
    """The ``failed`` result of updating ``name``: the error's message, detail, fix and server flag."""
    return UpdateResult(name, "failed", old, new, exc.user_message, detail=exc.detail, fix=exc.fix, server=exc.server)


class AddonManager:
    """Add-on operations on the scopes of one :class:`~kiroclaw.host.Host` (``host.addons``).

    All mutating operations of one scope are serialised: an asyncio lock per scope inside this process
    and a :class:`filelock.FileLock` on ``{root}/.lock`` across processes (acquired in a worker thread,
    waiting at most ``LOCK_TIMEOUT_SECONDS``).
    """

    def __init__(self, host: Host) -> None:
        self._host = host
        self._settings = host.settings
        self._pipeline = InstallPipeline(host, self.locked, self.emit)
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    # --- locking ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def locked(self, scope: Scope) -> AsyncIterator[ScopePaths]:
        """Hold the scope's lock (this process and every other) and yield its paths.

        :raises StorageError: another process held the lock for longer than ``LOCK_TIMEOUT_SECONDS``.
        """
        paths = self._host.paths(scope)
        loop = asyncio.get_running_loop()
        per_loop = self._locks.setdefault(loop, {})
        lock = per_loop.setdefault(paths.root, asyncio.Lock())
        async with lock:
            try:
                paths.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise unwritable(scope, self._host.workspace_root, exc) from exc
            import filelock  # not at module level: ``addon list`` and the bot's reads never lock

            flock = filelock.FileLock(
                str(paths.lock_file), timeout=self._settings.lock_timeout_seconds, thread_local=False
            )
            acquiring = asyncio.ensure_future(asyncio.to_thread(flock.acquire))
            try:
                await asyncio.shield(acquiring)
            except filelock.Timeout:
                raise StorageError(
                    f"another operation on the add-ons of {scope.label} is still running; try again later"
                ) from None
            except asyncio.CancelledError:
                # the worker thread may still get the lock: release it as soon as it does
                acquiring.add_done_callback(
                    lambda f: flock.release() if not f.cancelled() and f.exception() is None else None
                )
                raise
            try:
                yield paths
            finally:
                flock.release()

    # --- queries ------------------------------------------------------------------------------

    def list(self, scope: Scope) -> list[AddonRecord]:
        """The scope's add-ons sorted by name.

        :raises RegistryCorruptError: ``addons.json`` was corrupt (it has been moved aside).
        """
        paths = self._host.paths(scope)
        return sorted(load_registry(paths).addons, key=lambda r: r.name)

    def get(self, name: str, scope: Scope) -> AddonRecord:
        """The installed add-on called ``name`` (or whose package folder is ``name``).

        :raises NotFoundError: not installed in ``scope``.
        """
        return find_addon(load_registry(self._host.paths(scope)), name, scope)

    async def info(self, name: str, scope: Scope) -> AddonRecord | AddonInfo:
        """The installed record of ``name`` (``name@version``: if that version is installed), else what its
        source knows of it (of that version). :raises NotFoundError: neither installed nor known (an unknown
        version's message lists those that exist). :raises NotSupportedError: the source cannot describe."""
        try:
            return self.get(name, scope)
        except NotFoundError:  # name@version: the installed record when it is at that version
            for r in self.list(scope) if "@" in name.lstrip("@") else ():
                if r.version and name.strip() in (f"{r.name}@{r.version}", f"{r.name}@{r.version.removeprefix('v')}"):
                    return r
        source, rest = self._host.source_for(name)
        return await source.info(rest)

    async def search(self, query: str, *, source: str | None = None, limit: int = 10) -> builtins.list[SearchHit]:
        """Search one named source, or every source that can search (interleaved, at most ``limit`` hits).

        :raises NotSupportedError: the named source (or every source) cannot search.
        :raises SourceError: the named source failed, or every searching source failed.
        """
        if source is not None:
            return (await self._host.source(source).search(query, limit=limit))[:limit]
        sources = list(self._host.sources.values())
        results = await asyncio.gather(*(s.search(query, limit=limit) for s in sources), return_exceptions=True)
        lists: list[list[SearchHit]] = []
        errors: list[BaseException] = []
        for src, result in zip(sources, results, strict=True):
            if isinstance(result, NotSupportedError):
                continue
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                log.info("search in source %s failed: %s", src.name, result)
                errors.append(result)
                continue
            lists.append(list(result))
        if not lists:
            if errors:
                first = errors[0]
                if isinstance(first, KiroclawError):
                    raise first
                raise SourceError("search failed") from first
            raise NotSupportedError("no loaded source can search")
        merged: list[SearchHit] = []
        for index in range(max(len(hits) for hits in lists)):
            merged.extend(hits[index] for hits in lists if index < len(hits))
        return merged[:limit]

    # --- install ------------------------------------------------------------------------------

    def request(
        self,
        scope: Scope,
        *,
        version: str | None = None,
        force: bool = False,
        assume_yes: bool = False,
        confirmed: bool | Confirmation = False,
        local_roots: tuple[Path, ...] | None = None,
        progress: ProgressCallback | None = None,
        only: Collection[str] | None = None,
        ask_above: int | None = None,
    ) -> InstallRequest:
        """An :class:`InstallRequest` from keyword options; ``assume_yes=True`` means ``confirmed=True``."""
        return InstallRequest(
            scope=scope,
            version=version,
            force=force,
            local_roots=local_roots,
            progress=progress,
            confirmed=True if assume_yes else confirmed,
            only=tuple(only) if only else None,
            ask_above=ask_above,
        )

    async def install(
        self,
        spec: str,
        scope: Scope | InstallRequest,
        *,
        version: str | None = None,
        force: bool = False,
        assume_yes: bool = False,
        confirmed: bool | Confirmation = False,
        local_roots: tuple[Path, ...] | None = None,
        progress: ProgressCallback | None = None,
        only: Collection[str] | None = None,
        ask_above: int | None = None,
    ) -> InstallResult:
        """Install the add-on ``spec`` names.

        :param scope: where to install, with the options below; or a whole :class:`InstallRequest`.
        :param version: an exact version/tag/commit to pin (``--version``); the source decides what it means.
        :param force: replace an add-on of the same name (otherwise :class:`AlreadyInstalledError`).
        :param assume_yes: confirm whatever is found (CLI ``--yes``); same as ``confirmed=True``.
        :param confirmed: a :class:`~kiroclaw.errors.Confirmation` from ``ConfirmationRequired.inspected``:
            confirm exactly that (refused with ``ConfirmationChangedError`` if the add-on changed).
        :param local_roots: ``None`` = any local path (CLI); a tuple = only inside these (the bot).
        :param progress: stage callback (``resolving``, ``downloading``, ``validating``, ``installing``…).
        :param only: install only the skills of these names (``--skill``); recipes are then left out.
        :param ask_above: raise :class:`~kiroclaw.errors.ChoiceRequired` (before any change) when the
            add-on offers more skills than this and ``only`` is not given (the bot asks above 50).
        :raises SpecError, SourceUnavailableError: nobody understands the spec / the source is off.
        :raises AddonError: any refusal (validation, unsafe content, quota, policy, duplicate…); nothing
            was changed.
        """
        request = (
            scope
            if isinstance(scope, InstallRequest)
            else self.request(
                scope,
                version=version,
                force=force,
                assume_yes=assume_yes,
                confirmed=confirmed,
                local_roots=local_roots,
                progress=progress,
                only=only,
                ask_above=ask_above,
            )
        )
        try:
            source, rest = self._host.source_for(spec)
            ref = source.parse(rest)
        except KiroclawError as exc:
            self.emit(AddonEvent("install", "refused", request.scope, spec=spec, reason=exc.user_message))
            raise
        return await self.install_ref(source, ref, request)

    async def inspect(
        self, spec: str, scope: Scope, *, local_roots: tuple[Path, ...] | None = None
    ) -> Discovery:
        """What installing ``spec`` would place, without installing (``--list``): the skills, recipes and
        what is left out and why (:mod:`kiroclaw.discovery`). Nothing in the scope changes.

        :raises SpecError, SourceUnavailableError, AddonError: as :meth:`install` before placing.
        """
        source, rest = self._host.source_for(spec)
        ref = source.parse(rest)
        return await self._pipeline.inspect(source, ref, self.request(scope, local_roots=local_roots))

    async def install_ref(
        self, source: Source, ref: Ref, request: InstallRequest, *, previous: AddonRecord | None = None
    ) -> InstallResult:
        """Install from an already parsed ``ref`` of ``source`` (same contract as :meth:`install`).

        :param previous: the add-on this install updates (``update``), else ``None``.
        """
        action: Literal["install", "update"] = "update" if previous is not None else "install"
        scope = request.scope
        try:
            result = await self._pipeline.run(source, ref, request, previous=previous)
        except KiroclawError as exc:
            self.emit(
                AddonEvent(
                    action, "refused", scope, spec=ref.spec, name=ref.name, source=source.name, reason=exc.user_message
                )
            )
            raise
        except Exception as exc:
            self.emit(
                AddonEvent(
                    action, "failed", scope, spec=ref.spec, name=ref.name, source=source.name, reason=type(exc).__name__
                )
            )
            raise
        record = result.record
        event = AddonEvent(action, "ok", scope, record=record, previous=previous)
        if previous is not None:
            self._call_event("addon_updated", event, addon=record, previous=previous, scope=scope)
        else:
            self._call_event("addon_installed", event, addon=record, scope=scope)
        self.emit(event)
        (request.progress or _no_progress)("installed", record.name)
        return result

    # --- remove, enable, disable --------------------------------------------------------------

    async def remove(self, name: str, scope: Scope) -> AddonRecord:
        """Remove an installed add-on (its folder and its registry entry).

        :raises NotFoundError: not installed.
        """
        try:
            async with self.locked(scope) as paths:
                record = await asyncio.to_thread(self._remove_locked, paths, name, scope)
        except KiroclawError as exc:
            self.emit(AddonEvent("remove", "refused", scope, name=name, reason=exc.user_message))
            raise
        event = AddonEvent("remove", "ok", scope, record=record)
        self._call_event("addon_removed", event, addon=record, scope=scope)
        self.emit(event)
        return record

    def _remove_locked(self, paths: ScopePaths, name: str, scope: Scope) -> AddonRecord:
        doc = load_registry(paths)
        record = find_addon(doc, name, scope)
        folder = paths.root / record.path
        paths.staging_dir.mkdir(parents=True, exist_ok=True)
        staging = paths.staging_dir / secrets.token_hex(8)
        staging.mkdir()
        # the same shape as a replace (``old-N`` in a staging folder), so fsck can put it back after a crash
        trash = staging / "old-0"
        moved = False
        try:
            if folder.exists() or folder.is_symlink():
                os.replace(folder, trash)
                moved = True
            kept = [r for r in doc.addons if r.name != record.name]
            save_registry(paths, RegistryDocument(schema_version=doc.schema_version, addons=kept))
        except BaseException as exc:
            if moved:
                with contextlib.suppress(OSError):
                    os.replace(trash, folder)
            if isinstance(exc, OSError):
                raise StorageError(f"could not remove {record.name} ({exc.strerror or exc})") from exc
            raise
        finally:
            remove_tree(staging)
            with contextlib.suppress(OSError):
                paths.staging_dir.rmdir()
        return record

    async def enable(self, name: str, scope: Scope) -> AddonRecord:
        """Enable an add-on: its skills and recipes are visible again. :raises NotFoundError:."""
        return (await self.set_enabled(name, scope, True))[0]

    async def disable(self, name: str, scope: Scope) -> AddonRecord:
        """Disable an add-on: it stays installed but contributes nothing. :raises NotFoundError:."""
        return (await self.set_enabled(name, scope, False))[0]

    async def set_enabled(self, name: str, scope: Scope, enabled: bool) -> tuple[AddonRecord, bool]:
        """Enable or disable an add-on; returns its record and whether that changed anything (``False``:
        it was already so). :raises NotFoundError:."""
        action: Literal["enable", "disable"] = "enable" if enabled else "disable"
        try:
            async with self.locked(scope) as paths:
                doc = load_registry(paths)
                record = find_addon(doc, name, scope)
                changed = record.enabled != enabled
                if changed:
                    record = record.model_copy(update={"enabled": enabled})
                    addons = [record if r.name == record.name else r for r in doc.addons]
                    await asyncio.to_thread(
                        save_registry, paths, RegistryDocument(schema_version=doc.schema_version, addons=addons)
                    )
                    # keep the completion marker in step, or a registry rebuilt from the markers would
                    # silently turn a disabled add-on back on
                    await asyncio.to_thread(_rewrite_marker, paths, record)
        except KiroclawError as exc:
            self.emit(AddonEvent(action, "refused", scope, name=name, reason=exc.user_message))
            raise
        event = AddonEvent(action, "ok", scope, record=record, reason=None if changed else f"already {action}d")
        if changed:
            self._call_event("addon_toggled", event, addon=record, scope=scope, enabled=enabled)
        self.emit(event)
        return record, changed

    # --- update -------------------------------------------------------------------------------

    async def update(
        self,
        name: str | None,
        scope: Scope | InstallRequest,
        *,
        force: bool = False,
        assume_yes: bool = False,
        confirmed: bool | Confirmation = False,
        local_roots: tuple[Path, ...] | None = None,
        progress: ProgressCallback | None = None,
    ) -> builtins.list[UpdateResult]:
        """Update one add-on (``name``) or every add-on of the scope; one result per add-on, in name order.

        Pinned add-ons are skipped; sources without ``latest`` report ``unsupported``, uploads ``skipped``;
        an add-on whose files were edited since install (fingerprint differs) is not overwritten unless
        ``force``. A failure of one add-on is reported in its result and does not stop the others. When the
        new version of an add-on needs confirmation (policy warnings, registry flags) and it was not
        confirmed: updating one add-on by ``name`` raises :class:`ConfirmationRequired`; updating all
        reports that add-on as ``confirm`` (with its reasons and ``inspected``) and goes on, so each
        confirmation is asked for on its own and never granted for add-ons whose warnings the user has not
        seen. The request's ``local_roots`` applies to the re-fetch as to an install (the bot's updates of
        local add-ons stay inside ``LOCAL_SOURCE_ROOTS``).

        :param scope: the scope, with the options below; or a whole :class:`InstallRequest` (its
            ``version`` is ignored: an update fetches the latest).
        :raises NotFoundError: ``name`` is not installed.
        :raises ConfirmationRequired: ``name`` was given and its new version needs the user's confirmation.
        """
        request = (
            scope
            if isinstance(scope, InstallRequest)
            else self.request(
                scope,
                force=force,
                assume_yes=assume_yes,
                confirmed=confirmed,
                local_roots=local_roots,
                progress=progress,
            )
        )
        request = InstallRequest(
            scope=request.scope,
            force=request.force,
            local_roots=request.local_roots,
            progress=request.progress,
            confirmed=request.confirmed,
        )
        records = [self.get(name, request.scope)] if name is not None else self.list(request.scope)
        results: list[UpdateResult] = []
        for record in records:
            try:
                result = await self._update_one(record, request)
            except ConfirmationRequired as exc:
                if name is not None:
                    raise
                result = UpdateResult(
                    record.name,
                    "confirm",
                    short_version(record),
                    None,
                    f"{record.name} was not updated: its new version needs your confirmation",
                    tuple(exc.reasons) or (exc.user_message,),
                    exc.inspected,
                )
            results.append(result)
        return results

    async def _update_one(self, record: AddonRecord, request: InstallRequest) -> UpdateResult:
        old = short_version(record)
        if record.pinned:
            return await self._pinned(record, old)
        try:
            source = self._host.source(record.source)
            latest = await source.latest(record)
        except NotSupportedError:
            return UpdateResult(
                record.name, "unsupported", old, None, f"the {record.source} source cannot check for updates"
            )
        except UpdateSkippedError as exc:
            return UpdateResult(record.name, "skipped", old, None, f"{record.name}: {exc.user_message}")
        except KiroclawError as exc:
            return _failed(record.name, old, None, exc)
        if latest is None or latest in {record.version, record.origin.get("commit"), record.origin.get("resolved")}:
            return UpdateResult(record.name, "current", old, old, f"{record.name} is up to date ({old})")
        if not request.force:
            folder = self._host.paths(request.scope).root / record.path
            current = await asyncio.to_thread(tree_fingerprint, folder)
            if record.fingerprint and current != record.fingerprint:
                edited = await asyncio.to_thread(edited_files, folder, record)
                named = f" ({', '.join(edited[:5])}{', …' if len(edited) > 5 else ''})" if edited else ""
                return UpdateResult(
                    record.name,
                    "failed",
                    old,
                    latest,
                    f"{record.name} has local edits since it was installed{named}; use --force to overwrite them",
                )
        try:
            ref = source.parse(record.spec)
            forced = InstallRequest(
                scope=request.scope,
                force=True,
                local_roots=request.local_roots,
                progress=request.progress,
                confirmed=request.confirmed,
            )
            result = await self.install_ref(source, ref, forced, previous=record)
        except ConfirmationRequired:
            raise  # the caller asks the user (CLI --yes, the bot's button) and runs the update again
        except KiroclawError as exc:
            return _failed(record.name, old, latest, exc)
        new = short_version(result.record)
        return UpdateResult(record.name, "updated", old, new, f"{record.name} updated {old} → {new}")

    async def _pinned(self, record: AddonRecord, old: str | None) -> UpdateResult:
        """The ``pinned`` result, naming a newer version when the source knows one and how to move to it."""
        text = f"{record.name} is pinned to {old}; not updated"
        try:
            latest = await self._host.source(record.source).latest(record.model_copy(update={"pinned": False}))
        except (KiroclawError, NotImplementedError):
            latest = None
        if latest is None or latest in {record.version, record.origin.get("commit"), record.origin.get("resolved")}:
            return UpdateResult(record.name, "pinned", old, None, text)
        newer = latest[:12]
        move = f"{text}; {newer} exists: install {record.name} again at {newer} to move to it"
        return UpdateResult(record.name, "pinned", old, newer, move)

    # --- events -------------------------------------------------------------------------------

    def _call_event(self, hook: str, event: AddonEvent, **kwargs: Any) -> None:
        """Call every implementation of an event hook with the host and ``event`` (plus the older keyword
        arguments an implementation may take); an exception is logged and does not stop the others."""
        call_all(self._host.pm, hook, errors="log", host=self._host, event=event, **kwargs)

    def emit(self, event: AddonEvent) -> None:
        """Announce one operation's outcome to the ``addon_event`` hooks (the audit log)."""
        self._call_event("addon_event", event, settings=self._host.settings)


def edited_files(folder: Path, record: AddonRecord) -> list[str]:
    """Files of an installed add-on changed or added since it was installed (modified after its
    ``updated_at``/``installed_at``), as sorted POSIX paths relative to ``folder``; a best guess from
    modification times, since the registry keeps one fingerprint for the whole tree."""
    since = (record.updated_at or record.installed_at).timestamp()
    found = []
    for rel, full in iter_files(folder):
        try:
            if full.stat().st_mtime > since:
                found.append(rel)
        except OSError:
            continue
    return sorted(found)


def _no_progress(stage: str, detail: str | None = None) -> None:
    return None


def _rewrite_marker(paths: ScopePaths, record: AddonRecord) -> None:
    folder = paths.root / record.path
    if not folder.is_dir() or folder.is_symlink():
        return  # a missing folder is fsck's to report
    try:
        atomic_write_bytes(folder / MARKER_FILE, marker_bytes(record))
    except StorageError:
        log.warning("could not update the completion marker of %s in %s", record.name, folder, exc_info=True)
