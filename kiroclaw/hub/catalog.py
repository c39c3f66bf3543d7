"""Reading a KiroHub catalog directory and answering ClawHub v1 API questions about it.

One implementation serves both the ``kiroclaw hub serve`` HTTP server and the ``kirohub`` source's
``file:`` mode (air-gapped use without a server). The layout is exactly what an admin can build with
``cp``::

    CATALOG_DIR/<slug>/<version>/SKILL.md …   one folder per published version (semver names)
    CATALOG_DIR/<slug>/skill.json             optional metadata (see :class:`SkillJson`)

Response shapes are those of the ClawHub v1 API (``kirohub-protocol.md`` §4, §11) so that the real
``clawhub`` CLI's strict validation accepts them. Errors are :class:`CatalogError` with the HTTP status
and the plain-text body the real server would send (``Skill not found``…).

Decisions:

* A version's files are the regular files the fingerprint covers (:func:`kiroclaw.fingerprint.iter_files`:
  no dot segments, no ``node_modules``, no links), so the zip a client extracts has exactly the
  fingerprint ``resolve`` compares against. No ``_meta.json`` is added (protocol §11.4).
* Zips are deterministic: entries sorted, timestamps 1980-01-01, modes 0644/0755, deflate.
* A ``skill.json`` that does not validate makes the skill unavailable (HTTP 500) rather than silently
  dropping its moderation flags: a broken file must not make a blocked skill installable.
* Malware-blocked skills are left out of search and list results and their downloads answer 403; so
  does a version whose ``security`` status is ``malicious`` (``skill.json``).
* ``stats.downloads`` is ``skill.json``'s count plus the downloads ``kiroclaw hub serve`` counted
  (:mod:`kiroclaw.hub.stats`); search rows carry it as ``downloads`` and, with ``stars``, in ``stats``,
  and name the skill's risk as ClawHub's canonical rows do: ``trust.clawHubVerdict``
  (``clean|suspicious|malicious``, from the moderation flags and the latest version's security status).
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import os
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import semver
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..fingerprint import file_sha256, fingerprint_entries, iter_files
from .stats import DownloadCounts

log = logging.getLogger(__name__)

#: Catalog slugs: lowercase (the ClawHub server lowercases slugs), a safe single path segment.
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}\Z")
#: Owner handles (GitHub-like).
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
#: ``resolve`` hashes: sha256 hex.
HASH_RE = re.compile(r"^[0-9a-f]{64}\Z")
META_FILE = "skill.json"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_LIST_LIMIT = 200
#: Per-version ``security.status`` values (``kirohub-protocol.md`` §4, §9).
SECURITY_STATUSES = ("clean", "suspicious", "malicious", "pending", "error")
DEFAULT_LIMIT = 25


class CatalogError(Exception):
    """A request the catalog cannot answer: ``status`` is the HTTP status, ``text`` the plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status} {text}")
        self.status = status
        self.text = text


class Moderation(BaseModel):
    """``skill.json`` → ``moderation`` (ClawHub's flags; protocol §9)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    isSuspicious: bool = False
    isMalwareBlocked: bool = False
    reasonCodes: list[str] = Field(default_factory=list)
    summary: str | None = None


class SkillJson(BaseModel):
    """The optional ``CATALOG_DIR/<slug>/skill.json``.

    :ivar displayName: shown by search; default: the slug.
    :ivar summary: one line; default: the latest version's ``SKILL.md`` description.
    :ivar owner: owner handle; clients send it back as ``ownerHandle``.
    :ivar tags: topic list (``["weather"]``) or a ClawHub tag map (``{"latest": "1.1.0"}``).
    :ivar moderation: flags enforced by clients (``isMalwareBlocked`` also blocks downloads here).
    :ivar changelogs: version → changelog text (``kiroclaw hub publish --changelog`` writes it).
    :ivar stats: ``downloads``/``stars`` counts to report; ``kiroclaw hub serve`` adds the downloads it
        counts itself to ``downloads``.
    :ivar security: version → the registry's security-scan ``status`` for it (``clean``, ``suspicious``,
        ``malicious``, ``pending``, ``error``), served as that version's ``security`` block.
    """

    model_config = ConfigDict(extra="ignore")

    displayName: str | None = None
    summary: str | None = None
    owner: str | None = Field(None, pattern=OWNER_RE.pattern.removesuffix("\\Z") + "$")  # Rust regex: $ = end
    tags: list[str] | dict[str, str] = Field(default_factory=list)
    moderation: Moderation | None = None
    changelogs: dict[str, str] = Field(default_factory=dict)
    stats: dict[str, int] = Field(default_factory=dict)
    security: dict[str, Literal["clean", "suspicious", "malicious", "pending", "error"]] = Field(default_factory=dict)


@dataclass(frozen=True)
class CatalogZip:
    """A download: the zip's ``filename`` and ``data``, and which ``slug`` and ``version`` it holds."""

    filename: str
    data: bytes
    slug: str
    version: str


@dataclass(frozen=True)
class CatalogFile:
    """One file of a version: POSIX relative ``path``, ``size_bytes``, ``sha256`` hex, ``content_type``."""

    path: str
    size_bytes: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class CatalogVersion:
    """One published version: its semver string, folder and folder mtime in epoch milliseconds."""

    version: str
    path: Path
    created_at_ms: int
    changelog: str = ""


@dataclass(frozen=True)
class CatalogSkill:
    """A skill as the catalog describes it; ``versions`` newest first (semver order)."""

    slug: str
    meta: SkillJson
    versions: tuple[CatalogVersion, ...]
    summary: str = ""
    topics: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def latest(self) -> CatalogVersion | None:
        """The ``latest`` tag if it names a present version, else the newest release (pre-releases
        only when nothing else exists)."""
        tagged = self.tags.get("latest")
        for v in self.versions:
            if v.version == tagged:
                return v
        releases = [v for v in self.versions if semver.Version.parse(v.version).prerelease is None]
        pool = releases or list(self.versions)
        return pool[0] if pool else None

    @property
    def owner(self) -> str | None:
        return self.meta.owner

    @property
    def display_name(self) -> str:
        return self.meta.displayName or self.slug

    @property
    def blocked(self) -> bool:
        return bool(self.meta.moderation and self.meta.moderation.isMalwareBlocked)

    def security(self, version: str) -> str | None:
        """The security-scan status ``skill.json`` gives ``version``, or ``None``."""
        return self.meta.security.get(version)

    @property
    def verdict(self) -> str:
        """``malicious`` (malware-blocked, or the latest version's scan says so), ``suspicious`` (flagged, or
        the latest version's scan is suspicious) or ``clean``."""
        latest = self.latest
        status = self.security(latest.version) if latest else None
        if self.blocked or status == "malicious":
            return "malicious"
        if (self.meta.moderation and self.meta.moderation.isSuspicious) or status == "suspicious":
            return "suspicious"
        return "clean"

    def version(self, version: str) -> CatalogVersion:
        """:raises CatalogError: 404 ``Version not found``."""
        for v in self.versions:
            if v.version == version:
                return v
        raise CatalogError(404, "Version not found")


def _mtime_ms(path: Path) -> int:
    return path.stat().st_mtime_ns // 1_000_000


def _content_type(path: str) -> str:
    if path.lower().endswith(".md"):
        return "text/markdown"
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def _moderation_json(mod: Moderation | None) -> dict[str, Any] | None:
    """ClawHub's ``moderation`` object of a flagged skill, ``None`` for an unflagged one."""
    if mod is None or not (mod.isSuspicious or mod.isMalwareBlocked):
        return None
    return {
        "isSuspicious": mod.isSuspicious,
        "isMalwareBlocked": mod.isMalwareBlocked,
        "verdict": "malicious" if mod.isMalwareBlocked else "suspicious",
        "reasonCodes": list(mod.reasonCodes),
        "summary": mod.summary,
        "engineVersion": "kirohub-catalog",
        "updatedAt": 0,
    }


def _owner_json(handle: str | None) -> dict[str, Any] | None:
    return None if handle is None else {"handle": handle, "displayName": None, "image": None}


class Catalog:
    """A catalog directory, re-read on every call (admins add versions with ``cp`` while it is served).

    File hashes and built zips are cached, keyed by size/mtime/inode and by fingerprint, so repeated
    requests do not re-hash or re-compress unchanged files. Safe to call from several threads.
    """

    def __init__(self, root: Path, *, zip_cache_entries: int = 16) -> None:
        self.root = Path(root).resolve()
        #: the downloads served so far (recorded by ``kiroclaw hub serve``, read by every answer)
        self.downloads = DownloadCounts(self.root)
        self._hashes: dict[tuple[str, int, int, int], str] = {}
        self._zips: OrderedDict[str, bytes] = OrderedDict()
        self._zip_cache_entries = zip_cache_entries
        self._lock = threading.Lock()

    # --- reading ------------------------------------------------------------------------------

    def slugs(self) -> list[str]:
        """Slugs present in the catalog, sorted; folders with unsafe names or links are ignored."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if SLUG_RE.match(p.name) and p.is_dir() and not p.is_symlink()
        )

    def skill(self, slug: str, owner: str | None = None) -> CatalogSkill:
        """Read one skill; ``owner`` (``ownerHandle``) must match its owner when given.

        :raises CatalogError: 404 ``Skill not found`` (unknown, unsafe name, owner mismatch, no version);
            500 when its ``skill.json`` is invalid.
        """
        slug = slug.strip().lower()
        if not SLUG_RE.match(slug):
            raise CatalogError(404, "Skill not found")
        folder = self.root / slug
        if not folder.is_dir() or folder.is_symlink():
            raise CatalogError(404, "Skill not found")
        meta = self._read_meta(folder)
        if owner and (meta.owner or "").lower() != owner.lower():
            raise CatalogError(404, "Skill not found")
        versions = []
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink() and semver.Version.is_valid(child.name):
                versions.append(
                    CatalogVersion(child.name, child, _mtime_ms(child), meta.changelogs.get(child.name, ""))
                )
        if not versions:
            raise CatalogError(404, "Skill not found")
        versions.sort(key=lambda v: semver.Version.parse(v.version), reverse=True)
        topics: tuple[str, ...] = ()
        tags: dict[str, str] = {}
        if isinstance(meta.tags, list):
            topics = tuple(meta.tags)
        else:
            tags = dict(meta.tags)
        draft = CatalogSkill(slug, meta, tuple(versions), topics=topics, tags=tags)
        latest = draft.latest
        assert latest is not None
        summary = meta.summary if meta.summary is not None else self._description(latest.path)
        # ``tags.latest`` always names the version served as latest (a stale tag is corrected).
        return replace(draft, summary=summary, tags={**tags, "latest": latest.version})

    def skills(self) -> Iterable[CatalogSkill]:
        """Every readable skill (invalid ones are logged and left out)."""
        for slug in self.slugs():
            try:
                yield self.skill(slug)
            except CatalogError as exc:
                if exc.status != 404:
                    log.warning("catalog skill %s left out: %s", slug, exc.text)

    def _read_meta(self, folder: Path) -> SkillJson:
        meta_path = folder / META_FILE
        if not meta_path.exists():
            return SkillJson.model_validate({})
        try:
            if meta_path.is_symlink() or meta_path.stat().st_size > 1024 * 1024:
                raise ValueError("not a regular file under 1 MiB")
            return SkillJson.model_validate(json.loads(meta_path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError, OSError) as exc:
            log.warning("invalid %s in catalog skill %s: %s", META_FILE, folder.name, exc)
            raise CatalogError(500, f"Invalid {META_FILE} for this skill") from exc

    @staticmethod
    def _description(version_dir: Path) -> str:
        from ..skills import read_skill_summary

        try:
            return read_skill_summary(version_dir)[1] or ""
        except Exception:  # a bad SKILL.md only costs the summary here
            return ""

    def files(self, version: CatalogVersion) -> list[CatalogFile]:
        """The files of ``version`` (sorted by path), sha256 from the cache where unchanged."""
        result = []
        for rel, full in iter_files(version.path):
            st = full.stat()
            key = (str(full), st.st_size, st.st_mtime_ns, st.st_ino)
            digest = self._hashes.get(key)
            if digest is None:
                digest = file_sha256(full)
                self._hashes[key] = digest
            result.append(CatalogFile(rel, st.st_size, digest, _content_type(rel)))
        result.sort(key=lambda f: f.path)
        return result

    def fingerprint(self, version: CatalogVersion) -> str:
        """ClawHub fingerprint of the files a client extracts from this version's zip."""
        return fingerprint_entries((f.path, f.sha256) for f in self.files(version))

    # --- ClawHub v1 responses -----------------------------------------------------------------

    def search_response(self, query: str, limit: int = DEFAULT_LIMIT, *, exact: bool = False) -> dict[str, Any]:
        """``GET /api/v1/search?q=&limit=[&mode=exact]`` → ``{"results": [...]}``, best score first.

        Every query word must occur in the slug, display name, summary or topics (case-insensitive);
        ``exact`` matches the slug only. An empty query returns no results (as ClawHub does).
        """
        words = query.lower().split()
        if not words:
            return {"results": []}
        limit = max(1, min(limit, MAX_LIST_LIMIT))
        scored: list[tuple[float, CatalogSkill]] = []
        for skill in self.skills():
            if skill.blocked:
                continue
            if exact:
                if skill.slug == query.strip().lower():
                    scored.append((1.0, skill))
                continue
            score = 0.0
            for word in words:
                part = 0.0
                if skill.slug == word:
                    part += 3
                elif word in skill.slug:
                    part += 2
                if word in skill.display_name.lower():
                    part += 1.5
                if word in skill.summary.lower():
                    part += 1
                if any(word in t.lower() for t in skill.topics):
                    part += 1
                if part == 0:
                    break
                score += part
            else:
                scored.append((round(score / (4.5 * len(words)), 4), skill))
        scored.sort(key=lambda item: (-item[0], item[1].slug))
        counted = self.downloads.totals()
        return {"results": [self._search_row(score, skill, counted) for score, skill in scored[:limit]]}

    def _stats(self, skill: CatalogSkill, counted: dict[str, int] | None = None) -> dict[str, int]:
        """``{"downloads", "stars", …}``: ``skill.json``'s counts, downloads plus those served."""
        served = (counted if counted is not None else self.downloads.totals()).get(skill.slug, 0)
        stats = {"downloads": 0, "stars": 0, **skill.meta.stats}
        stats["downloads"] += served
        return stats

    def _search_row(self, score: float, skill: CatalogSkill, counted: dict[str, int]) -> dict[str, Any]:
        latest = skill.latest
        assert latest is not None
        row: dict[str, Any] = {
            "score": score,
            "slug": skill.slug,
            "displayName": skill.display_name,
            "summary": skill.summary,
            "version": latest.version,
            "updatedAt": max(v.created_at_ms for v in skill.versions),
        }
        if skill.owner:
            row["ownerHandle"] = skill.owner
            row["owner"] = _owner_json(skill.owner)
        stats = self._stats(skill, counted)
        row["downloads"] = stats["downloads"]
        if "stars" in skill.meta.stats:
            row["stars"] = stats["stars"]
        row["stats"] = stats
        moderation = _moderation_json(skill.meta.moderation)
        if moderation is not None:  # the flags and reasons, as skill info gives them (clients ignore it)
            row["moderation"] = moderation
        # the canonical row's ``trust`` block, complete: the clawhub CLI validates each of its keys
        row["trust"] = {
            "visibility": "public",
            "installability": "installable",
            "clawHubVerdict": skill.verdict,
            "upstreamScanners": None,
            "sourceFreshness": "native",
        }
        return row

    def _skill_json(self, skill: CatalogSkill, counted: dict[str, int] | None = None) -> dict[str, Any]:
        return {
            "slug": skill.slug,
            "displayName": skill.display_name,
            "summary": skill.summary,
            "topics": list(skill.topics),
            "tags": dict(skill.tags),
            "stats": self._stats(skill, counted),
            "createdAt": min(v.created_at_ms for v in skill.versions),
            "updatedAt": max(v.created_at_ms for v in skill.versions),
        }

    @staticmethod
    def _version_json(version: CatalogVersion) -> dict[str, Any]:
        return {"version": version.version, "createdAt": version.created_at_ms, "changelog": version.changelog}

    def list_response(self, limit: int = DEFAULT_LIMIT, prefix: str | None = None) -> dict[str, Any]:
        """``GET /api/v1/skills?limit=&prefix=`` → ``{"items": [...], "nextCursor": null}`` (slug order)."""
        limit = max(1, min(limit, MAX_LIST_LIMIT))
        items = []
        counted = self.downloads.totals()
        for skill in self.skills():
            if skill.blocked or (prefix and not skill.slug.startswith(prefix.lower())):
                continue
            latest = skill.latest
            assert latest is not None
            items.append({**self._skill_json(skill, counted), "latestVersion": self._version_json(latest)})
            if len(items) >= limit:
                break
        return {"items": items, "nextCursor": None}

    def skill_response(self, slug: str, owner: str | None = None) -> dict[str, Any]:
        """``GET /api/v1/skills/{slug}[?ownerHandle=]`` → ``{skill, latestVersion, metadata, owner,
        moderation}``; ``moderation`` is ``null`` unless the skill is flagged.

        :raises CatalogError: 404 / 500 (see :meth:`skill`).
        """
        skill = self.skill(slug, owner)
        latest = skill.latest
        assert latest is not None
        return {
            "skill": self._skill_json(skill),
            "latestVersion": self._version_json(latest),
            "metadata": None,
            "owner": _owner_json(skill.owner),
            "moderation": _moderation_json(skill.meta.moderation),
        }

    def versions_response(self, slug: str, owner: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """``GET /api/v1/skills/{slug}/versions`` → ``{"items": [...newest first], "nextCursor": null}``."""
        skill = self.skill(slug, owner)
        limit = max(1, min(limit, MAX_LIST_LIMIT))
        return {"items": [self._version_json(v) for v in skill.versions[:limit]], "nextCursor": None}

    def version_response(self, slug: str, version: str, owner: str | None = None) -> dict[str, Any]:
        """``GET /api/v1/skills/{slug}/versions/{version}`` → ``{version: {…, files}, skill}``.

        :raises CatalogError: 404 for an unknown skill or version.
        """
        skill = self.skill(slug, owner)
        v = skill.version(version)
        files = [
            {"path": f.path, "size": f.size_bytes, "sha256": f.sha256, "contentType": f.content_type}
            for f in self.files(v)
        ]
        security = skill.security(v.version)
        detail: dict[str, Any] = {
            **self._version_json(v),
            "files": files,
            "stats": {"downloads": self.downloads.per_version(skill.slug).get(v.version, 0)},
        }
        if security is not None:
            detail["security"] = {"status": security, "hasWarnings": security != "clean"}
        return {
            "version": detail,
            "skill": {"slug": skill.slug, "displayName": skill.display_name},
        }

    def resolve_response(self, slug: str, hash_hex: str, owner: str | None = None) -> dict[str, Any]:
        """``GET /api/v1/resolve?slug=&hash=`` → ``{slug, match: {version}|null, latestVersion}``.

        ``match`` is the newest version whose fingerprint equals ``hash_hex``.

        :raises CatalogError: 400 ``Invalid hash``; 404 (see :meth:`skill`).
        """
        hash_hex = hash_hex.strip().lower()
        if not HASH_RE.match(hash_hex):
            raise CatalogError(400, "Invalid hash")
        skill = self.skill(slug, owner)
        match = next((v for v in skill.versions if self.fingerprint(v) == hash_hex), None)
        latest = skill.latest
        return {
            "slug": skill.slug,
            "match": {"version": match.version} if match else None,
            "latestVersion": {"version": latest.version} if latest else None,
        }

    def zip_response(
        self, slug: str, version: str | None = None, owner: str | None = None, tag: str | None = None
    ) -> CatalogZip:
        """``GET /api/v1/download?slug=&version=|tag=`` → the file name and deterministic zip bytes.

        :raises CatalogError: 404 unknown skill/version/tag; 403 malware-blocked skill or version.
        """
        skill = self.skill(slug, owner)
        if skill.blocked:
            raise CatalogError(403, "Blocked: this skill has been flagged as malicious")
        if version:
            v = skill.version(version)
        elif tag:
            if tag not in skill.tags:
                raise CatalogError(404, "Version not found")
            v = skill.version(skill.tags[tag])
        else:
            latest = skill.latest
            assert latest is not None
            v = latest
        if skill.security(v.version) == "malicious":
            raise CatalogError(403, "Blocked: this version has been flagged as malicious")
        files = self.files(v)
        key = f"{skill.slug}@{v.version}:{fingerprint_entries((f.path, f.sha256) for f in files)}"
        with self._lock:
            cached = self._zips.get(key)
            if cached is not None:
                self._zips.move_to_end(key)
        if cached is None:
            cached = build_zip(v.path, [f.path for f in files])
            with self._lock:
                self._zips[key] = cached
                while len(self._zips) > self._zip_cache_entries:
                    self._zips.popitem(last=False)
        return CatalogZip(f"{skill.slug}-{v.version}.zip", cached, skill.slug, v.version)


def build_zip(root: Path, paths: Iterable[str]) -> bytes:
    """A deterministic zip of ``root``'s files ``paths`` (POSIX, relative) at the archive root.

    Entries are sorted; timestamps are 1980-01-01 00:00; modes 0755 for executables, else 0644.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(paths):
            full = root / rel
            info = zipfile.ZipInfo(rel, date_time=ZIP_EPOCH)
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(full, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, full.read_bytes())
    return buf.getvalue()
