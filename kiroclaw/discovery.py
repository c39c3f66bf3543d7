"""Skill discovery: which skills and recipes does a fetched tree offer? One function for every source.

:func:`discover` looks at a fetched tree (a folder in staging, plus the links the source recorded
without writing them) and returns what an install would place, what it leaves out and why. It reads
only that tree, follows no link on the file system, and writes nothing; :mod:`kiroclaw.assemble`
then copies exactly what was found into the add-on folder. The rules and the decisions for real-world
deviations are documented in ``docs/sources.md`` ("How skills are found").

Rules, in this order (a skill folder found by an earlier rule wins a name clash, see de-duplication):

1. **root** — ``SKILL.md`` at the top of the tree: when no other rule finds a skill, the tree is one
   skill. When others do, the root ``SKILL.md`` (it describes a collection; its folder is the whole
   repository) is left out. A tree holding nothing but one folder (an archive of ``name/…``, a
   GitHub tarball) is looked at one level down.
2. **marketplace** — ``.claude-plugin/marketplace.json``: every plugin whose ``source`` is a relative
   folder (``./plugins/x``, or a bare name under ``metadata.pluginRoot``): its ``skills`` entries (skill
   folders or folders of skill folders), else the plugin's ``.claude-plugin/plugin.json`` ``skills``,
   else its default ``skills/`` folder; its ``commands`` entries, else its ``commands/*.md``, as recipes.
   Plugins from other repositories (``{"source": "github", …}``, URLs) are not part of this tree.
3. **plugin** — every ``.claude-plugin/plugin.json`` the walk meets, and a top folder holding
   ``commands/`` beside ``skills/`` (one plugin of a marketplace named by sub-path): the same per-plugin
   rule.
4. **skills** — Kodelet/OpenClaw ``skills/<name>/``, category folders ``skills/<category>/<name>/`` and
   dot-category folders (OpenAI's ``skills/.curated/<name>/``); ``recipes/**.md`` are recipes.
5. **agent** — agent folders ``.claude/skills/``, ``.agents/skills/``, ``.gemini/skills/``,
   ``.codex/skills/``, ``.kiro/skills/``, … (same container rule as ``skills/``).
6. **walk** — every folder holding ``SKILL.md`` at most :data:`MAX_WALK_DEPTH` folders deep, skipping
   :data:`SKIPPED_DIRS` and test-fixture/template folders (:func:`is_skipped_dir`) below the root. It runs
   even when earlier rules found skills.

**De-duplication** (deterministic): candidates are ordered by rule (1–6), then in the order the rule
lists them (marketplace order; otherwise shallower paths first, then by path). The same folder found
twice is one skill. The first candidate of each normalised name is kept; every later one is left out
with the reason "duplicate of <kept path>".

**Names** (the Agent Skills name rule; kiro-cli loads a skill only from a folder named after it): the
frontmatter ``name`` is normalised by :func:`normalise_name` (lowercase, ``[a-z0-9-]``, ≤ 64
characters); the installed folder is named after it. A name that differs from its folder, or that the
normalisation changes, is a note, never a skip.
"""

from __future__ import annotations

import json
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .skills import _RECIPE_SEGMENT, MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, SKILL_FILE
from .treeindex import TreeIndex, _join, inside

__all__ = [
    "Discovery",
    "FoundRecipe",
    "FoundSkill",
    "LeftOut",
    "TreeIndex",
    "discover",
    "is_skipped_dir",
    "normalise_name",
]

#: Deepest folder (in segments below the root) the walk looks for ``SKILL.md`` in.
MAX_WALK_DEPTH = 6
#: Folders never walked into below the root (unless a sub-path points into them).
SKIPPED_DIRS = frozenset({".git", "node_modules", "dist", "build", "__pycache__", ".venv", "venv", "__MACOSX"})
#: Test-fixture and template folders (lowercase), skipped by the walk below the root.
FIXTURE_DIRS = frozenset(
    {"fixtures", "__fixtures__", "test-fixtures", "test_fixtures", "testdata", "test-data", "__snapshots__"}
)
TEMPLATE_DIRS = frozenset({"template", "templates", "_template", "_templates", "skill-template", "skill-templates"})
#: Agent folders whose ``skills/`` child holds skills (rule 5).
AGENT_DIRS = (
    ".claude",
    ".agents",
    ".agent",
    ".gemini",
    ".codex",
    ".kiro",
    ".cursor",
    ".github",
    ".opencode",
    ".windsurf",
    ".trae",
    ".qwen",
)
MARKETPLACE = ".claude-plugin/marketplace.json"
PLUGIN_MANIFEST = ".claude-plugin/plugin.json"

Rule = Literal["root", "marketplace", "plugin", "skills", "agent", "walk", "subpath"]
_RULE_ORDER = {"root": 0, "subpath": 0, "marketplace": 1, "plugin": 2, "skills": 3, "agent": 4, "walk": 5}
_NAME_JUNK = re.compile(r"[^a-z0-9]+")


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundSkill:
    """A skill an install places.

    :ivar name: the installed name and folder (normalised frontmatter ``name``).
    :ivar path: its folder, relative to the tree root (``""`` for the root itself), POSIX.
    :ivar description: the frontmatter ``description``.
    :ivar rule: which rule found it first.
    :ivar declared_name: the frontmatter ``name`` as written (``None`` when missing).
    :ivar notes: non-blocking remarks (name normalised, name ≠ folder, long description), one line each.
    """

    name: str
    path: str
    description: str
    rule: Rule
    declared_name: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def rewrite_name(self) -> bool:
        """Whether the installed ``SKILL.md`` needs ``name:`` set to :attr:`name` (kiro-cli loads a skill
        only when its name equals its folder)."""
        return self.declared_name != self.name


@dataclass(frozen=True)
class FoundRecipe:
    """A recipe an install places: ``id`` (``review`` or ``plugin/review``) from the file ``path``."""

    id: str
    path: str
    rule: Rule


@dataclass(frozen=True)
class LeftOut:
    """Something the tree offers that is not installed: ``path`` (POSIX, relative), ``reason`` (one line)
    and the skill's ``name`` when known."""

    path: str
    reason: str
    name: str | None = None

    def line(self) -> str:
        """``path: reason`` for reports (the reason alone for the tree's root)."""
        return f"{self.path}: {self.reason}" if self.path else self.reason


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found.

    :ivar kind: ``skill`` (the tree is one skill: a root ``SKILL.md`` or a sub-path to a skill folder) or
        ``plugin`` (a package of skills and recipes).
    :ivar skills: kept skills, sorted by name.
    :ivar recipes: recipes, sorted by id.
    :ivar left_out: skills, recipes and links left out, each with its reason.
    """

    kind: Literal["skill", "plugin"]
    skills: tuple[FoundSkill, ...]
    recipes: tuple[FoundRecipe, ...]
    left_out: tuple[LeftOut, ...] = ()

    def notes(self) -> list[str]:
        """Every skill's notes, ``name: note`` lines."""
        return [f"{s.name}: {note}" for s in self.skills for note in s.notes]


# --- names --------------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """The Agent Skills form of a skill name, used as its folder: Unicode folded to ASCII, lowercase,
    every run of characters outside ``[a-z0-9]`` → one ``-``, no leading/trailing ``-``, at most
    :data:`~kiroclaw.skills.MAX_NAME_LENGTH` characters. ``""`` when nothing is left (the caller
    leaves the skill out). Never holds ``/``, ``..`` or a control character.

    ``"Ahrefs Automation"`` → ``ahrefs-automation``; ``"-pdf_tools-"`` → ``pdf-tools``.
    """
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NAME_JUNK.sub("-", ascii_text.lower()).strip("-")
    return slug[:MAX_NAME_LENGTH].rstrip("-")


# --- discovery ----------------------------------------------------------------------------------


def is_skipped_dir(name: str) -> bool:
    """Whether the walk skips a folder called ``name`` (build output, dependencies, fixtures, templates)."""
    lowered = name.lower()
    return name in SKIPPED_DIRS or lowered in FIXTURE_DIRS or lowered in TEMPLATE_DIRS


def _is_template(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return name in TEMPLATE_DIRS or name in FIXTURE_DIRS


@dataclass
class _Candidate:
    path: str
    rule: Rule
    order: int


class _Finder:
    def __init__(self, index: TreeIndex, base: str) -> None:
        self.index = index
        self.base = base
        self.candidates: list[_Candidate] = []
        self.recipes: list[FoundRecipe] = []
        self.left_out: list[LeftOut] = []
        self._seen_recipes: set[str] = set()
        self._plugins: set[str] = set()

    def add_skill(self, path: str, rule: Rule) -> None:
        self.candidates.append(_Candidate(path, rule, len(self.candidates)))

    def add_recipe(self, rid: str, path: str, rule: Rule) -> None:
        if rid in self._seen_recipes:
            self.left_out.append(LeftOut(self._rel(path), f"a recipe with id {rid!r} was found first", rid))
            return
        self._seen_recipes.add(rid)
        self.recipes.append(FoundRecipe(rid, path, rule))

    def _rel(self, path: str) -> str:
        if not self.base:
            return path
        return path[len(self.base) + 1 :] if path.startswith(self.base + "/") else ("" if path == self.base else path)

    # skill folders ------------------------------------------------------------------------------

    def has_skill(self, folder: str) -> bool:
        return self.index.skill_file(folder) is not None

    def container(self, folder: str, rule: Rule) -> None:
        """``folder`` holds skill folders, category folders or dot-category folders of skill folders."""
        if not self.index.is_dir(folder):
            return
        for child in self.index.subdirs(folder):
            if _is_template(child):
                continue
            if self.has_skill(child):
                self.add_skill(child, rule)
                continue
            for grandchild in self.index.subdirs(child):
                if self.has_skill(grandchild) and not _is_template(grandchild):
                    self.add_skill(grandchild, rule)

    def skill_entry(self, folder: str, rule: Rule) -> None:
        """A manifest's ``skills`` entry: a skill folder, or a folder of skill folders."""
        if self.has_skill(folder):
            self.add_skill(folder, rule)
        else:
            self.container(folder, rule)

    # plugins ------------------------------------------------------------------------------------

    def plugin(self, folder: str, entry: Mapping[str, Any] | None, rule: Rule, prefix: str) -> None:
        """One plugin: a marketplace ``entry`` always; a bare plugin folder once (not again after its
        marketplace entries)."""
        if entry is None and folder in self._plugins:
            return
        self._plugins.add(folder)
        manifest = _load_json(self.index, _join(folder, PLUGIN_MANIFEST))
        skills = _paths(entry.get("skills") if entry else None) or _paths(manifest.get("skills") if manifest else None)
        if skills:
            for item in skills:
                target = inside(folder, item)
                if target is None:
                    self.left_out.append(LeftOut(self._rel(folder), f"lists skills at {item[:80]!r} outside the tree"))
                else:
                    self.skill_entry(target, rule)
        else:
            self.container(_join(folder, "skills"), rule)
        commands = _paths(entry.get("commands") if entry else None) or _paths(
            manifest.get("commands") if manifest else None
        )
        command_files: list[str] = []
        for item in commands or ["./commands"]:
            target = inside(folder, item)
            if target is None:
                continue
            if self.index.is_file(target) and target.endswith(".md"):
                command_files.append(target)
            elif self.index.is_dir(target):
                command_files.extend(sorted(p for p in self.index.walk(target) if p.endswith(".md")))
        for path in command_files:
            if path not in self.index.files:
                continue  # a link: commands are single files, placed only when real
            stem = posixpath.basename(path)[:-3]
            rid = f"{prefix}/{stem}" if prefix else stem
            if all(_RECIPE_SEGMENT.match(part) for part in rid.split("/")):
                self.add_recipe(rid, path, rule)
            else:
                self.left_out.append(LeftOut(self._rel(path), f"{stem!r} is not a safe recipe name"))

    def marketplace(self) -> None:
        data = _load_json(self.index, _join(self.base, MARKETPLACE))
        if not data:
            return
        plugins = data.get("plugins")
        metadata = data.get("metadata")
        plugin_root = metadata.get("pluginRoot") if isinstance(metadata, dict) else None
        entries = [p for p in plugins if isinstance(p, dict)] if isinstance(plugins, list) else []
        local = []
        for entry in entries:
            source = entry.get("source", "./")
            if not isinstance(source, str) or "://" in source or source.startswith(("git@", "github:")):
                continue  # a plugin kept in another repository
            if isinstance(plugin_root, str) and not source.startswith(("./", "../", "/")) and source not in ("", "."):
                source = posixpath.join(plugin_root, source)
            folder = inside(self.base, source)
            if folder is None or not self.index.is_dir(folder):
                name = str(entry.get("name") or source)[:80]
                self.left_out.append(LeftOut(MARKETPLACE, f"plugin {name!r}: its folder {source[:80]!r} is missing"))
                continue
            local.append((folder, entry))
        several = len(local) > 1
        for folder, entry in local:
            plugin_name = entry.get("name")
            prefix = normalise_name(plugin_name) if several and isinstance(plugin_name, str) else ""
            self.plugin(folder, entry, "marketplace", prefix)

    def walk(self) -> list[str]:
        """Folders holding ``SKILL.md`` up to :data:`MAX_WALK_DEPTH` deep, shallow first; plugin folders."""
        found: list[tuple[int, str]] = []
        plugins: list[str] = []
        stack = [(self.base, 0)]
        while stack:
            folder, depth = stack.pop()
            if folder != self.base and self.has_skill(folder):
                found.append((depth, folder))
            if _join(folder, PLUGIN_MANIFEST) in self.index.files:
                plugins.append(folder)
            if depth >= MAX_WALK_DEPTH:
                continue
            for child in self.index.subdirs(folder):
                if not is_skipped_dir(posixpath.basename(child)):
                    stack.append((child, depth + 1))
        for folder in sorted(plugins, key=lambda p: (p.count("/"), p)):
            self.plugin(folder, None, "plugin", "")
        return [path for _depth, path in sorted(found)]


def _load_json(index: TreeIndex, rel: str) -> dict[str, Any] | None:
    text = index.read_text(rel)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _paths(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and v and v.isprintable()]


def discover(
    root: Path, *, links: Mapping[str, str] | None = None, subpath: str | None = None, index: TreeIndex | None = None
) -> Discovery:
    """Find the skills and recipes a fetched tree offers (rules in the module docstring).

    :param root: the fetched tree on disk (staging).
    :param links: links the source recorded instead of writing them (path → target, POSIX, relative
        to ``root``).
    :param subpath: a folder inside the tree to install instead of the whole tree (a skill folder, a
        folder of skill folders, one plugin of a marketplace, a dot folder); the skip rules of the walk
        do not apply to it.
    :param index: an index of ``root`` already built (:meth:`TreeIndex.build`).
    :returns: the :class:`Discovery`; it may hold no skill and no recipe (the caller refuses that).
    :raises ValueError: ``subpath`` is not a folder of the tree.
    """
    index = index or TreeIndex.build(root, links)
    base = (subpath or "").strip("/")
    top = [n for n in index.children.get("", []) if n not in ("__MACOSX", ".DS_Store")]
    containers = {"skills", "recipes", ".claude-plugin", *AGENT_DIRS}
    if not base and len(top) == 1 and top[0] in index.dirs and top[0] not in containers:
        base = top[0]  # an archive of one folder (``name/SKILL.md``, a GitHub tarball): look one level down
    if base and not index.is_dir(base):
        raise ValueError(f"{base!r} is not a folder of the fetched tree")
    finder = _Finder(index, base)
    root_skill = finder.has_skill(base)
    finder.marketplace()
    plugin_shaped = index.is_dir(_join(base, "commands")) and (
        index.is_dir(_join(base, "skills")) or index.is_dir(_join(base, ".claude-plugin"))
    )
    if not root_skill and (index.is_file(_join(base, PLUGIN_MANIFEST)) or plugin_shaped):
        finder.plugin(base, None, "plugin", "")  # a plugin folder (or one plugin of a marketplace, by sub-path)
    finder.container(_join(base, "skills"), "skills")
    recipes_dir = _join(base, "recipes")
    if index.is_dir(recipes_dir):
        for path in sorted(p for p in index.walk(recipes_dir) if p.endswith(".md") and p in index.files):
            rid = path[len(recipes_dir) + 1 : -3]
            if all(_RECIPE_SEGMENT.match(part) for part in rid.split("/")):
                finder.add_recipe(rid, path, "skills")
            else:
                finder.left_out.append(LeftOut(finder._rel(path), f"{rid!r} is not a safe recipe name"))
    for agent in AGENT_DIRS:
        finder.container(_join(base, f"{agent}/skills"), "agent")
    for path in finder.walk():
        finder.add_skill(path, "walk")

    others = [c for c in finder.candidates if c.path != base]
    if root_skill and not others and not finder.recipes:
        kept, left = _choose(index, [_Candidate(base, "subpath" if base else "root", 0)], finder)
        return Discovery("skill", tuple(kept), (), tuple(left + finder.left_out))
    if root_skill:
        finder.left_out.append(
            LeftOut(
                finder._rel(_join(base, SKILL_FILE)),
                f"this SKILL.md describes a collection of {len({c.path for c in others})} skill folder(s) below it "
                "(its folder is the whole tree); the skills below are installed instead",
            )
        )
    kept, left = _choose(index, others, finder)
    return Discovery(
        "plugin",
        tuple(sorted(kept, key=lambda s: s.name)),
        tuple(sorted(finder.recipes, key=lambda r: r.id)),
        tuple(left + finder.left_out),
    )


def _choose(
    index: TreeIndex, candidates: Iterable[_Candidate], finder: _Finder
) -> tuple[list[FoundSkill], list[LeftOut]]:
    """Read each candidate's frontmatter and de-duplicate by normalised name (module docstring)."""
    from .resolver import _frontmatter as read_frontmatter

    ordered = sorted(candidates, key=lambda c: (_RULE_ORDER[c.rule], c.order))
    seen_paths: set[str] = set()
    kept: dict[str, FoundSkill] = {}
    left: list[LeftOut] = []
    for cand in ordered:
        if cand.path in seen_paths:
            continue
        seen_paths.add(cand.path)
        shown = finder._rel(cand.path)
        skill_md = index.skill_file(cand.path) or _join(cand.path, SKILL_FILE)
        data = read_frontmatter(str(index.root / skill_md))
        if data is None:
            left.append(LeftOut(shown, _frontmatter_problem(index.root / skill_md)))
            continue
        if not data:
            left.append(LeftOut(shown, "SKILL.md has no frontmatter (kiro-cli needs a name and a description)"))
            continue
        description = data.get("description")
        if not isinstance(description, str) or not description.strip():
            left.append(LeftOut(shown, "missing required field 'description'"))
            continue
        declared = data.get("name")
        declared_name = str(declared) if isinstance(declared, str | int | float) and str(declared).strip() else None
        folder_name = posixpath.basename(cand.path) if cand.path else posixpath.basename(str(index.root))
        notes: list[str] = []
        if declared_name is not None and not declared_name.isprintable():
            left.append(
                LeftOut(
                    shown,
                    f"name {declared_name[:80]!r} holds control characters; names are lowercase letters, digits "
                    "and hyphens",
                )
            )
            continue
        if declared_name is None:
            name = normalise_name(folder_name)
            notes.append(f"no name in SKILL.md; named after its folder {folder_name!r}")
        else:
            name = normalise_name(declared_name)
            if name != declared_name:
                notes.append(f"name {declared_name!r} installed as {name!r} (the Agent Skills name rule)")
            elif cand.path and name != folder_name:
                notes.append(f"name {name!r} differs from its folder {folder_name!r}; installed as {name!r}")
        if not name:
            left.append(LeftOut(shown, f"name {str(declared_name or folder_name)[:80]!r} has no letters or digits"))
            continue
        if len(description) > MAX_DESCRIPTION_LENGTH:
            notes.append(
                f"description is {len(description)} characters, over the {MAX_DESCRIPTION_LENGTH} of the Agent "
                "Skills spec; installed unchanged, as Claude Code does"
            )
        if name in kept:
            first = finder._rel(kept[name].path) or "."
            left.append(LeftOut(shown, f"duplicate of {first} (the same name {name!r})", name))
            continue
        kept[name] = FoundSkill(
            name=name,
            path=cand.path,
            description=description.strip(),
            rule=cand.rule,
            declared_name=declared_name,
            notes=tuple(notes),
        )
    return list(kept.values()), left


def _frontmatter_problem(skill_md: Path) -> str:
    """Why a ``SKILL.md``'s frontmatter cannot be read, in the words of :mod:`kiroclaw.skills`."""
    from .errors import ValidationError
    from .skills import read_manifest_text, split_frontmatter

    try:
        split_frontmatter(read_manifest_text(skill_md, what=SKILL_FILE))
    except ValidationError as exc:
        return exc.user_message
    return "SKILL.md frontmatter cannot be read"
