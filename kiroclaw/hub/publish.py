"""``kiroclaw hub publish``: copy a validated skill folder into a catalog as a new version.

The skill must be a valid Agent Skill (``SKILL.md`` at the folder root; :func:`kiroclaw.skills.load_skill`).
Its slug is its ``name``. The version is ``--version`` (semver, must be new) or, by default, a patch bump
of the newest version in the catalog (``1.0.0`` for a first publish), as ``clawhub publish`` does
(protocol §8). Files are copied like the fingerprint sees them (no dot segments, no ``node_modules``) into
a hidden temporary folder beside the target and renamed into place, so a half-copied version is never
served. Links, devices and FIFOs in the skill folder are refused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import semver

from ..errors import SpecError, ValidationError
from ..fingerprint import iter_files
from ..skills import load_skill
from .catalog import META_FILE, OWNER_RE, SLUG_RE


@dataclass(frozen=True)
class Published:
    """Result of :func:`publish`: ``slug``, ``version`` and the new version folder ``path``."""

    slug: str
    version: str
    path: Path


def next_version(existing: list[str]) -> str:
    """Patch bump of the highest semver in ``existing``; ``1.0.0`` when empty."""
    valid = [semver.Version.parse(v) for v in existing if semver.Version.is_valid(v)]
    if not valid:
        return "1.0.0"
    return str(max(valid).bump_patch())


def _check_tree(skill_dir: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(skill_dir):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(skill_dir).as_posix()
            if any(part.startswith(".") or part == "node_modules" for part in rel.split("/")):
                continue
            if full.is_symlink():
                raise ValidationError(f"{rel} is a symbolic link; the catalog holds regular files only")
            if not (full.is_dir() or full.is_file()):
                raise ValidationError(f"{rel} is not a regular file")


def publish(
    skill_dir: Path,
    catalog_dir: Path,
    *,
    version: str | None = None,
    owner: str | None = None,
    changelog: str | None = None,
) -> Published:
    """Add ``skill_dir`` to ``catalog_dir`` as ``<slug>/<version>/``.

    ``skill.json`` is created on first publish (``displayName``, ``summary`` from the description,
    ``owner``); later publishes only add ``owner`` when given and the changelog entry.

    :raises ValidationError: not a valid skill, or it contains links/special files.
    :raises SpecError: ``version`` is not semver or already published; ``owner`` is not a valid handle.
    """
    skill_dir = Path(skill_dir)
    catalog_dir = Path(catalog_dir)
    manifest = load_skill(skill_dir, check_folder=False)
    slug = manifest.name
    if not SLUG_RE.match(slug):
        raise SpecError(f"skill name {slug!r} cannot be a catalog slug")
    if owner is not None and not OWNER_RE.match(owner):
        raise SpecError(f"invalid owner handle {owner!r}")
    _check_tree(skill_dir)
    slug_dir = catalog_dir / slug
    existing = [p.name for p in slug_dir.iterdir()] if slug_dir.is_dir() else []
    if version is None:
        version = next_version(existing)
    elif not semver.Version.is_valid(version):
        raise SpecError(f"version {version!r} is not a semantic version (like 1.2.3)")
    target = slug_dir / version
    if target.exists():
        raise SpecError(f"{slug} {version} is already in the catalog; publish a new version")
    slug_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=slug_dir))
    try:
        for rel, full in iter_files(skill_dir):
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(full, dest)
        tmp.chmod(0o755)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _update_meta(slug_dir, manifest.description, version, owner, changelog)
    return Published(slug, version, target)


def _update_meta(slug_dir: Path, description: str, version: str, owner: str | None, changelog: str | None) -> None:
    meta_path = slug_dir / META_FILE
    if meta_path.exists():
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValidationError(f"{META_FILE} of {slug_dir.name} is not a JSON object")
    else:
        data = {"displayName": slug_dir.name, "summary": description.splitlines()[0] if description else ""}
    if owner is not None:
        data["owner"] = owner
    if changelog:
        data.setdefault("changelogs", {})[version] = changelog
    if meta_path.exists() and owner is None and not changelog:
        return
    fd, tmp_name = tempfile.mkstemp(prefix=".skill.", suffix=".json", dir=slug_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.chmod(tmp_name, 0o644)
    os.replace(tmp_name, meta_path)
