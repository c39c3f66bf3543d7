"""The ``kirohub`` source: installs Agent Skills from a ClawHub-v1-compatible registry.

Specs (shorthand claimed by this source, or explicit ``kirohub:…``): ``weather-api``,
``weather-api@2.1.0`` (a pinned semver) and ``@owner/weather-api[@2.1.0]``. ``org/repo`` without the
leading ``@`` belongs to the ``github`` source.

Install follows the ``clawhub`` CLI's request sequence (``kirohub-protocol.md`` §6): skill info (with the
moderation gate of §9), version detail (the file list with sha256), then the zip of that exact version,
which goes through the shared safe extraction (``context.extract``); every listed file's sha256 and
size are then checked. ``latest`` uses ``resolve`` with the recorded fingerprint and the update decision of
§7. Registry, slug, owner, version and fingerprint are recorded in ``Fetched.origin``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import semver

import kiroclaw
from kiroclaw import (
    AddonInfo,
    FetchContext,
    Fetched,
    KiroclawError,
    NotFoundError,
    PolicyBlockedError,
    Ref,
    SearchHit,
    Source,
    SourceError,
    SpecError,
    UnsafeContentError,
)

from .client import MAX_JSON_BYTES, RegistryClient, StatusError, parse_model, shown_url, status_error
from .schemas import (
    FileModel,
    ModerationModel,
    ResolveResponse,
    SearchResponse,
    SecurityModel,
    SkillInfoResponse,
    VersionDetailResponse,
    VersionsResponse,
)

if TYPE_CHECKING:
    from kiroclaw import AddonRecord, Settings

    from .client import Connection

SOURCE_NAME = "kirohub"

#: ``[@owner/]slug[@version]``; slugs as the ClawHub server's validator allows them (protocol §8).
SPEC_RE = re.compile(
    r"^(?:@(?P<owner>[A-Za-z0-9][A-Za-z0-9_-]{0,63})/)?"
    r"(?P<slug>[A-Za-z0-9][A-Za-z0-9._-]{0,127})"
    r"(?:@(?P<version>[0-9A-Za-z.+-]{1,64}))?$"
)
HASH_RE = re.compile(r"^[0-9a-f]{64}\Z")
#: Files a registry may add to a zip beyond the version's file list (the real server adds ``_meta.json``).
EXTRA_ZIP_FILES = frozenset({"_meta.json"})
DOWNLOAD_NAME = "kirohub-download.zip"
EXTRACT_DIR = "skill"


def claims(spec: str) -> bool:
    """Whether a shorthand spec is a registry name (``weather-api``, ``x@1.2.3``, ``@owner/x``)."""
    return SPEC_RE.match(spec) is not None and not spec.endswith(".")


def _check_version(version: str) -> str:
    if not semver.Version.is_valid(version):
        raise SpecError(f"registry versions are semantic versions like 1.2.3, not {version!r}")
    return version


def _mapping(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else ``{}`` (lenient reads of optional fields)."""
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _moderation_reasons(mod: ModerationModel) -> list[str]:
    reasons = list(mod.reasonCodes)
    if mod.summary:
        reasons.append(mod.summary)
    return reasons


class KirohubSource(Source):
    """Registry source over :class:`~kiroclaw_kirohub.client.RegistryClient` (HTTP or ``file:`` catalog)."""

    name = SOURCE_NAME
    description = "Agent Skills from a ClawHub-compatible registry (KIROHUB_REGISTRY_URL)"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = RegistryClient(settings)

    # --- specs --------------------------------------------------------------------------------

    def claims(self, spec: str) -> bool:
        """A registry name: ``weather-api``, ``weather-api@1.2.3``, ``@owner/weather-api``."""
        return claims(spec)

    def parse(self, spec: str) -> Ref:
        """``[@owner/]slug[@semver]`` → :class:`Ref` (slug lowercased; ``extra["owner"]`` when given).

        :raises SpecError: anything else, or a version that is not semver.
        """
        text = spec.strip()
        match = SPEC_RE.match(text)
        if match is None or text.endswith("."):
            raise SpecError(
                f"{text!r} is not a registry name: expected weather-api, weather-api@1.2.3 or @owner/weather-api"
            )
        slug = match["slug"].lower()
        version = _check_version(match["version"]) if match["version"] else None
        extra = {"owner": match["owner"]} if match["owner"] else {}
        return Ref(source=self.name, spec=text, locator=slug, name=slug, version=version, extra=extra)

    # --- requests -----------------------------------------------------------------------------

    async def _json(self, conn: Connection, path: str, params: dict[str, str | None], model: type, what: str) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            body = await conn.get(path, query, max_bytes=MAX_JSON_BYTES)
        except StatusError as exc:
            raise status_error(exc, what, self.client.display) from None
        return parse_model(model, body, what, self.client.display)

    async def _skill(self, conn: Connection, slug: str, owner: str | None) -> SkillInfoResponse:
        try:
            info: SkillInfoResponse = await self._json(
                conn, f"api/v1/skills/{quote(slug, safe='')}", {"ownerHandle": owner}, SkillInfoResponse, slug
            )
        except NotFoundError as exc:
            raise NotFoundError(exc.user_message + await self._close_names(conn, slug), detail=exc.detail) from None
        if info.skill is None:
            hint = await self._close_names(conn, slug)
            raise NotFoundError(f"{slug} was not found in the registry {self.client.display}{hint}")
        return info

    async def _close_names(self, conn: Connection, slug: str) -> str:
        """``"; did you mean x?"`` when the registry's search for a word of ``slug`` (at most three
        searches: a registry search needs every word to occur) finds a close name, else ``""``."""
        import difflib

        names: list[str] = []
        for word in [w for w in re.split(r"[-_.]", slug) if len(w) >= 2][:3]:
            try:
                resp: SearchResponse = await self._json(
                    conn, "api/v1/search", {"q": word, "limit": "20"}, SearchResponse, "search"
                )
            except KiroclawError:
                break
            names += [row.slug for row in resp.results if row.slug and SPEC_RE.match(row.slug)]
        close = difflib.get_close_matches(slug, list(dict.fromkeys(names)), n=3, cutoff=0.6)
        return f"; did you mean {' or '.join(close)}?" if close else ""

    async def _versions(self, conn: Connection, slug: str, owner: str | None) -> tuple[str, ...]:
        """The versions the registry lists for ``slug`` (newest first; empty when it lists none: the
        endpoint is optional, protocol §11.6). :raises SourceError: registry unreachable or invalid answer."""
        try:
            listed: VersionsResponse = await self._json(
                conn,
                f"api/v1/skills/{quote(slug, safe='')}/versions",
                {"ownerHandle": owner, "limit": "100"},
                VersionsResponse,
                slug,
            )
        except NotFoundError:
            return ()
        return tuple(v.version for v in listed.items)

    async def _no_such_version(self, conn: Connection, slug: str, owner: str | None, version: str) -> NotFoundError:
        try:
            versions = await self._versions(conn, slug, owner)
        except KiroclawError:
            versions = ()
        known = f"; versions: {', '.join(versions[:10])}" if versions else ""
        return NotFoundError(f"{slug} {version} was not found in the registry {self.client.display}{known}")

    # --- fetch --------------------------------------------------------------------------------

    async def fetch(self, ref: Ref, staging_dir: Path, context: FetchContext) -> Fetched:
        """Download and stage the exact version (``ref.version`` or the registry's latest).

        :raises NotFoundError: unknown skill or version.
        :raises PolicyBlockedError: the registry flags it as malware (no override).
        :raises ConfirmationRequired: flagged as suspicious and ``context.assume_yes`` is false; ``reasons``
            holds the registry's reason codes.
        :raises SourceError: registry unreachable, removed version (410), invalid answers.
        :raises LimitExceededError: the download exceeds ``context.max_bytes``.
        :raises UnsafeContentError: the zip is hostile or does not match the version's file list.
        """
        slug = ref.locator.lower()
        if not SPEC_RE.match(slug):
            raise SpecError(f"{slug!r} is not a registry name")
        pinned = ref.version is not None
        owner = ref.extra.get("owner") or None
        context.progress("resolving", slug)
        download = staging_dir / DOWNLOAD_NAME
        async with self.client.connect() as conn:
            info = await self._skill(conn, slug, owner)
            owner = (info.owner.handle if info.owner and info.owner.handle else None) or owner
            version = _check_version(ref.version) if ref.version else None
            if version is None:
                if info.latestVersion is None:
                    raise SourceError(f"{slug} has no installable version in the registry {self.client.display}")
                version = _check_version(info.latestVersion.version)
            # asked before anything is downloaded, bound to this exact version
            warnings = self._moderation_gate(slug, info.moderation, context, version)
            flags = {"moderation": "suspicious"} if warnings else {}  # kept in the record: /addon list shows it
            try:
                detail: VersionDetailResponse = await self._json(
                    conn,
                    f"api/v1/skills/{quote(slug, safe='')}/versions/{quote(version, safe='')}",
                    {"ownerHandle": owner},
                    VersionDetailResponse,
                    f"{slug} {version}",
                )
            except NotFoundError:
                raise await self._no_such_version(conn, slug, owner, version) from None
            if detail.version is None:
                raise await self._no_such_version(conn, slug, owner, version)
            security = self._security_gate(slug, version, detail.version.security, context)
            if security and detail.version.security and detail.version.security.status:
                flags["security"] = detail.version.security.status.lower()
            warnings += security
            context.progress("downloading", f"{slug} {version}")
            try:
                await conn.get(
                    "api/v1/download",
                    {k: v for k, v in {"slug": slug, "version": version, "ownerHandle": owner}.items() if v},
                    max_bytes=context.max_bytes,
                    sink=download,
                )
            except StatusError as exc:
                raise status_error(exc, f"{slug} {version}", self.client.display) from None
        root = staging_dir / EXTRACT_DIR
        try:
            await _extract(download, root, context)
        finally:
            download.unlink(missing_ok=True)
        if detail.version.files:
            await asyncio.to_thread(_verify_files, root, detail.version.files, f"{slug} {version}")
        fingerprint = await asyncio.to_thread(kiroclaw.tree_fingerprint, root)
        if not detail.version.files:
            await self._integrity_without_files(slug, version, owner, fingerprint, context)
        origin = {
            "registry": self.client.origin_url,
            "slug": slug,
            "version": version,
            "fingerprint": fingerprint,
            **flags,
        }
        if owner:
            origin["owner"] = owner
        return Fetched(
            root=root,
            version=version,
            resolved_ref=version,
            origin=origin,
            pinned=pinned,
            warnings=tuple(warnings),
        )

    def _moderation_gate(
        self, slug: str, mod: ModerationModel | None, context: FetchContext | None, version: str | None
    ) -> list[str]:
        """Protocol §9: malware-blocked → refused (no override); suspicious → needs the user's confirmation
        of this ``version`` (``context.confirm``); ``context=None`` only checks the block."""
        if mod is None:
            return []
        reasons = _moderation_reasons(mod)
        shown = f" ({', '.join(reasons)})" if reasons else ""
        if mod.isMalwareBlocked or (mod.verdict or "").lower() == "malicious":
            raise PolicyBlockedError(f"{slug} is flagged as malicious by the registry{shown}; it cannot be installed")
        if (mod.isSuspicious or (mod.verdict or "").lower() == "suspicious") and context is not None:
            context.confirm(
                f"{slug} is flagged as suspicious by the registry{shown}; confirm to install it anyway",
                reasons or ["flagged as suspicious by the registry"],
                resolved=version,
            )
            return [f"installed although the registry flags {slug} as suspicious{shown}"]
        return []

    def _security_gate(
        self, slug: str, version: str, security: SecurityModel | None, context: FetchContext
    ) -> list[str]:
        """Per-version ``security.status`` (protocol §9): ``malicious`` refuses; ``pending``, ``suspicious``
        and ``error`` ask the user (bound to this version)."""
        status = (security.status or "").lower() if security else ""
        if status == "malicious":
            raise PolicyBlockedError(f"{slug} {version} is flagged as malicious by the registry's security scan")
        if status in {"pending", "suspicious", "error"}:
            why = {
                "pending": "has not been checked by the registry's security scan yet",
                "suspicious": "is flagged as suspicious by the registry's security scan",
                "error": "could not be checked by the registry's security scan",
            }[status]
            context.confirm(f"{slug} {version} {why}; confirm to install it anyway", [f"security: {status}"],
                            resolved=version)  # fmt: skip
            return [f"installed although {slug} {version} {why}"]
        return []

    async def _integrity_without_files(
        self, slug: str, version: str, owner: str | None, fingerprint: str, context: FetchContext
    ) -> None:
        """A version without a file list: the registry's ``resolve`` must name this version for the
        download's fingerprint (protocol §7), or the user confirms an unverified download.

        :raises UnsafeContentError: the registry resolves the fingerprint to another version.
        """
        params = {"slug": slug, "hash": fingerprint, "ownerHandle": owner}
        try:
            async with self.client.connect() as conn:
                answer: ResolveResponse = await self._json(conn, "api/v1/resolve", params, ResolveResponse,
                                                           f"{slug} {version}")  # fmt: skip
        except (SourceError, NotFoundError):
            answer = ResolveResponse(match=None, latestVersion=None)
        if answer.match is not None and answer.match.version == version:
            return
        if answer.match is not None:
            raise UnsafeContentError(
                f"the download of {slug} {version} is the registry's version {answer.match.version}, not {version}"
            )
        context.confirm(
            f"the registry lists no files for {slug} {version} and does not recognise the download's fingerprint; "
            "confirm to install it unverified",
            ["integrity: unverified (no file list, fingerprint unknown to the registry)"],
            resolved=version,
        )

    # --- search / info ------------------------------------------------------------------------

    async def doctor(self, *, timeout_seconds: float) -> list[tuple[bool, str, str]]:
        """The registry answers: its base (discovered from ``KIROHUB_SITE``'s ``/.well-known/clawhub.json``
        when set) serves ``GET /api/v1/search`` with a ClawHub-v1 answer, once, without retries."""
        client = self.client
        saved = client.timeout_seconds, client.retries
        client.timeout_seconds, client.retries = min(client.timeout_seconds, timeout_seconds), 0
        where = "KIROHUB_SITE" if client.settings.site else "KIROHUB_REGISTRY_URL"
        try:
            async with client.connect() as conn:
                await self._json(conn, "api/v1/search", {"q": "skill", "limit": "1"}, SearchResponse, "search")
        except KiroclawError as exc:
            why = exc.detail.strip().splitlines()[-1] if exc.detail and exc.detail.strip() else exc.user_message
            fix = exc.fix or f"check the network, or that {where} names a ClawHub-compatible registry"
            return [(False, f"a registry answering the ClawHub API at {shown_url(client.registry_url)} ({why})", fix)]
        finally:
            client.timeout_seconds, client.retries = saved
        return [(True, f"the registry at {shown_url(client.registry_url)} answers the ClawHub API", "")]

    async def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        """Registry search (``GET /api/v1/search``), cached for ``KIROHUB_CACHE_TTL_SECONDS``.

        :raises SourceError: registry unreachable or invalid answer.
        """
        query = query.strip()[:256]
        limit = max(1, min(limit, 100))
        key = ("search", self.client.registry_url, query, limit)
        hits = self.client.cached(key)
        if hits is not None:
            return list(hits)
        async with self.client.connect() as conn:
            resp: SearchResponse = await self._json(
                conn, "api/v1/search", {"q": query, "limit": str(limit)}, SearchResponse, "search"
            )
        hits = []
        for row in resp.results:
            if not row.slug or not SPEC_RE.match(row.slug):
                continue
            owner = row.ownerHandle or (row.owner.handle if row.owner else None)
            native = row.native.get("skill") if row.native else None
            native = native if isinstance(native, dict) else {}
            stats = {**_mapping(native.get("stats")), **(row.stats or {})}
            downloads = row.downloads if row.downloads is not None else stats.get("downloads")
            stars = row.stars if row.stars is not None else stats.get("stars")
            moderation = dict(row.moderation or {})
            if native.get("isSuspicious") is True:
                moderation.setdefault("isSuspicious", True)
            verdict = _mapping(row.trust).get("clawHubVerdict")
            risk, reasons = kiroclaw.registry_risk(moderation, verdict=verdict if isinstance(verdict, str) else None)
            hits.append(
                SearchHit(
                    name=row.slug,
                    source=self.name,
                    version=row.version,
                    summary=row.summary or row.displayName or "",
                    owner=owner,
                    downloads=downloads if isinstance(downloads, int) else None,
                    stars=stars if isinstance(stars, int) else None,
                    spec=row.slug,
                    risk=risk,
                    risk_reasons=tuple(str(r)[:200] for r in reasons[:5]),
                )
            )
            if len(hits) >= limit:
                break
        self.client.remember(key, tuple(hits))
        return hits

    async def info(self, name: str) -> AddonInfo:
        """Describe ``name`` (``slug``, ``@owner/slug``, ``slug@version``): summary, versions (newest first),
        tags, owner, moderation, counts, and one version's changelog, security status and files (the
        version asked for, else the latest). Cached like :meth:`search`.

        :raises NotFoundError: unknown skill, or unknown version (the message lists those that exist).
        :raises SpecError: not a registry name.
        """
        ref = self.parse(name)
        slug, owner = ref.locator, ref.extra.get("owner") or None
        key = ("info", self.client.registry_url, slug, owner, ref.version)
        cached = self.client.cached(key)
        if cached is not None:
            assert isinstance(cached, AddonInfo)
            return cached
        async with self.client.connect() as conn:
            info = await self._skill(conn, slug, owner)
            owner = (info.owner.handle if info.owner and info.owner.handle else None) or owner
            latest = info.latestVersion.version if info.latestVersion else None
            versions: tuple[str, ...] = (latest,) if latest else ()
            versions = await self._versions(conn, slug, owner) or versions
            shown = ref.version or latest
            detail = None
            if shown:
                try:
                    answer: VersionDetailResponse = await self._json(
                        conn,
                        f"api/v1/skills/{quote(slug, safe='')}/versions/{quote(shown, safe='')}",
                        {"ownerHandle": owner},
                        VersionDetailResponse,
                        f"{slug} {shown}",
                    )
                    detail = answer.version
                except NotFoundError:
                    if ref.version is None:
                        raise
                if ref.version is not None and detail is None:
                    raise await self._no_such_version(conn, slug, owner, ref.version)
        skill = info.skill
        assert skill is not None
        tags = skill.tags if isinstance(skill.tags, dict) else {}
        stats = _mapping(skill.stats)
        mod = info.moderation.model_dump() if info.moderation else {}
        security = detail.security.status if detail and detail.security else None
        risk, reasons = kiroclaw.registry_risk(mod, security=security)
        published = None
        if detail and detail.createdAt:
            published = datetime.fromtimestamp(detail.createdAt / 1000, tz=UTC)
        files: tuple[dict[str, object], ...] = ()
        if detail and detail.files:
            files = tuple({"path": f.path, "size": f.size, "sha256": f.sha256} for f in detail.files)
        result = AddonInfo(
            name=skill.slug,
            source=self.name,
            description=skill.summary or skill.description or "",
            latest_version=latest,
            versions=versions,
            tags={str(k): str(v) for k, v in tags.items()},
            owner=owner,
            moderation=mod,
            files=files,
            version=detail.version if detail else shown,
            changelog=(detail.changelog or "") if detail else "",
            published_at=published,
            security=security,
            downloads=_count(stats.get("downloads")),
            stars=_count(stats.get("stars")),
            risk=risk,
            risk_reasons=tuple(str(r)[:200] for r in reasons[:5]),
        )
        self.client.remember(key, result)
        return result

    # --- update -------------------------------------------------------------------------------

    async def latest(self, installed: AddonRecord) -> str | None:
        """The version to update to, or ``None`` when the installed one is current (protocol §7):

        1. ``matched`` = ``resolve(slug, hash=<recorded fingerprint>).match``; when the registry knows no
           such hash (the public one hashes files without the ``_meta.json`` it adds to zips), the recorded
           version, as the ``clawhub`` CLI falls back to ``origin.json``;
        2. ``latest`` = ``resolve.latestVersion`` (or skill info's ``latestVersion``);
        3. ``None`` when ``matched >= latest`` (semver).

        Local edits are the core's check (it compares the folder with the record before updating).

        :raises NotFoundError: the skill is gone from the registry.
        :raises PolicyBlockedError: the registry now flags it as malware (the update is refused).
        """
        slug = installed.origin.get("slug") or self.parse(installed.spec).locator
        owner = installed.origin.get("owner") or self.parse(installed.spec).extra.get("owner") or None
        recorded = installed.fingerprint or installed.origin.get("fingerprint", "")
        async with self.client.connect() as conn:
            info = await self._skill(conn, slug, owner)
            if info.moderation and info.moderation.isMalwareBlocked:
                self._moderation_gate(slug, info.moderation, None, None)
            latest = info.latestVersion.version if info.latestVersion else None
            matched = None
            if HASH_RE.match(recorded):
                query = {"slug": slug, "hash": recorded, "ownerHandle": owner}
                res: ResolveResponse = await self._json(conn, "api/v1/resolve", query, ResolveResponse, slug)
                matched = res.match.version if res.match else None
                latest = res.latestVersion.version if res.latestVersion else latest
        current = installed.origin.get("version") or installed.version
        if matched is None:
            matched = current
        if latest is None or not semver.Version.is_valid(latest):
            return None
        if matched and semver.Version.is_valid(matched) and semver.Version.parse(matched) >= latest:
            return None
        return latest

    async def aclose(self) -> None:
        self.client.clear_cache()


async def _extract(archive: Path, dest: Path, context: FetchContext) -> None:
    """Unpack the downloaded zip with the shared safe extraction (``context.extract``: links, escapes, bombs,
    duplicate names refused; caps from ``context.limits``).

    :raises UnsafeContentError: not a zip, or hostile content.
    """
    fmt = await asyncio.to_thread(kiroclaw.sniff_format, archive)
    if fmt != "zip":
        raise UnsafeContentError(f"the registry sent a {fmt} archive where a zip was expected")
    await context.extract(archive, dest)


def _verify_files(root: Path, files: Sequence[FileModel], what: str) -> None:
    """Every file of the version detail must be present with its size and sha256; no other file may be
    (dot-files included), except :data:`EXTRA_ZIP_FILES`.

    :raises UnsafeContentError: a missing, changed or unlisted file.
    """
    expected: dict[str, tuple[int | None, str | None]] = {}
    for f in files:
        path = PurePosixPath(f.path)
        if path.is_absolute() or ".." in path.parts or "\\" in f.path:
            raise UnsafeContentError(f"the registry lists an unsafe file path for {what}")
        expected[path.as_posix()] = (f.size, f.sha256.lower() if f.sha256 else None)
    present = {
        (Path(dirpath) / name).relative_to(root).as_posix(): Path(dirpath) / name
        for dirpath, _dirs, names in os.walk(root)
        for name in names
    }
    for rel, (size, digest) in expected.items():
        full = present.get(rel)
        if full is None:
            raise UnsafeContentError(f"the download of {what} lacks {rel}, which the registry lists")
        if size is not None and full.stat().st_size != size:
            raise UnsafeContentError(f"the download of {what} does not match the registry: {rel} has another size")
        if digest is not None and kiroclaw.sha256_file(full) != digest:
            raise UnsafeContentError(f"the download of {what} does not match the registry: {rel} has another sha256")
    extra = sorted(set(present) - set(expected) - EXTRA_ZIP_FILES)
    if extra:
        raise UnsafeContentError(f"the download of {what} holds files the registry does not list: {extra[0]}")
