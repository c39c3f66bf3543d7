"""Value objects shared by the core, the sources, the agent runtime and the bot.

The add-on registry's on-disk schema (``addons.json``) is :class:`RegistryDocument`; the resolver's
output is :class:`EffectiveSet`. All models are pydantic, frozen where they are values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .registry_read import REGISTRY_SCHEMA_VERSION

AddonKind = Literal["skill", "plugin"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (registry timestamps)."""
    return datetime.now(UTC)


class AddonRecord(BaseModel):
    """One installed add-on in a scope's registry (``addons.json`` → ``addons[]``).

    :ivar name: the user-facing name, unique in its scope: a skill name (``weather-api``) or a package
        name (``org/repo``, ``my-folder``).
    :ivar version: the add-on's version (registry version, ``metadata.version``) or ``None``.
    :ivar source: name of the source plugin that fetched it (``local``, ``github``, ``url``, ``kirohub``).
    :ivar spec: exactly what the user typed (re-used by ``update``).
    :ivar kind: ``skill`` (one skill in ``.kiro/skills/<name>/``) or ``plugin`` (a package in
        ``.kiro/plugins/<dir>/``).
    :ivar path: the installed folder, relative to the scope root (``.kiro/skills/weather-api``).
    :ivar skills: names of the skills it installed (plain names, not qualified).
    :ivar recipes: ids of the recipes it installed (path without ``.md``: ``ralph/init``).
    :ivar skipped: skills or recipes left out as invalid, one ``"<id>: <reason>"`` line each.
    :ivar origin: source-specific origin details (``commit``, ``url``, ``registry``, ``slug``, ``owner``,
        ``ref``, ``path``…), str → str.
    :ivar pinned: the user asked for an exact version/commit; ``update`` leaves it alone.
    :ivar fingerprint: sha256 hex over the installed files (see :func:`kiroclaw.fingerprint.tree_fingerprint`).
    :ivar size_bytes: total size of the installed files, in bytes.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)

    name: str
    version: str | None = None
    source: str
    spec: str
    kind: AddonKind
    path: str
    enabled: bool = True
    skills: list[str] = Field(default_factory=list)
    recipes: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    description: str | None = None
    installed_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    origin: dict[str, str] = Field(default_factory=dict)
    pinned: bool = False
    fingerprint: str = ""
    size_bytes: int = 0


class RegistryDocument(BaseModel):
    """The whole ``addons.json`` of one scope."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    schema_version: int = REGISTRY_SCHEMA_VERSION
    addons: list[AddonRecord] = Field(default_factory=list)


class SkillEntry(BaseModel):
    """A skill as the resolver sees it in one layer.

    :ivar name: the skill's ``name`` (== its folder name; what kiro-cli shows and matches on).
    :ivar qualified_name: unique user-facing name: ``name`` for standalone skills, ``org/repo/<name>``
        (or ``<package>/<name>``) for skills of a plugin package.
    :ivar layer: the layer's name (``user``, ``user-plugins``, ``global``, ``global-plugins``, ``bundled``…).
    :ivar addon: name of the add-on that installed it, or ``None`` (bundled, hand-placed).
    :ivar path: absolute path of the skill folder (the folder holding ``SKILL.md``).
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    qualified_name: str
    description: str = ""
    layer: str
    addon: str | None = None
    path: Path


class RecipeEntry(BaseModel):
    """A recipe as the resolver sees it: ``id`` is its path without ``.md`` (``ralph/init``)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    qualified_name: str
    title: str = ""
    description: str = ""
    layer: str
    addon: str | None = None
    path: Path


class ShadowedEntry(BaseModel):
    """A skill or recipe hidden by another of the same name in a higher layer (or earlier in one layer).

    :ivar shadowed_by: qualified name of the entry that wins.
    :ivar shadowed_by_layer: the winning entry's layer.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    qualified_name: str
    layer: str
    addon: str | None = None
    path: Path
    shadowed_by: str
    shadowed_by_layer: str


class EffectiveSet(BaseModel):
    """The resolver's output for one user: what their agent sees, and what is hidden and why.

    :ivar skills: visible skills, sorted by name; every name occurs once.
    :ivar recipes: visible recipes, sorted by name (id).
    :ivar shadowed_skills: skills hidden by a same-named skill of higher precedence.
    :ivar shadowed_recipes: the same for recipes.
    """

    model_config = ConfigDict(defer_build=True)

    skills: list[SkillEntry] = Field(default_factory=list)
    recipes: list[RecipeEntry] = Field(default_factory=list)
    shadowed_skills: list[ShadowedEntry] = Field(default_factory=list)
    shadowed_recipes: list[ShadowedEntry] = Field(default_factory=list)
