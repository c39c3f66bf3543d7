"""The resolver: from the registered layers to one user's effective set of skills and recipes.

For each layer (highest precedence first, :attr:`Host.layers`):

* ``standalone`` layers hold ``skills/<name>/SKILL.md`` and ``recipes/**.md`` (a ``.kiro`` folder);
* ``plugins`` layers hold one plugin package per sub-folder: ``<pkg>/skills/<name>/SKILL.md`` and
  ``<pkg>/recipes/**.md``.

Each entry is attributed to the add-on whose registry ``path`` holds it (the layer's ``addons.json``);
entries of disabled add-ons are dropped; a skill whose folder name differs from its frontmatter ``name``
is skipped (kiro-cli would not load it).

Names: a skill's ``name`` is its frontmatter name (what kiro-cli matches); a recipe's ``name`` is its id
(path without ``.md``). Qualified names: ``name`` for standalone entries, ``<package>/<name>`` for package
entries, where ``<package>`` is the add-on's name (``org/repo``) or, without a registry entry, the folder
name with its first ``@`` read as ``/``.

Clashes (same ``name``): the higher layer wins. Inside one layer the entry whose qualified name sorts
first (plain code-point order) wins. Every loser is reported in ``shadowed_*`` with its winner.

Only frontmatter is read (no validation beyond the name), so resolving 200 skills takes milliseconds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import KiroclawError
from .layers import Layer, LayerContext
from .models import AddonRecord, EffectiveSet, RecipeEntry, ShadowedEntry, SkillEntry
from .registry import load_registry
from .skills import _RECIPE_SEGMENT, SKILL_FILE, FrontmatterLimitError, parse_frontmatter_yaml
from .workspaces import Scope, ScopePaths, scope_root

if TYPE_CHECKING:
    from .host import Host


@dataclass(frozen=True)
class _Found:
    kind: str  # "skill" | "recipe"
    name: str
    qualified_name: str
    description: str
    title: str
    layer: str
    addon: str | None
    path: str


def _frontmatter(path: str) -> dict[str, object] | None:
    """The YAML frontmatter of a Markdown file, ``{}`` when it has none, ``None`` when unreadable."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:  # str paths: pathlib object churn costs ~30% here
            first = fh.readline()
            if first.lstrip("\ufeff").strip() != "---":
                return {}
            lines: list[str] = []
            for _ in range(2000):
                line = fh.readline()
                if not line:
                    return None
                if line.strip() == "---":
                    break
                lines.append(line)
            else:
                return None
        data = _simple_frontmatter(lines)
        if data is None:
            data = parse_frontmatter_yaml("".join(lines))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, FrontmatterLimitError):
        return None
    return data if isinstance(data, dict) else None


#: Plain scalars YAML 1.1 reads as booleans or null (everything starting with a digit falls back anyway).
_NON_STRING = re.compile(r"^(?:y|n|yes|no|on|off|true|false|null)$", re.I)
_KEY_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):(?: +(.*))?$")
_PLAIN_START = re.compile(r"^[A-Za-z(_/$]")


def _safe_plain(value: str) -> bool:
    """A one-line plain YAML scalar that YAML reads as exactly this string."""
    return (
        bool(_PLAIN_START.match(value))
        and not _NON_STRING.match(value)
        and ": " not in value
        and " #" not in value
        and "\t" not in value
        and not value.endswith(":")
        and value.isprintable()
    )


def _simple_frontmatter(lines: list[str]) -> dict[str, object] | None:
    """``name`` and ``description`` of a frontmatter made only of simple lines, without YAML (4x faster);
    ``None`` when YAML is needed to be exact.

    Simple lines: ``key: plain value``; ``key:`` followed by a block of lines indented alike, each
    ``- plain value`` or ``sub: plain value``; blank lines and comments. Anything else defers to YAML,
    so a frontmatter YAML would reject is never accepted here.
    """
    data: dict[str, object] = {}
    seen: set[str] = set()
    block_indent: int | None = None
    in_block = False
    for raw in lines:
        line = raw.rstrip("\r\n").rstrip(" ")
        if not line.isprintable():
            return None  # tabs, form feeds, control characters: YAML's rules
        if not line or line.lstrip(" ").startswith("#"):
            continue
        if line[0] == " ":
            if not in_block:
                return None  # indented text under a key that has a value: YAML rejects or folds it
            indent = len(line) - len(line.lstrip(" "))
            if block_indent is None:
                block_indent = indent
            if indent != block_indent:
                return None
            item = line[indent:]
            if item.startswith("- "):
                if not _safe_plain(item[2:].strip()):
                    return None
                continue
            match = _KEY_LINE.match(item)
            if match is None or (match.group(2) is not None and not _safe_plain(match.group(2).strip())):
                return None
            if match.group(2) is None:
                return None  # a deeper block
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            return None
        key, value = match.group(1), match.group(2)
        if key in seen:
            return None
        seen.add(key)
        block_indent = None
        in_block = value is None
        if value is None:
            if key in ("name", "description"):
                return None
            continue
        value = value.strip()
        if not _safe_plain(value):
            return None
        if key in ("name", "description"):
            data[key] = value
    return data




def _registry(root: Path | None) -> dict[str, AddonRecord]:
    """Records of the scope rooted at ``root`` keyed by their path (``.kiro/plugins/org@repo``)."""
    if root is None:
        return {}
    try:
        doc = load_registry(ScopePaths(root))
    except KiroclawError:
        return {}  # reported (and moved aside) by the registry; resolve with what is on disk
    return {record.path: record for record in doc.addons}


def _dirs(folder: str | Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
            yield entry


def _scan_skills(
    skills_dir: str, layer: str, prefix: str | None, addon_for: dict[str, str | None], default: str | None = None
) -> list[_Found]:
    found: list[_Found] = []
    for entry in _dirs(skills_dir):
        data = _frontmatter(os.path.join(entry.path, SKILL_FILE))
        if not data:
            continue
        name = data.get("name")
        if not isinstance(name, str) or name != entry.name:
            continue  # kiro-cli loads a skill only from a folder named after it
        description = data.get("description")
        found.append(
            _Found(
                "skill",
                name,
                f"{prefix}/{name}" if prefix else name,
                description.strip() if isinstance(description, str) else "",
                "",
                layer,
                addon_for.get(entry.name, default),
                entry.path,
            )
        )
    return found


def _scan_recipes(recipes_dir: str, layer: str, prefix: str | None, addon: str | None) -> list[_Found]:
    found: list[_Found] = []
    if not os.path.isdir(recipes_dir):
        return found
    for dirpath, dirnames, filenames in os.walk(recipes_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if not filename.endswith(".md") or filename.startswith("."):
                continue
            path = os.path.join(dirpath, filename)
            if os.path.islink(path):
                continue
            rid = os.path.relpath(path, recipes_dir)[:-3].replace(os.sep, "/")
            if not all(_RECIPE_SEGMENT.match(part) for part in rid.split("/")):
                continue  # the same rule as kiroclaw.skills.recipe_id
            # A recipe whose frontmatter YAML rejects (Claude Code's ``argument-hint: [a] [b]``) is still
            # listed: running it reads the frontmatter leniently or names the problem.
            data = _frontmatter(path) or {}
            title = data.get("name")
            description = data.get("description")
            found.append(
                _Found(
                    "recipe",
                    rid,
                    f"{prefix}/{rid}" if prefix else rid,
                    description.strip() if isinstance(description, str) else "",
                    str(title) if isinstance(title, str | int | float) else rid,
                    layer,
                    addon,
                    path,
                )
            )
    return found


def _package_name(folder: str) -> str:
    org, sep, repo = folder.partition("@")
    return f"{org}/{repo}" if sep and org and repo else folder


def scan_layer(layer: Layer, root: Path, registry: dict[str, AddonRecord], rel_base: str) -> list[_Found]:
    """Every skill and recipe of one layer that is visible (enabled add-ons, loadable skills).

    :param root: the layer's folder for this user.
    :param registry: the layer's registry records keyed by ``path`` (relative to the scope root).
    :param rel_base: ``root`` relative to the scope root (``.kiro`` or ``.kiro/plugins``), to match
        records' paths.
    """
    found: list[_Found] = []
    if layer.kind == "plugins":
        for entry in _dirs(root):
            record = registry.get(f"{rel_base}/{entry.name}") if rel_base else None
            if record is not None and not record.enabled:
                continue
            prefix = record.name if record is not None else _package_name(entry.name)
            addon = record.name if record is not None else None
            found.extend(_scan_skills(os.path.join(entry.path, "skills"), layer.name, prefix, {}, addon))
            found.extend(_scan_recipes(os.path.join(entry.path, "recipes"), layer.name, prefix, addon))
        return found
    skills_rel = f"{rel_base}/skills" if rel_base else None
    addon_for: dict[str, str | None] = {}
    disabled: set[str] = set()
    if skills_rel is not None:
        for path, record in registry.items():
            if path.startswith(skills_rel + "/"):
                folder = path[len(skills_rel) + 1 :]
                addon_for[folder] = record.name
                if not record.enabled:
                    disabled.add(folder)
    skills = _scan_skills(os.path.join(root, "skills"), layer.name, None, addon_for)
    found.extend(s for s in skills if os.path.basename(s.path) not in disabled)
    found.extend(_scan_recipes(os.path.join(root, "recipes"), layer.name, None, None))
    return found


def _relative(path: Path, base: Path | None) -> str:
    if base is None:
        return ""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return ""


def resolve_layers(layers: tuple[Layer, ...], context: LayerContext) -> EffectiveSet:
    """The effective set over ``layers`` (highest precedence first) for ``context``'s user.

    Rule for equal names: a higher layer wins; inside one layer the smallest qualified name (code-point
    order) wins. Losers go to ``shadowed_skills``/``shadowed_recipes`` with ``shadowed_by``.
    """
    skills: dict[str, _Found] = {}
    recipes: dict[str, _Found] = {}
    shadowed_skills: list[ShadowedEntry] = []
    shadowed_recipes: list[ShadowedEntry] = []
    registries: dict[Path | None, dict[str, AddonRecord]] = {}
    for layer in layers:
        root = layer.root(context)
        if root is None or not root.is_dir():
            continue
        registry_root = layer.registry(context) if layer.registry is not None else None
        if registry_root not in registries:  # standalone and plugins layers of a scope share one file
            registries[registry_root] = _registry(registry_root)
        registry = registries[registry_root]
        entries = scan_layer(layer, root, registry, _relative(root, registry_root))
        for item in sorted(entries, key=lambda f: f.qualified_name):
            table, shadowed = (skills, shadowed_skills) if item.kind == "skill" else (recipes, shadowed_recipes)
            winner = table.get(item.name)
            if winner is None:
                table[item.name] = item
                continue
            shadowed.append(
                ShadowedEntry.model_construct(
                    name=item.name,
                    qualified_name=item.qualified_name,
                    layer=item.layer,
                    addon=item.addon,
                    path=Path(item.path),
                    shadowed_by=winner.qualified_name,
                    shadowed_by_layer=winner.layer,
                )
            )
    # model_construct: every field is built here from checked values (validation would double the time)
    return EffectiveSet.model_construct(
        skills=[
            SkillEntry.model_construct(
                name=f.name,
                qualified_name=f.qualified_name,
                description=f.description,
                layer=f.layer,
                addon=f.addon,
                path=Path(f.path),
            )
            for f in sorted(skills.values(), key=lambda f: f.name)
        ],
        recipes=[
            RecipeEntry.model_construct(
                name=f.name,
                qualified_name=f.qualified_name,
                title=f.title,
                description=f.description,
                layer=f.layer,
                addon=f.addon,
                path=Path(f.path),
            )
            for f in sorted(recipes.values(), key=lambda f: f.name)
        ],
        shadowed_skills=shadowed_skills,
        shadowed_recipes=shadowed_recipes,
    )


def resolve(host: Host, user_id: int) -> EffectiveSet:
    """The effective set of ``user_id`` over ``host.layers``.

    :raises SpecError: ``user_id`` is not a valid Telegram user id.
    """
    scope = Scope.user(user_id)
    settings = host.settings
    context = LayerContext(
        user_id=scope.user_id or 0,
        user_root=scope_root(settings.workspace_base_path, settings.global_root, scope),
        global_root=settings.global_root,
        bundled_root=settings.bundled_skills_path,
    )
    return resolve_layers(host.layers, context)
