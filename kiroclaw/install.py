"""The install pipeline: one spec, or one parsed ref, from a source to a folder on disk, stage by stage.

Driven by a frozen :class:`InstallRequest`; :meth:`InstallPipeline.run` takes the scope's lock and runs:

1. **stage** — duplicate and quota refusals that need no download, then ``source.fetch`` into
   ``{root}/.staging/<random>/fetch`` with a :class:`~kiroclaw.sources.FetchContext` (limits, ``extract``,
   ``download``, ``local_roots``, progress, the confirmation);
2. **check** — :func:`~kiroclaw.discovery.discover` finds the skills and recipes the fetched tree
   offers (links the source recorded are resolved inside the tree), :func:`~kiroclaw.assemble.assemble`
   builds the add-on from only those (``--skill`` picks some; more than ``ask_above`` skills raise
   :class:`~kiroclaw.errors.ChoiceRequired` first), then :func:`~kiroclaw.staging.walk_staged_tree`,
   the *one* walk over what will be installed (containment, no links or special files, caps, sha256
   of every file); the fingerprint comes from the walk's hashes;
3. **record** — the registry entry: the core alone decides the name (a single skill's frontmatter name,
   else the source's package name, validated by :mod:`kiroclaw.naming`), the folder, what it replaces;
4. **police** — the ``check_addon`` hooks, called once with the walk's file data
   (``files=``, a tuple of :class:`~kiroclaw.staging.StagedFile`), and the confirmation: ``block`` refuses,
   ``warn`` asks (:class:`~kiroclaw.errors.ConfirmationRequired` carries the fingerprint and resolved
   version the user is shown); a bound confirmation that no longer matches is refused with
   :class:`~kiroclaw.errors.ConfirmationChangedError`;
5. **place** — the completion marker, the atomic rename into ``.kiro/skills/<name>/`` or
   ``.kiro/plugins/<dir>/`` and the registry write, undone on failure.

On every failure the staging folder is removed and the scope's tree and ``addons.json`` are exactly as
they were. Events are the facade's (:class:`~kiroclaw.addons.AddonManager`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .assemble import assemble, layout_of, select
from .discovery import Discovery, TreeIndex, discover
from .errors import (
    AddonError,
    AlreadyInstalledError,
    ChoiceRequired,
    Confirmation,
    ConfirmationChangedError,
    ConfirmationRequired,
    PolicyBlockedError,
    QuotaExceededError,
    UnsafeContentError,
)
from .faults import checkpoint
from .fingerprint import covered, fingerprint_entries
from .hookcall import call_each
from .layout import DetectedLayout
from .models import AddonRecord, RegistryDocument, utcnow
from .naming import check_addon_name, package_dir_for
from .policy import PolicyDecision
from .registry import disk_error, load_registry, save_registry, write_marker
from .sources import FetchContext, Fetched, ProgressCallback, Ref, Source
from .staging import StagedFile, StagedTree, remove_tree, walk_staged_tree

if TYPE_CHECKING:
    from .events import AddonEvent
    from .host import Host
    from .workspaces import Scope, ScopePaths

    #: Takes the scope's lock and yields its paths (``AddonManager.locked``).
    Locker = Callable[[Scope], AbstractAsyncContextManager[ScopePaths]]
    #: Receives one event value (``AddonManager.emit``).
    EventSink = Callable[[AddonEvent], None]


@dataclass(frozen=True)
class InstallRequest:
    """What the user asked for, besides the spec.

    :ivar scope: where to install.
    :ivar version: an exact version/tag/commit to pin (``--version``); the source decides what it means.
    :ivar force: replace an add-on of the same name (otherwise :class:`~kiroclaw.errors.AlreadyInstalledError`).
    :ivar local_roots: folders on this machine the install may read: ``None`` = any (the CLI), a tuple =
        only inside these (the bot passes ``LOCAL_SOURCE_ROOTS``), for installs and updates alike.
    :ivar progress: stage callback (``resolving``, ``downloading``, ``validating``, ``installing``…).
    :ivar confirmed: ``False`` = ask; ``True`` = confirm whatever is found (CLI ``--yes`` given up front);
        a :class:`~kiroclaw.errors.Confirmation` (from ``ConfirmationRequired.inspected``) = confirm
        exactly what the user was shown, refuse if it changed.
    :ivar only: install only the skills of these names (``--skill``, the chat's pick list); recipes are
        then left out. An update keeps the choice recorded in ``origin["only"]``.
    :ivar ask_above: when ``only`` is not given and the add-on offers more skills than this, raise
        :class:`~kiroclaw.errors.ChoiceRequired` before anything changes (the bot asks above 50).
    """

    scope: Scope
    version: str | None = None
    force: bool = False
    local_roots: tuple[Path, ...] | None = None
    progress: ProgressCallback | None = None
    confirmed: bool | Confirmation = False
    only: tuple[str, ...] | None = None
    ask_above: int | None = None


@dataclass(frozen=True)
class InstallResult:
    """What an install did.

    :ivar record: the registry entry now installed.
    :ivar replaced: the entry it replaced (``--force`` reinstall, update), or ``None``.
    :ivar warnings: non-blocking problems to show the user (unknown fields, confirmed policy warnings…).
    :ivar skipped: skills/recipes of a package left out as invalid, ``"skills/<dir>: reason"`` lines.
    """

    record: AddonRecord
    replaced: AddonRecord | None = None
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Checked:
    """The check stage's output: the walk, the layout found in it, and the add-on's fingerprint and files
    (relative to the add-on's root, ``layout.root``)."""

    tree: StagedTree
    layout: DetectedLayout
    files: tuple[StagedFile, ...]
    fingerprint: str


def _no_progress(stage: str, detail: str | None = None) -> None:
    return None


class InstallPipeline:
    """The stages above, for the scopes of one host. Created by the :class:`~kiroclaw.addons.AddonManager`,
    which owns the locks and the events (``emit`` is its event function)."""

    def __init__(self, host: Host, locked: Locker, emit: EventSink) -> None:
        self._host = host
        self._settings = host.settings
        self._locked = locked
        self._emit = emit

    async def run(
        self, source: Source, ref: Ref, request: InstallRequest, *, previous: AddonRecord | None = None
    ) -> InstallResult:
        """Install ``ref`` of ``source`` as ``request`` says, under the scope's lock.

        :param previous: the add-on being updated (the update path), else ``None``.
        :raises AddonError: any refusal; nothing was changed.
        """
        if request.version is not None:
            ref = replace(ref, version=request.version)
        report = request.progress or _no_progress
        async with self._locked(request.scope) as paths:
            return await self._run_locked(paths, source, ref, request, report, previous)

    async def inspect(self, source: Source, ref: Ref, request: InstallRequest) -> Discovery:
        """What installing ``ref`` would place (``--list``): fetch into a throw-away staging folder of
        the scope and run discovery. Nothing in the scope changes; no lock is needed."""
        paths = self._host.paths(request.scope)
        report = request.progress or _no_progress
        paths.staging_dir.mkdir(parents=True, exist_ok=True)
        staging = paths.staging_dir / secrets.token_hex(8)
        staging.mkdir()
        try:
            fetched, fetch_dir = await self._stage(staging, source, ref, request, report)
            self.check_root(fetched, fetch_dir)
            return await asyncio.to_thread(discover, fetched.root, links=fetched.links)
        finally:
            await asyncio.to_thread(remove_tree, staging)
            with contextlib.suppress(OSError):
                paths.staging_dir.rmdir()

    async def _run_locked(
        self,
        paths: ScopePaths,
        source: Source,
        ref: Ref,
        request: InstallRequest,
        report: ProgressCallback,
        previous: AddonRecord | None,
    ) -> InstallResult:
        doc = load_registry(paths)
        same = self._precheck(doc, source, ref, request, previous)
        paths.staging_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths.staging_dir.mkdir(exist_ok=True, mode=0o700)  # bot-owned, out of other OS users' reach
        staging = paths.staging_dir / secrets.token_hex(8)
        staging.mkdir(mode=0o700)
        try:
            fetched, fetch_dir = await self._stage(staging, source, ref, request, report)
            report("validating", None)
            only = request.only
            if only is None and previous is not None and previous.origin.get("only"):
                only = tuple(previous.origin["only"].split(","))  # an update keeps the --skill choice
            checked = await asyncio.to_thread(
                self._check, fetched, fetch_dir, staging / "addon", only, request.ask_above
            )
            record, dest, replaced = self._record(paths, doc, source, ref, fetched, checked, request, same, previous)
            warnings = list(fetched.warnings) + list(checked.layout.warnings)
            confirmed, held = await asyncio.to_thread(self._police, record, checked, request, fetched)
            warnings.extend(confirmed)
            if held:
                checked, record = await asyncio.to_thread(_hold_back, checked, record, held)
            record = record.model_copy(update={"warnings": warnings})
            report("installing", record.path)
            await asyncio.to_thread(self._recheck, checked)
            await asyncio.to_thread(self._place, paths, staging, checked.layout.root, dest, record, doc, replaced)
            return InstallResult(record, replaced, warnings, list(record.skipped))
        finally:
            await asyncio.to_thread(remove_tree, staging)
            with contextlib.suppress(OSError):
                paths.staging_dir.rmdir()  # only when empty: another install may be staging

    # --- 1. stage ---------------------------------------------------------------------------

    def _precheck(
        self,
        doc: RegistryDocument,
        source: Source,
        ref: Ref,
        request: InstallRequest,
        previous: AddonRecord | None,
    ) -> AddonRecord | None:
        """Cheap refusals before any download. The final name is only known after the fetch (a single
        skill is named by its frontmatter), so these look at the same spec from the same source only, and
        both checks run again with the final name in :meth:`_record`."""
        same = next((r for r in doc.addons if r.source == source.name and r.spec == ref.spec), None)
        if same is not None and not request.force and previous is None:
            raise AlreadyInstalledError(
                f"{same.name} is already installed in {request.scope.label}; use --force to reinstall"
            )
        if same is None:
            self._check_quota(doc, ref.name, request.scope)
        return same

    async def _stage(
        self, staging: Path, source: Source, ref: Ref, request: InstallRequest, report: ProgressCallback
    ) -> tuple[Fetched, Path]:
        report("resolving", ref.spec)
        fetch_dir = staging / "fetch"
        fetch_dir.mkdir()
        context = FetchContext(
            settings=self._settings,
            scope=request.scope,
            progress=report,
            max_bytes=self._settings.max_addon_size_bytes,
            local_roots=request.local_roots,
            confirmed=request.confirmed,
            staging_dir=fetch_dir,
            work_dir=staging / "work",
        )
        try:
            fetched = await source.fetch(ref, fetch_dir, context)
        except OSError as exc:  # disk full while staging
            raise disk_error(exc, "stage the add-on's files") from exc
        checkpoint("after-download")
        return fetched, fetch_dir

    # --- 2. check ---------------------------------------------------------------------------

    @staticmethod
    def check_root(fetched: Fetched, fetch_dir: Path) -> None:
        """:raises UnsafeContentError: the source's ``root`` is not a real folder inside its staging folder."""
        root = fetched.root
        try:
            inside = root.resolve().is_relative_to(fetch_dir.resolve())
        except OSError:
            inside = False
        if not inside or root.is_symlink() or not root.is_dir():
            raise UnsafeContentError("the source staged files outside its staging folder")

    def _check(
        self,
        fetched: Fetched,
        fetch_dir: Path,
        dest: Path,
        only: tuple[str, ...] | None = None,
        ask_above: int | None = None,
    ) -> Checked:
        """Discover, build the add-on in ``dest`` from only what was found, then walk what was built."""
        settings = self._settings
        self.check_root(fetched, fetch_dir)
        index = TreeIndex.build(fetched.root, fetched.links)
        found = discover(fetched.root, index=index)
        if ask_above is not None and not only and len(found.skills) > ask_above:
            raise ChoiceRequired(
                f"{len(found.skills)} skills found; install all of them or choose some",
                skills=[(s.name, s.description) for s in found.skills],
            )
        built = assemble(index, select(found, only), dest)
        layout = layout_of(built)  # before the walk: a recipe that does not parse is removed here
        tree = walk_staged_tree(
            built.root,
            max_bytes=settings.max_addon_size_bytes,
            max_files=settings.max_addon_files,
            max_depth=settings.max_path_depth,
            max_path_chars=settings.max_path_length,
        )
        files = tree.below(layout.root)
        fingerprint = fingerprint_entries((f.path, f.sha256) for f in files if covered(f.path))
        return Checked(tree, layout, files, fingerprint)

    # --- 3. record --------------------------------------------------------------------------

    def _record(
        self,
        paths: ScopePaths,
        doc: RegistryDocument,
        source: Source,
        ref: Ref,
        fetched: Fetched,
        checked: Checked,
        request: InstallRequest,
        same: AddonRecord | None,
        previous: AddonRecord | None,
    ) -> tuple[AddonRecord, Path, AddonRecord | None]:
        """The record to write, where its folder goes, and the record it replaces.

        :raises AlreadyInstalledError: the name or folder belongs to another add-on (or needs ``force``).
        :raises QuotaExceededError: a new add-on over ``MAX_ADDONS_PER_USER``.
        """
        layout = checked.layout
        scope = request.scope
        if layout.kind == "skill":
            skill = layout.skills[0]
            name, version, description = skill.name, fetched.version or skill.version, skill.description
            dest_rel = f".kiro/skills/{skill.name}"
        else:
            name, version, description = check_addon_name(fetched.name or ref.name), fetched.version, None
            # package_dir_for also validates a source-provided folder name (one safe segment)
            dest_rel = f".kiro/plugins/{package_dir_for(fetched.package_dir or name)}"
        origin = {str(k): str(v) for k, v in fetched.origin.items()}
        if fetched.resolved_ref and "resolved" not in origin:
            origin["resolved"] = fetched.resolved_ref
        if request.only:
            origin["only"] = ",".join(sorted(set(request.only)))
        elif previous is not None and previous.origin.get("only"):
            origin["only"] = previous.origin["only"]
        record = AddonRecord(
            name=name,
            version=version,
            source=source.name,
            spec=ref.spec,
            kind=layout.kind,
            path=dest_rel,
            skills=[s.name for s in layout.skills],
            recipes=[r.id for r in layout.recipes],
            skipped=list(layout.skipped),
            description=description,
            origin=origin,
            pinned=fetched.pinned,
            fingerprint=checked.fingerprint,
            size_bytes=checked.tree.size_bytes,
        )
        by_name = {r.name: r for r in doc.addons}
        # What this install replaces: the add-on being updated (or force-reinstalled from the same spec),
        # else an add-on that already has the new name (which needs --force).
        prior = previous if previous is not None else same
        if prior is not None and record.name != prior.name and record.name in by_name:
            raise AlreadyInstalledError(
                f"the new version of {prior.name} is named {record.name}, like another installed add-on; "
                f"remove one of them first"
            )
        replaced = by_name.get(prior.name) if prior is not None else by_name.get(record.name)
        if replaced is not None and not request.force:
            raise AlreadyInstalledError(
                f"{record.name} is already installed in {scope.label}; use --force to reinstall"
            )
        holder = next((r for r in doc.addons if r.path == dest_rel and r is not replaced), None)
        if holder is not None:
            raise AlreadyInstalledError(
                f"the folder of {record.name} is taken by the installed add-on {holder.name}; remove it first"
            )
        dest = paths.root / dest_rel
        if replaced is None:
            self._check_quota(doc, record.name, scope)
            if (dest.exists() or dest.is_symlink()) and not request.force:
                raise AlreadyInstalledError(
                    f"a folder for {record.name} already exists in {scope.label} (not installed with "
                    "kiroclaw); use --force to replace it"
                )
        else:
            record = record.model_copy(
                update={"installed_at": replaced.installed_at, "updated_at": utcnow(), "enabled": replaced.enabled}
            )
        return record, dest, replaced

    def _check_quota(self, doc: RegistryDocument, name: str, scope: Scope) -> None:
        limit = self._settings.max_addons_per_user
        if all(r.name != name for r in doc.addons) and len(doc.addons) >= limit:
            raise QuotaExceededError(
                f"{scope.label} already has {len(doc.addons)} add-ons (limit {limit}); remove one first"
            )

    # --- 4. police --------------------------------------------------------------------------

    def _police(
        self, record: AddonRecord, checked: Checked, request: InstallRequest, fetched: Fetched
    ) -> tuple[list[str], dict[str, list[str]]]:
        """Run the install policy once and settle the confirmation.

        In a package of several skills whose warnings all sit inside some of its skills, those skills are
        held back (not installed, listed under ``skipped`` with their findings) and the rest installs
        without asking; installing again with confirmation brings them in.

        :returns: lines for the result's warnings (``confirmed: …`` for confirmed warnings, ``note: …`` for
            notes), and the held-back skills: ``{folder relative to the add-on: [findings]}``.
        :raises PolicyBlockedError: a ``block`` decision.
        :raises ConfirmationChangedError: the user confirmed another fetch than this one.
        :raises ConfirmationRequired: ``warn`` decisions and no confirmation yet.
        """
        from .events import AddonEvent

        decisions: list[PolicyDecision] = []
        for result in call_each(
            self._host.pm,
            "check_addon",
            addon=record,
            staged_path=checked.layout.root,
            scope=request.scope,
            settings=self._settings,
            files=checked.files,
            host=self._host,
        ):
            items = result.value if isinstance(result.value, list | tuple) else [result.value]
            decisions.extend(item for item in items if isinstance(item, PolicyDecision))
        blocks = [d.describe() for d in decisions if d.action == "block"]
        warns = [d.describe() for d in decisions if d.action == "warn"]
        notes = [f"note: {d.describe()}" for d in decisions if d.action == "note"]
        for decision in decisions:
            if decision.action != "allow":
                outcome: Literal["refused", "ok"] = "refused" if decision.action == "block" else "ok"
                reason = f"{decision.action}: {decision.describe()}"
                self._emit(AddonEvent("policy", outcome, request.scope, record=record, reason=reason))
        if blocks:
            raise PolicyBlockedError(
                f"{record.name} was blocked by the install policy: " + "; ".join(blocks), reasons=blocks
            )
        seen = Confirmation(resolved=fetched.resolved_ref, fingerprint=checked.fingerprint)
        confirmed = request.confirmed
        if isinstance(confirmed, Confirmation):
            if (confirmed.resolved is not None and confirmed.resolved != seen.resolved) or (
                confirmed.fingerprint is not None and confirmed.fingerprint != seen.fingerprint
            ):
                raise ConfirmationChangedError()
            if warns and confirmed.fingerprint is None:
                confirmed = False  # the user confirmed a registry flag, not these policy warnings: ask
        if warns and confirmed is False:
            held = _skills_to_hold(checked, [d for d in decisions if d.action == "warn"])
            if held:
                return notes, held
            raise ConfirmationRequired(
                f"{record.name} needs confirmation: " + "; ".join(warns) + " (use --yes to install anyway)",
                reasons=warns,
                inspected=seen,
            )
        return [f"confirmed: {w}" for w in warns] + notes, {}

    # --- 5. place ---------------------------------------------------------------------------

    def _recheck(self, checked: Checked) -> None:
        """Re-fingerprint the staged tree right before the rename (the one extra read): with the default
        launcher the agent runs as the bot's OS user and could rewrite the staged files after the policy
        passed (time of check vs. time of use).

        :raises UnsafeContentError: the tree changed since it was checked; nothing is installed.
        """
        settings = self._settings
        try:
            tree = walk_staged_tree(
                checked.tree.root,
                max_bytes=settings.max_addon_size_bytes,
                max_files=settings.max_addon_files,
                max_depth=settings.max_path_depth,
                max_path_chars=settings.max_path_length,
            )
        except (AddonError, OSError) as exc:
            raise UnsafeContentError("the staged add-on changed after it was checked; nothing was installed") from exc
        now = {f.path: f.sha256 for f in tree.below(checked.layout.root)}
        if now != {f.path: f.sha256 for f in checked.files}:
            raise UnsafeContentError("the staged add-on changed after it was checked; nothing was installed")

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


def _skills_to_hold(checked: Checked, warns: list[PolicyDecision]) -> dict[str, list[str]]:
    """The skills to hold back for ``warns``: ``{skill folder (relative): [findings]}``, or ``{}`` when a
    warning is outside every skill, the add-on is a single skill, or no skill would be left."""
    layout = checked.layout
    if layout.kind != "plugin" or len(layout.skills) < 2:
        return {}
    folders = sorted((s.path.relative_to(layout.root).as_posix() for s in layout.skills), key=len, reverse=True)
    held: dict[str, list[str]] = {}
    for decision in warns:
        owner = next((f for f in folders if decision.file and decision.file.startswith(f + "/")), None)
        if owner is None:
            return {}
        held.setdefault(owner, []).append(decision.describe())
    return held if len(held) < len(layout.skills) else {}


def _hold_back(checked: Checked, record: AddonRecord, held: dict[str, list[str]]) -> tuple[Checked, AddonRecord]:
    """Remove the held-back skills from the staged tree; the record and the checked files without them."""
    root = checked.layout.root
    names = {s.path.relative_to(root).as_posix(): s.name for s in checked.layout.skills}
    for folder in held:
        remove_tree(root / folder)
    files = tuple(f for f in checked.files if not any(f.path.startswith(h + "/") for h in held))
    tree = replace(checked.tree, files=tuple(f for f in checked.tree.files if not any(
        f.full.is_relative_to(root / h) for h in held)))  # fmt: skip
    fingerprint = fingerprint_entries((f.path, f.sha256) for f in files if covered(f.path))
    skipped = [
        f"{folder}: held back by the install policy (install again with confirmation to add it): " + "; ".join(found)
        for folder, found in sorted(held.items())
    ]
    record = record.model_copy(
        update={
            "skills": [n for n in record.skills if n not in {names[h] for h in held}],
            "skipped": [*record.skipped, *skipped],
            "fingerprint": fingerprint,
        }
    )
    return Checked(tree, checked.layout, files, fingerprint), record


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
