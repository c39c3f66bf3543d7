"""The AddonManager: install, remove, list, info, enable, disable, update and search add-ons of a scope.

One install flow for every source (ARCHITECTURE §6): parse the spec → pick the source → take the scope's
lock (an asyncio lock for this process, a file lock for the others) → quota → ``source.fetch`` into
``{root}/.staging/<random>/`` → safety scan (no links, devices, FIFOs or control files; size and file
caps) → :func:`~kiroclaw.layout.detect_layout` → ``check_addon`` policy hooks → completion marker →
atomic rename into ``.kiro/skills/<name>/`` or ``.kiro/plugins/<dir>/`` → registry write → events.

On every failure the staging folder is removed and the scope's tree and ``addons.json`` are exactly as
they were; after every success the registry and the tree agree. Event hooks run after the change is
final; an exception in one is logged and never undoes anything.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import re
import secrets
import shutil
import stat
import weakref
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .assemble import assemble, layout_of, select
from .discovery import Discovery, TreeIndex, discover
from .errors import (
    AlreadyInstalledError,
    ChoiceRequired,
    ConfirmationRequired,
    KiroclawError,
    LimitExceededError,
    NotFoundError,
    NotSupportedError,
    PolicyBlockedError,
    QuotaExceededError,
    SourceError,
    SpecError,
    StorageError,
    UnsafeContentError,
)
from .faults import checkpoint
from .fingerprint import tree_fingerprint
from .layout import DetectedLayout
from .models import AddonRecord, RegistryDocument, utcnow
from .policy import PolicyDecision
from .registry import (
    CONTROL_PREFIX,
    MARKER_FILE,
    atomic_write_bytes,
    disk_error,
    load_registry,
    marker_bytes,
    save_registry,
    write_marker,
)
from .sources import AddonInfo, FetchContext, Fetched, ProgressCallback, Ref, SearchHit, Source
from .workspaces import Scope, ScopePaths

if TYPE_CHECKING:
    from .host import Host

log = logging.getLogger(__name__)

UpdateStatus = Literal["updated", "current", "pinned", "unsupported", "confirm", "failed"]

#: A package folder under ``.kiro/plugins/``: one safe path segment (``org@repo``, ``my-folder``).
_PACKAGE_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}\Z")
#: An add-on name: segments of letters, digits, ``._@+-`` joined by ``/`` (``org/repo``, ``weather-api``).
_ADDON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*(?:/[A-Za-z0-9][A-Za-z0-9._@+-]*)*\Z")
_MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class InstallResult:
    """What an install did.

    :ivar record: the registry entry now installed.
    :ivar replaced: the entry it replaced (``--force`` reinstall, update), or ``None``.
    :ivar warnings: non-blocking problems to show the user (unknown fields, confirmed policy warnings…).
    :ivar skipped: skills, recipes and links left out, ``"<path>: reason"`` lines (discovery's report).
    """

    record: AddonRecord
    replaced: AddonRecord | None = None
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UpdateResult:
    """The outcome of ``update`` for one add-on.

    :ivar status: ``updated``, ``current`` (nothing newer), ``pinned`` (skipped: exact version pinned),
        ``unsupported`` (the source cannot check for updates), ``confirm`` (not updated: the new version
        needs the user's confirmation, see ``reasons``; update that one add-on again with ``assume_yes``)
        or ``failed``.
    :ivar reasons: for ``confirm``: why, one line each (policy warnings, registry moderation flags).
    :ivar old: the version (or short commit/fingerprint) before, or ``None``.
    :ivar new: the version after (``updated``) or available, or ``None``.
    :ivar message: one line for the user.
    """

    name: str
    status: UpdateStatus
    old: str | None = None
    new: str | None = None
    message: str = ""
    reasons: tuple[str, ...] = ()


def package_dir_for(name: str) -> str:
    """The folder name under ``.kiro/plugins/`` for a package name: ``org/repo`` → ``org@repo``
    (Kodelet's naming).

    :raises SpecError: the result is not one safe path segment.
    """
    candidate = name.replace("/", "@")
    if not _PACKAGE_DIR.match(candidate) or ".." in candidate:
        raise SpecError(f"{name!r} cannot be used as a package folder name")
    return candidate


def check_addon_name(name: str) -> str:
    """Validate an add-on name from a source (``org/repo``, ``weather-api``, ``my-folder``).

    :raises SpecError: empty, too long, or characters outside letters, digits, ``._@+-`` and ``/``.
    """
    if not name or len(name) > _MAX_NAME_CHARS or not _ADDON_NAME.match(name) or ".." in name.split("/"):
        raise SpecError(f"{name[:80]!r} is not a valid add-on name")
    return name


def short_version(record: AddonRecord) -> str | None:
    """What to show as an add-on's version: its version, else a short commit, else a short fingerprint."""
    if record.version:
        return record.version
    commit = record.origin.get("commit")
    if commit:
        return commit[:12]
    return record.fingerprint[:12] if record.fingerprint else None


def _decisions(results: Iterable[Any]) -> list[PolicyDecision]:
    found: list[PolicyDecision] = []
    for result in results:
        if result is None:
            continue
        items = result if isinstance(result, list | tuple) else [result]
        found.extend(item for item in items if isinstance(item, PolicyDecision))
    return found


@dataclass
class _Scan:
    files: int = 0
    bytes: int = 0


def scan_staged_tree(root: Path, *, max_bytes: int, max_files: int, max_depth: int, max_path_chars: int) -> _Scan:
    """Defence in depth over a staged tree, whatever the source did: only regular files and folders,
    no KiroClaw control files (names starting with ``.kiroclaw``), and the size, count, depth and
    path-length caps.

    :raises UnsafeContentError: a symlink, device, FIFO, socket or control file.
    :raises QuotaExceededError: more than ``max_bytes`` in total.
    :raises LimitExceededError: more than ``max_files`` files, or a path too deep or too long.
    """
    scan = _Scan()
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_base = base.relative_to(root)
        for entry in [*dirnames, *filenames]:
            full = base / entry
            rel = (rel_base / entry).as_posix()
            if entry.startswith(CONTROL_PREFIX):
                raise UnsafeContentError(f"the add-on contains {rel!r}: names starting with .kiroclaw are reserved")
            if len(rel) > max_path_chars or len(Path(rel).parts) > max_depth:
                raise LimitExceededError(f"the add-on has a path deeper or longer than allowed: {rel[:80]!r}")
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                raise UnsafeContentError(f"the add-on contains a symbolic link ({rel}); links are not allowed")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise UnsafeContentError(f"the add-on contains a special file ({rel}); only files are allowed")
            scan.files += 1
            scan.bytes += os.lstat(full).st_size
            if scan.files > max_files:
                raise LimitExceededError(f"the add-on has more than {max_files} files")
            if scan.bytes > max_bytes:
                raise QuotaExceededError(f"the add-on is larger than {max_bytes // (1024 * 1024)} MB")
    return scan


class AddonManager:
    """Add-on operations on the scopes of one :class:`~kiroclaw.host.Host` (``host.addons``).

    All mutating operations of one scope are serialised: an asyncio lock per scope inside this process
    and a :class:`filelock.FileLock` on ``{root}/.lock`` across processes (acquired in a worker thread,
    waiting at most ``LOCK_TIMEOUT_SECONDS``).
    """

    def __init__(self, host: Host) -> None:
        self._host = host
        self._settings = host.settings
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
                raise StorageError(f"cannot create the add-on folder of {scope.label}", detail=str(exc)) from exc
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
        return _find(load_registry(self._host.paths(scope)), name, scope)

    async def info(self, name: str, scope: Scope) -> AddonRecord | AddonInfo:
        """The installed record of ``name``, or else what its source knows about it.

        :raises NotFoundError: neither installed nor known to the source.
        :raises NotSupportedError: not installed and its source cannot describe add-ons.
        """
        try:
            return self.get(name, scope)
        except NotFoundError:
            pass
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

    async def install(
        self,
        spec: str,
        scope: Scope,
        *,
        version: str | None = None,
        force: bool = False,
        assume_yes: bool = False,
        progress: ProgressCallback | None = None,
        caller: str = "cli",
        only: Collection[str] | None = None,
        ask_above: int | None = None,
    ) -> InstallResult:
        """Install the add-on ``spec`` names into ``scope``.

        :param version: an exact version/tag/commit to pin (``--version``); the source decides what it means.
        :param force: replace an add-on of the same name (otherwise :class:`AlreadyInstalledError`).
        :param assume_yes: the user confirmed policy warnings and registry flags up front.
        :param progress: stage callback (``resolving``, ``downloading``, ``validating``, ``installing``…).
        :param caller: ``cli`` or ``bot`` (the bot restricts local folders to ``LOCAL_SOURCE_ROOTS``).
        :param only: install only the skills of these names (``--skill``); recipes are then left out.
        :param ask_above: when ``only`` is not given and the add-on offers more skills than this, raise
            :class:`ChoiceRequired` (with every skill) before changing anything (the bot asks above 50).
        :raises SpecError, SourceUnavailableError: nobody understands the spec / the source is off.
        :raises AddonError: any refusal (validation, unsafe content, quota, policy, duplicate…); nothing
            was changed.
        """
        try:
            source, rest = self._host.source_for(spec)
            ref = source.parse(rest)
            if version is not None:
                ref = replace(ref, version=version)
        except KiroclawError as exc:
            self._emit_event("install", "refused", scope, spec=spec, reason=exc.user_message)
            raise
        return await self.install_ref(
            source,
            ref,
            scope,
            force=force,
            assume_yes=assume_yes,
            progress=progress,
            caller=caller,
            only=only,
            ask_above=ask_above,
        )

    async def inspect(
        self, spec: str, scope: Scope, *, progress: ProgressCallback | None = None, caller: str = "cli"
    ) -> Discovery:
        """What installing ``spec`` would place, without installing (``--list``): fetch into a
        throw-away staging folder and run discovery. Nothing in the scope changes.

        :raises SpecError, SourceUnavailableError, AddonError: as :meth:`install` before placing.
        """
        source, rest = self._host.source_for(spec)
        ref = source.parse(rest)
        paths = self._host.paths(scope)
        report: ProgressCallback = progress or _no_progress
        paths.staging_dir.mkdir(parents=True, exist_ok=True)
        staging = paths.staging_dir / secrets.token_hex(8)
        staging.mkdir()
        try:
            context = FetchContext(
                settings=self._settings,
                scope=scope,
                progress=report,
                max_bytes=self._settings.max_addon_size_bytes,
                interactive_caller=caller,
            )
            fetch_dir = staging / "fetch"
            fetch_dir.mkdir()
            fetched = await source.fetch(ref, fetch_dir, context)
            self._check_root(fetched, fetch_dir)
            return await asyncio.to_thread(discover, fetched.root, links=fetched.links)
        finally:
            await asyncio.to_thread(_remove_tree, staging)
            with contextlib.suppress(OSError):
                paths.staging_dir.rmdir()

    async def install_ref(
        self,
        source: Source,
        ref: Ref,
        scope: Scope,
        *,
        version: str | None = None,
        force: bool = False,
        assume_yes: bool = False,
        progress: ProgressCallback | None = None,
        caller: str = "cli",
        only: Collection[str] | None = None,
        ask_above: int | None = None,
    ) -> InstallResult:
        """Install from an already parsed ``ref`` of ``source`` (same contract as :meth:`install`).

        For callers that built their own source and ref (the bot's uploaded-archive install).
        """
        if version is not None:
            ref = replace(ref, version=version)
        return await self._install(
            source,
            ref,
            scope,
            force=force,
            assume_yes=assume_yes,
            progress=progress,
            caller=caller,
            only=only,
            ask_above=ask_above,
        )

    async def _install(
        self,
        source: Source,
        ref: Ref,
        scope: Scope,
        *,
        force: bool,
        assume_yes: bool,
        progress: ProgressCallback | None,
        caller: str,
        previous: AddonRecord | None = None,
        only: Collection[str] | None = None,
        ask_above: int | None = None,
    ) -> InstallResult:
        action = "update" if previous is not None else "install"
        report: ProgressCallback = progress or _no_progress
        try:
            async with self.locked(scope) as paths:
                result = await self._install_locked(
                    paths,
                    source,
                    ref,
                    scope,
                    force=force,
                    assume_yes=assume_yes,
                    report=report,
                    caller=caller,
                    previous=previous,
                    only=only,
                    ask_above=ask_above,
                )
        except KiroclawError as exc:
            self._emit_event(
                action, "refused", scope, spec=ref.spec, name=ref.name, source=source.name, reason=exc.user_message
            )
            raise
        except Exception as exc:
            self._emit_event(
                action,
                "failed",
                scope,
                spec=ref.spec,
                name=ref.name,
                source=source.name,
                reason=type(exc).__name__,
            )
            raise
        record = result.record
        if previous is not None:
            self._call_event("addon_updated", addon=record, previous=previous, scope=scope)
        else:
            self._call_event("addon_installed", addon=record, scope=scope)
        self._emit_event(action, "ok", scope, record=record)
        report("installed", record.name)
        return result

    async def _install_locked(
        self,
        paths: ScopePaths,
        source: Source,
        ref: Ref,
        scope: Scope,
        *,
        force: bool,
        assume_yes: bool,
        report: ProgressCallback,
        caller: str,
        previous: AddonRecord | None,
        only: Collection[str] | None = None,
        ask_above: int | None = None,
    ) -> InstallResult:
        settings = self._settings
        doc = load_registry(paths)
        by_name = {r.name: r for r in doc.addons}
        # Cheap refusals before any download. The final name is only known after the fetch (a single
        # skill is named by its frontmatter), so these look at the same spec from the same source only,
        # and both checks run again below with the final name.
        same = next((r for r in doc.addons if r.source == source.name and r.spec == ref.spec), None)
        if same is not None and not force and previous is None:
            raise AlreadyInstalledError(f"{same.name} is already installed in {scope.label}; use --force to reinstall")
        if same is None:
            self._check_quota(doc, ref.name, scope)

        paths.staging_dir.mkdir(parents=True, exist_ok=True)
        staging = paths.staging_dir / secrets.token_hex(8)
        staging.mkdir()
        try:
            report("resolving", ref.spec)
            context = FetchContext(
                settings=settings,
                scope=scope,
                progress=report,
                assume_yes=assume_yes,
                max_bytes=settings.max_addon_size_bytes,
                interactive_caller=caller,
            )
            fetch_dir = staging / "fetch"
            fetch_dir.mkdir()
            try:
                fetched = await source.fetch(ref, fetch_dir, context)
            except OSError as exc:  # disk full while staging
                raise disk_error(exc, "stage the add-on's files") from exc
            checkpoint("after-download")
            report("validating", None)
            if only is None and previous is not None and previous.origin.get("only"):
                only = previous.origin["only"].split(",")  # an update keeps the --skill choice
            layout, scan = await asyncio.to_thread(
                self._check_staged, fetched, fetch_dir, staging / "addon", only, ask_above
            )

            record = self._new_record(source, ref, fetched, layout, previous)
            if only:
                record = record.model_copy(update={"origin": {**record.origin, "only": ",".join(sorted(set(only)))}})
            if layout.kind == "skill":
                dest_rel = f".kiro/skills/{layout.skills[0].name}"
            else:
                # package_dir_for also validates a source-provided folder name (one safe segment)
                dest_rel = f".kiro/plugins/{package_dir_for(fetched.package_dir or record.name)}"
            record = record.model_copy(update={"path": dest_rel})
            dest = paths.root / dest_rel

            # What this install replaces: the add-on being updated (or force-reinstalled from the same
            # spec), else an add-on that already has the new name (which needs --force).
            prior = previous if previous is not None else same
            if prior is not None and record.name != prior.name and record.name in by_name:
                raise AlreadyInstalledError(
                    f"the new version of {prior.name} is named {record.name}, like another installed add-on; "
                    f"remove one of them first"
                )
            replaced = by_name.get(prior.name) if prior is not None else by_name.get(record.name)
            if replaced is not None and not force:
                raise AlreadyInstalledError(
                    f"{record.name} is already installed in {scope.label}; use --force to reinstall"
                )
            holder = next((r for r in doc.addons if r.path == dest_rel and r is not replaced), None)
            if holder is not None:
                raise AlreadyInstalledError(
                    f"the folder of {record.name} is taken by the installed add-on {holder.name}; remove it first"
                )
            if replaced is None:
                self._check_quota(doc, record.name, scope)
                if (dest.exists() or dest.is_symlink()) and not force:
                    raise AlreadyInstalledError(
                        f"a folder for {record.name} already exists in {scope.label} (not installed with "
                        "kiroclaw); use --force to replace it"
                    )

            fingerprint = await asyncio.to_thread(tree_fingerprint, layout.root)
            record = record.model_copy(update={"fingerprint": fingerprint, "size_bytes": scan.bytes})
            if replaced is not None:
                record = record.model_copy(
                    update={"installed_at": replaced.installed_at, "updated_at": utcnow(), "enabled": replaced.enabled}
                )

            warnings = list(fetched.warnings) + list(layout.warnings)
            warnings.extend(await asyncio.to_thread(self._run_policy, record, layout.root, scope, assume_yes))
            record = record.model_copy(update={"warnings": warnings})

            report("installing", record.path)
            await asyncio.to_thread(self._place, paths, staging, layout.root, dest, record, doc, replaced)
            return InstallResult(record=record, replaced=replaced, warnings=warnings, skipped=list(layout.skipped))
        finally:
            await asyncio.to_thread(_remove_tree, staging)
            with contextlib.suppress(OSError):
                paths.staging_dir.rmdir()  # only when empty: another install may be staging

    def _check_quota(self, doc: RegistryDocument, name: str, scope: Scope) -> None:
        limit = self._settings.max_addons_per_user
        if all(r.name != name for r in doc.addons) and len(doc.addons) >= limit:
            raise QuotaExceededError(
                f"{scope.label} already has {len(doc.addons)} add-ons (limit {limit}); remove one first"
            )

    @staticmethod
    def _check_root(fetched: Fetched, fetch_dir: Path) -> None:
        root = fetched.root
        try:
            inside = root.resolve().is_relative_to(fetch_dir.resolve())
        except OSError:
            inside = False
        if not inside or root.is_symlink() or not root.is_dir():
            raise UnsafeContentError("the source staged files outside its staging folder")

    def _check_staged(
        self,
        fetched: Fetched,
        fetch_dir: Path,
        dest: Path,
        only: Collection[str] | None,
        ask_above: int | None = None,
    ) -> tuple[DetectedLayout, _Scan]:
        """Discover what the fetched tree offers, build the add-on from only that (``dest``), then apply
        the caps to what was built."""
        settings = self._settings
        self._check_root(fetched, fetch_dir)
        index = TreeIndex.build(fetched.root, fetched.links)
        found = discover(fetched.root, index=index)
        if ask_above is not None and not only and len(found.skills) > ask_above:
            raise ChoiceRequired(
                f"{len(found.skills)} skills found; install all of them or choose some",
                skills=[(s.name, s.description) for s in found.skills],
            )
        found = select(found, only)
        built = assemble(index, found, dest)
        root = built.root
        scan = scan_staged_tree(
            root,
            max_bytes=settings.max_addon_size_bytes,
            max_files=settings.max_addon_files,
            max_depth=settings.max_path_depth,
            max_path_chars=settings.max_path_length,
        )
        return layout_of(built), scan

    def _new_record(
        self, source: Source, ref: Ref, fetched: Fetched, layout: DetectedLayout, previous: AddonRecord | None
    ) -> AddonRecord:
        if layout.kind == "skill":
            skill = layout.skills[0]
            name = skill.name
            version = fetched.version or skill.version
            description: str | None = skill.description
        else:
            name = check_addon_name(fetched.name or ref.name)
            version = fetched.version
            description = None
        origin = {str(k): str(v) for k, v in fetched.origin.items()}
        if fetched.resolved_ref and "resolved" not in origin:
            origin["resolved"] = fetched.resolved_ref
        return AddonRecord(
            name=name,
            version=version,
            source=source.name,
            spec=ref.spec,
            kind=layout.kind,
            path=".kiro/skills/_",  # replaced by the caller once the folder is known
            skills=[s.name for s in layout.skills],
            recipes=[r.id for r in layout.recipes],
            skipped=list(layout.skipped),
            description=description,
            origin=origin,
            pinned=fetched.pinned,
        )

    def _run_policy(self, record: AddonRecord, staged: Path, scope: Scope, assume_yes: bool) -> builtins.list[str]:
        decisions = _decisions(
            self._host.pm.hook.check_addon(addon=record, staged_path=staged, scope=scope, settings=self._host.settings)
        )
        blocks = [d.describe() for d in decisions if d.action == "block"]
        warns = [d.describe() for d in decisions if d.action == "warn"]
        for decision in decisions:
            if decision.action != "allow":
                self._emit_event(
                    "policy",
                    "refused" if decision.action == "block" else "ok",
                    scope,
                    record=record,
                    reason=f"{decision.action}: {decision.describe()}",
                )
        if blocks:
            raise PolicyBlockedError(f"{record.name} was blocked by the install policy: " + "; ".join(blocks))
        if warns and not assume_yes:
            raise ConfirmationRequired(
                f"{record.name} needs confirmation: " + "; ".join(warns) + " (use --yes to install anyway)",
                reasons=warns,
            )
        return [f"confirmed: {w}" for w in warns]

    def _place(
        self,
        paths: ScopePaths,
        staging: Path,
        new_root: Path,
        dest: Path,
        record: AddonRecord,
        doc: RegistryDocument,
        replaced: AddonRecord | None,
    ) -> None:
        """Rename the staged tree into place and write the registry; undo the renames if that fails."""
        try:
            write_marker(new_root, record)
        except OSError as exc:
            raise disk_error(exc, f"install {record.name}") from exc
        checkpoint("staged")
        moved_aside: list[tuple[Path, Path]] = []  # (original place, where it is in staging)
        created: list[Path] = []
        placed = False
        try:
            old_places = {dest}
            if replaced is not None:
                old_places.add(paths.root / replaced.path)
            for index, old in enumerate(sorted(old_places)):
                if old.exists() or old.is_symlink():
                    aside = staging / f"old-{index}"
                    os.replace(old, aside)
                    moved_aside.append((old, aside))
            created = _make_parents(dest.parent, paths.root)
            os.rename(new_root, dest)
            checkpoint("after-rename")
            placed = True
            kept = [r for r in doc.addons if r.name != record.name and (replaced is None or r.name != replaced.name)]
            save_registry(paths, RegistryDocument(schema_version=doc.schema_version, addons=[*kept, record]))
        except BaseException as exc:
            if placed:
                with contextlib.suppress(OSError):
                    os.rename(dest, new_root)
            for old, aside in reversed(moved_aside):
                with contextlib.suppress(OSError):
                    os.replace(aside, old)
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            if isinstance(exc, OSError):
                raise disk_error(exc, f"install {record.name}") from exc
            raise

    # --- remove, enable, disable --------------------------------------------------------------

    async def remove(self, name: str, scope: Scope) -> AddonRecord:
        """Remove an installed add-on (its folder and its registry entry).

        :raises NotFoundError: not installed.
        """
        try:
            async with self.locked(scope) as paths:
                record = await asyncio.to_thread(self._remove_locked, paths, name, scope)
        except KiroclawError as exc:
            self._emit_event("remove", "refused", scope, name=name, reason=exc.user_message)
            raise
        self._call_event("addon_removed", addon=record, scope=scope)
        self._emit_event("remove", "ok", scope, record=record)
        return record

    def _remove_locked(self, paths: ScopePaths, name: str, scope: Scope) -> AddonRecord:
        doc = load_registry(paths)
        record = _find(doc, name, scope)
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
            _remove_tree(staging)
            with contextlib.suppress(OSError):
                paths.staging_dir.rmdir()
        return record

    async def enable(self, name: str, scope: Scope) -> AddonRecord:
        """Enable an add-on: its skills and recipes are visible again. :raises NotFoundError:."""
        return await self._toggle(name, scope, True)

    async def disable(self, name: str, scope: Scope) -> AddonRecord:
        """Disable an add-on: it stays installed but contributes nothing. :raises NotFoundError:."""
        return await self._toggle(name, scope, False)

    async def _toggle(self, name: str, scope: Scope, enabled: bool) -> AddonRecord:
        action = "enable" if enabled else "disable"
        try:
            async with self.locked(scope) as paths:
                doc = load_registry(paths)
                record = _find(doc, name, scope)
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
            self._emit_event(action, "refused", scope, name=name, reason=exc.user_message)
            raise
        if changed:
            self._call_event("addon_toggled", addon=record, scope=scope, enabled=enabled)
        self._emit_event(action, "ok", scope, record=record, reason=None if changed else f"already {action}d")
        return record

    # --- update -------------------------------------------------------------------------------

    async def update(
        self,
        name: str | None,
        scope: Scope,
        *,
        force: bool = False,
        assume_yes: bool = False,
        progress: ProgressCallback | None = None,
        caller: str = "cli",
    ) -> builtins.list[UpdateResult]:
        """Update one add-on (``name``) or every add-on of the scope; one result per add-on, in name order.

        Pinned add-ons are skipped; sources without ``latest`` report ``unsupported``; an add-on whose
        files were edited since install (fingerprint differs) is not overwritten unless ``force``.
        A failure of one add-on is reported in its result and does not stop the others. When the new
        version of an add-on needs confirmation (policy warnings, registry flags) and ``assume_yes`` is
        false: updating one add-on by ``name`` raises :class:`ConfirmationRequired`; updating all reports
        that add-on as ``confirm`` (with its reasons) and goes on, so each confirmation is asked for on
        its own and never granted for add-ons whose warnings the user has not seen.

        :param caller: ``cli`` or ``bot`` (passed to the source as for install: the bot's local folders
            must still be under ``LOCAL_SOURCE_ROOTS``).
        :raises NotFoundError: ``name`` is not installed.
        :raises ConfirmationRequired: ``name`` was given and its new version needs the user's confirmation.
        """
        records = [self.get(name, scope)] if name is not None else self.list(scope)
        results: list[UpdateResult] = []
        for record in records:
            try:
                result = await self._update_one(
                    record, scope, force=force, assume_yes=assume_yes, progress=progress, caller=caller
                )
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
                )
            results.append(result)
        return results

    async def _update_one(
        self,
        record: AddonRecord,
        scope: Scope,
        *,
        force: bool,
        assume_yes: bool,
        progress: ProgressCallback | None,
        caller: str,
    ) -> UpdateResult:
        old = short_version(record)
        if record.pinned:
            return UpdateResult(record.name, "pinned", old, None, f"{record.name} is pinned to {old}; not updated")
        try:
            source = self._host.source(record.source)
            latest = await source.latest(record)
        except NotSupportedError:
            return UpdateResult(
                record.name, "unsupported", old, None, f"the {record.source} source cannot check for updates"
            )
        except KiroclawError as exc:
            return UpdateResult(record.name, "failed", old, None, exc.user_message)
        if latest is None or latest in {record.version, record.origin.get("commit"), record.origin.get("resolved")}:
            return UpdateResult(record.name, "current", old, old, f"{record.name} is up to date ({old})")
        if not force:
            folder = self._host.paths(scope).root / record.path
            current = await asyncio.to_thread(tree_fingerprint, folder)
            if record.fingerprint and current != record.fingerprint:
                return UpdateResult(
                    record.name,
                    "failed",
                    old,
                    latest,
                    f"{record.name} has local edits since it was installed; use --force to overwrite them",
                )
        try:
            ref = source.parse(record.spec)
            result = await self._install(
                source,
                ref,
                scope,
                force=True,
                assume_yes=assume_yes,
                progress=progress,
                caller=caller,
                previous=record,
            )
        except ConfirmationRequired:
            raise  # the caller asks the user (CLI --yes, the bot's button) and runs the update again
        except KiroclawError as exc:
            return UpdateResult(record.name, "failed", old, latest, exc.user_message)
        new = short_version(result.record)
        return UpdateResult(record.name, "updated", old, new, f"{record.name} updated {old} → {new}")

    # --- events -------------------------------------------------------------------------------

    def _call_event(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of an event hook; an exception is logged and does not stop the others."""
        caller = getattr(self._host.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception:
                log.exception("plugin %s failed in %s", impl.plugin_name, hook)

    def _emit_event(
        self,
        action: str,
        outcome: str,
        scope: Scope,
        *,
        record: AddonRecord | None = None,
        spec: str | None = None,
        name: str | None = None,
        source: str | None = None,
        reason: str | None = None,
    ) -> None:
        event: Mapping[str, Any] = {
            "action": action,
            "outcome": outcome,
            "scope": scope.label,
            "user": scope.user_id,
            "spec": record.spec if record is not None else spec,
            "name": record.name if record is not None else name,
            "source": record.source if record is not None else source,
            "version": record.version if record is not None else None,
            "commit": record.origin.get("commit") if record is not None else None,
            "fingerprint": record.fingerprint or None if record is not None else None,
            "reason": reason,
        }
        self._call_event("addon_event", event=event, settings=self._host.settings)


def _no_progress(stage: str, detail: str | None = None) -> None:
    return None


def _find(doc: RegistryDocument, name: str, scope: Scope) -> AddonRecord:
    text = name.strip()
    for record in doc.addons:
        if record.name == text:
            return record
    for record in doc.addons:
        if record.kind == "plugin" and Path(record.path).name == text:
            return record
    names = ", ".join(sorted(r.name for r in doc.addons)) or "none"
    raise NotFoundError(f"{text!r} is not installed in {scope.label} (installed: {names})")


def _make_parents(folder: Path, root: Path) -> list[Path]:
    """``mkdir -p folder`` below ``root``; returns the folders it created, outermost first (for undo)."""
    missing: list[Path] = []
    current = folder
    while current != root and not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return list(reversed(missing))


def _rewrite_marker(paths: ScopePaths, record: AddonRecord) -> None:
    folder = paths.root / record.path
    if not folder.is_dir() or folder.is_symlink():
        return  # a missing folder is fsck's to report
    try:
        atomic_write_bytes(folder / MARKER_FILE, marker_bytes(record))
    except StorageError:
        log.warning("could not update the completion marker of %s in %s", record.name, folder, exc_info=True)


def _remove_tree(path: Path) -> None:
    """Delete a folder we own (staging, an old copy); links inside are removed, never followed."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
