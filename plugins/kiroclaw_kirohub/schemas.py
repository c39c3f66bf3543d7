"""Pydantic models of the ClawHub v1 responses the ``kirohub`` source reads (``kirohub-protocol.md`` §4).

Required keys are those the real ``clawhub`` CLI requires (missing → the response is rejected); extra
keys are ignored, as the CLI does. Strings and lists have upper bounds so a hostile registry cannot make
us hold or print megabytes of text.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Text = Annotated[str, Field(max_length=4096)]
Short = Annotated[str, Field(max_length=256)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)  # schemas built on first use


class OwnerModel(_Model):
    handle: Short | None = None
    displayName: Short | None = None


class SearchResultModel(_Model):
    score: float
    slug: Short | None = None
    displayName: Short | None = None
    summary: Text | None = None
    version: Short | None = None
    ownerHandle: Short | None = None
    owner: OwnerModel | None = None
    downloads: int | None = None
    stars: int | None = None
    stats: dict[str, Any] | None = None
    #: ClawHub's canonical rows: ``trust.clawHubVerdict`` (``clean|suspicious|malicious``) and the native
    #: ``skill`` document (``isSuspicious``, ``stats.stars``…); read leniently, never required.
    trust: dict[str, Any] | None = None
    native: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None


class SearchResponse(_Model):
    results: list[SearchResultModel] = Field(max_length=1000)


class FileModel(_Model):
    path: Annotated[str, Field(min_length=1, max_length=1024)]
    size: int | None = Field(None, ge=0)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    contentType: Short | None = None


class SecurityModel(_Model):
    """Per-version ``security`` block (protocol §9): ``status`` is ``clean|suspicious|malicious|pending|error``."""

    status: Short | None = None
    sha256hash: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None


class VersionModel(_Model):
    version: Short
    createdAt: float | None = None
    changelog: Text | None = None
    files: list[FileModel] | None = Field(None, max_length=20000)
    security: SecurityModel | None = None
    stats: dict[str, Any] | None = None


class SkillModel(_Model):
    slug: Short
    displayName: Short | None = None
    summary: Text | None = None
    description: Text | None = None
    topics: list[Short] | None = None
    tags: Any = None
    stats: Any = None


class ModerationModel(_Model):
    isSuspicious: bool
    isMalwareBlocked: bool
    verdict: Short | None = None
    reasonCodes: list[Short] = Field(default_factory=list, max_length=100)
    summary: Text | None = None


class SkillInfoResponse(_Model):
    """``GET /api/v1/skills/{slug}``: ``skill``, ``latestVersion`` and ``owner`` must be present (may be null)."""

    skill: SkillModel | None
    latestVersion: VersionModel | None
    owner: OwnerModel | None
    moderation: ModerationModel | None = None


class VersionsResponse(_Model):
    items: list[VersionModel] = Field(max_length=1000)
    nextCursor: Short | None = None


class VersionDetailResponse(_Model):
    version: VersionModel | None
    skill: dict[str, Any] | None


class VersionRef(_Model):
    version: Short


class ResolveResponse(_Model):
    """``GET /api/v1/resolve``: ``match`` and ``latestVersion`` must both be present (may be null)."""

    slug: Short | None = None
    match: VersionRef | None
    latestVersion: VersionRef | None


class WellKnown(_Model):
    """``/.well-known/clawhub.json``: ``apiBase`` (or ``registry``) names the registry base URL."""

    apiBase: Short | None = None
    registry: Short | None = None
