"""Place what discovery found, and nothing else: build the add-on folder from a fetched tree.

:func:`assemble` takes the :class:`~kiroclaw.discovery.Discovery` of a fetched tree and builds a new
folder in staging holding only the chosen skill folders (as ``skills/<name>/`` of a package, or the
folder itself for a single skill) and recipe files (``recipes/<id>.md``). The rest of the fetched tree
is never written to the user's folder, never counted against the caps, fingerprinted or scanned.

Links (recorded by the source, or found on disk in staging, never followed on the file system):

* inside a placed skill folder, a link whose target resolves inside the fetched tree
  (:meth:`~kiroclaw.discovery.TreeIndex.resolve_link`) is materialised as a copy of its target (a file,
  or a folder's regular files);
* one that is absolute, dangling, a loop or points outside the fetched tree is left out, reported as
  one line (``skills/x/CLAUDE.md: link is absolute (/etc/passwd); left out``);
* links outside the placed folders are ignored; no link is ever written.

A skill folder holding two paths equal after case folding and Unicode normalisation (``README.md`` and
``readme.md``) is left out whole: it cannot be placed faithfully on every file system.
"""

from __future__ import annotations

import bisect
import os
import shutil
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .discovery import Discovery, FoundRecipe, FoundSkill, LeftOut
from .errors import SpecError, ValidationError
from .skills import SKILL_FILE
from .treeindex import TreeIndex, _join

if TYPE_CHECKING:
    from .layout import DetectedLayout

#: Most files one link may materialise (a link to a large folder), across all links of one install.
MAX_MATERIALISED_FILES = 20_000


@dataclass(frozen=True)
class Assembled:
    """The built add-on folder.

    :ivar root: the folder to install (inside staging).
    :ivar kind: ``skill`` (``root`` is the skill folder) or ``plugin`` (``root`` holds ``skills/`` and
        ``recipes/``).
    :ivar skills: the skills placed, sorted by name.
    :ivar recipes: the recipes placed, sorted by id.
    :ivar left_out: every skill, recipe or link not placed, with its reason.
    :ivar notes: non-blocking remarks about placed skills (``name: note`` lines).
    """

    root: Path
    kind: str
    skills: tuple[FoundSkill, ...]
    recipes: tuple[FoundRecipe, ...]
    left_out: tuple[LeftOut, ...]
    notes: tuple[str, ...] = ()


def _fold(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def _case_clash(paths: Collection[str]) -> tuple[str, str] | None:
    seen: dict[str, str] = {}
    for path in sorted(paths):
        key = _fold(path)
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            folded = _fold(prefix)
            other = seen.setdefault(folded, prefix)
            if other != prefix:
                return other, prefix
        seen.setdefault(key, path)
    return None


def _nested(path: str, ordered: list[str], members: Collection[str]) -> bool:
    """Whether a member of ``members`` (``ordered``: the same, sorted) lies strictly inside the folder
    ``path`` or strictly around it: its ancestors are looked up, its descendants found by bisection (all
    names under ``path/`` sort together), so n folders take O(n log n), not n²."""
    parts = path.split("/")
    if any("/".join(parts[:depth]) in members for depth in range(1, len(parts))):
        return True
    at = bisect.bisect_left(ordered, path + "/")
    return at < len(ordered) and ordered[at].startswith(path + "/")


def _describe_top(index: TreeIndex) -> str:
    names = sorted(n + ("/" if n in index.dirs else "") for n in index.children.get("", []))
    if not names:
        return "the folder is empty"
    return "found " + ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def select(found: Discovery, names: Collection[str] | None) -> Discovery:
    """Keep only the skills called ``names`` (``--skill``); recipes stay when no skill is named.

    :raises SpecError: a named skill is not offered (the message lists what is).
    """
    if not names:
        return found
    wanted = {n.strip() for n in names if n.strip()}
    by_name = {s.name: s for s in found.skills}
    missing = sorted(n for n in wanted if n not in by_name)
    if missing:
        offered = ", ".join(sorted(by_name)[:20]) + (" …" if len(by_name) > 20 else "")
        raise SpecError(f"no skill named {', '.join(missing)} here; it offers: {offered or 'no skills'}")
    chosen = tuple(s for s in found.skills if s.name in wanted)
    not_chosen = tuple(LeftOut(s.path, "not chosen (--skill)", s.name) for s in found.skills if s.name not in wanted)
    return Discovery(found.kind, chosen, (), found.left_out + not_chosen)


class _Builder:
    def __init__(self, index: TreeIndex) -> None:
        self.index = index
        self.left_out: list[LeftOut] = []
        self.materialised = 0

    def members(self, folder: str) -> list[str]:
        """Files and links of a skill folder (links listed, not followed), relative to the folder."""
        start = len(folder) + 1 if folder else 0
        return sorted(p[start:] for p in self.index.walk(folder))

    def copy_file(self, src_rel: str, dst: Path) -> None:
        self.materialised += 1
        if self.materialised > MAX_MATERIALISED_FILES:
            raise ValidationError(f"links in the add-on lead to more than {MAX_MATERIALISED_FILES} files")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(dst):
            os.unlink(dst)
        # O_NOFOLLOW: the source is a regular file of staging by the index; never follow a swapped link
        fd = os.open(self.index.root / src_rel, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fin, open(dst, "xb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 16)
        os.chmod(dst, 0o644)

    def copy_folder(self, src_rel: str, dst: Path, shown: str, visiting: frozenset[str]) -> None:
        """Copy the regular files of folder ``src_rel`` to ``dst``, materialising links inside it."""
        dst.mkdir(parents=True, exist_ok=True)
        for rel in self.members(src_rel):
            full = _join(src_rel, rel)
            if full in self.index.files:
                self.copy_file(full, dst / rel)
            else:
                self.link(full, dst / rel, _join(shown, rel), visiting)

    def link(self, link_rel: str, dst: Path, shown: str, visiting: frozenset[str] = frozenset()) -> None:
        target, why = self.index.resolve_link(link_rel)
        if target is None:
            self.left_out.append(LeftOut(shown, f"link {why}; left out"))
            if os.path.lexists(dst) and dst.is_symlink():
                os.unlink(dst)
            return
        if target in self.index.files:
            self.copy_file(target, dst)
            return
        if target in visiting or any(target.startswith(v + "/") or v.startswith(target + "/") for v in visiting):
            self.left_out.append(LeftOut(shown, "link is a loop (it leads into a folder that holds it); left out"))
            if os.path.lexists(dst) and dst.is_symlink():
                os.unlink(dst)
            return
        if os.path.lexists(dst) and dst.is_symlink():
            os.unlink(dst)
        self.copy_folder(target, dst, shown, visiting | {target})

    def place_skill(self, skill: FoundSkill, dst: Path, movable: bool) -> None:
        members = self.members(skill.path)
        links = [m for m in members if _join(skill.path, m) not in self.index.files]
        if movable:
            os.rename(self.index.root / skill.path if skill.path else self.index.root, dst)
            for rel in links:
                self.link(_join(skill.path, rel), dst / rel, _join(skill.path, rel), frozenset({skill.path}))
        else:
            self.copy_folder(skill.path, dst, skill.path, frozenset({skill.path}))
        if skill.rewrite_name:
            set_skill_name(dst / SKILL_FILE, skill.name)


def set_skill_name(skill_md: Path, name: str) -> None:
    """Set the frontmatter ``name`` of an installed ``SKILL.md`` to ``name`` (kiro-cli loads a skill only
    when its name equals its folder): the top-level ``name:`` line (and any indented lines under it) is
    replaced, or one is added after the opening ``---``. The rest of the file is kept byte for byte."""
    text = skill_md.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    start = 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        return
    for index in range(start + 1, end):
        if lines[index].startswith("name:"):
            stop = index + 1
            while stop < end and lines[stop][:1] in (" ", "\t"):
                stop += 1
            lines[index:stop] = [f"name: {name}{newline}"]
            break
    else:
        lines.insert(1, f"name: {name}{newline}")
    skill_md.write_text("".join(lines), encoding="utf-8")


def assemble(index: TreeIndex, found: Discovery, dest: Path) -> Assembled:
    """Build the add-on folder ``dest`` (must not exist) from ``found`` (see the module docstring).

    Moves chosen folders out of the fetched tree when nothing else needs them (the fetched tree is
    staging, discarded afterwards), else copies their regular files.

    :raises ValidationError: nothing is left to install (every skill was left out), or links lead to
        more than :data:`MAX_MATERIALISED_FILES` files.
    """
    builder = _Builder(index)
    skills: list[FoundSkill] = []
    for skill in found.skills:
        clash = _case_clash(builder.members(skill.path))
        if clash is not None:
            builder.left_out.append(
                LeftOut(
                    skill.path or ".",
                    f"{clash[0]!r} and {clash[1]!r} differ only by letter case or Unicode form; left out",
                    skill.name,
                )
            )
            continue
        skills.append(skill)
    if not skills and not found.recipes:
        reasons = [item.line() for item in (*found.left_out, *builder.left_out)]
        if reasons:
            raise ValidationError(f"no skill or recipe to install: {'; '.join(reasons[:3])}", problems=reasons)
        raise ValidationError(
            f"not a skill or plugin package: no SKILL.md, skills/<name>/SKILL.md, recipes/*.md or Claude Code "
            f"plugin found; {_describe_top(index)}"
        )

    # A folder may be moved only if no other placed folder or link target lies inside or around it.
    placed = [s.path for s in skills]
    needed: set[str] = set()
    for skill in skills:
        for rel in builder.members(skill.path):
            full = f"{skill.path}/{rel}" if skill.path else rel
            if full in index.links:
                target, _why = index.resolve_link(full)
                if target is not None:
                    needed.add(target)

    placed_set, placed_sorted, needed_sorted = set(placed), sorted(placed), sorted(needed)

    def movable(path: str) -> bool:
        if not path:
            return len(placed) == 1 and not found.recipes and not needed
        return (
            not _nested(path, placed_sorted, placed_set)
            and path not in needed
            and not _nested(path, needed_sorted, needed)
        )

    moves = {s.path: movable(s.path) for s in skills}
    if found.kind == "skill" and len(skills) == 1:
        builder.place_skill(skills[0], dest, moves[skills[0].path])
        kind = "skill"
    else:
        kind = "plugin"
        dest.mkdir()
        (dest / "skills").mkdir()
        # copies first: a later move must not take a folder a copy still reads
        for recipe in found.recipes:
            builder.copy_file(recipe.path, dest / "recipes" / f"{recipe.id}.md")
        for skill in sorted(skills, key=lambda s: moves[s.path]):
            builder.place_skill(skill, dest / "skills" / skill.name, moves[skill.path])
    notes = tuple(f"{s.name}: {note}" for s in skills for note in s.notes)
    return Assembled(
        root=dest,
        kind=kind,
        skills=tuple(sorted(skills, key=lambda s: s.name)),
        recipes=found.recipes if kind == "plugin" else (),
        left_out=tuple(found.left_out) + tuple(builder.left_out),
        notes=notes,
    )


def layout_of(built: Assembled) -> DetectedLayout:
    """The core's view of a built add-on: skill manifests of the placed skills, recipe manifests of the
    placed recipes (a recipe that does not parse is removed and left out), left-out lines and notes.

    :raises ValidationError: nothing valid is left (every recipe failed and there is no skill).
    """
    from .layout import DetectedLayout
    from .skills import RecipeManifest, SkillManifest, load_recipe, read_manifest_text, split_frontmatter

    skipped = [item.line() for item in built.left_out]
    warnings = list(built.notes)
    skills: list[SkillManifest] = []
    for skill in built.skills:
        folder = built.root if built.kind == "skill" else built.root / "skills" / skill.name
        metadata: dict[str, str] = {}
        if built.kind == "skill":  # a single skill's version comes from metadata.version
            try:
                data, _body = split_frontmatter(read_manifest_text(folder / SKILL_FILE, what=SKILL_FILE))
            except ValidationError:
                data = {}
            raw = data.get("metadata")
            if isinstance(raw, dict):
                metadata = {str(k): str(v) for k, v in raw.items()}
        skills.append(SkillManifest(name=skill.name, description=skill.description, path=folder, metadata=metadata))
    recipes: list[RecipeManifest] = []
    recipes_dir = built.root / "recipes"
    for recipe in built.recipes:
        path = recipes_dir / f"{recipe.id}.md"
        try:
            manifest = load_recipe(path, recipes_dir)
        except ValidationError as exc:
            path.unlink(missing_ok=True)
            skipped.append(f"{recipe.path}: {exc.user_message}")
            continue
        recipes.append(manifest)
        warnings.extend(manifest.warnings)
    if not skills and not recipes:
        raise ValidationError(f"no skill or recipe to install: {'; '.join(skipped[:3])}", problems=skipped)
    return DetectedLayout(
        "skill" if built.kind == "skill" else "plugin",
        built.root,
        tuple(skills),
        tuple(recipes),
        tuple(skipped),
        tuple(warnings),
    )
