"""Layout detection: is a staged tree a single skill or a plugin package? One function for every source.

* single skill: ``SKILL.md`` at the root;
* plugin package: ``skills/<name>/SKILL.md`` and/or ``recipes/**.md`` at the root (other top-level files,
  a README or a LICENSE, are allowed and kept);
* a tree whose root holds exactly one folder (``name/SKILL.md`` archives, GitHub tarballs) is looked at
  one level down.

Anything else is rejected with a message that says what was found. In a plugin package one invalid skill
or recipe does not block the valid ones: it is listed in ``skipped`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ValidationError
from .skills import SKILL_FILE, RecipeManifest, SkillManifest, load_recipe, load_skill

SKILLS_DIR = "skills"
RECIPES_DIR = "recipes"


@dataclass(frozen=True)
class DetectedLayout:
    """What :func:`detect_layout` found.

    :ivar kind: ``skill`` or ``plugin``.
    :ivar root: the folder that is the add-on (``staged`` itself or its single sub-folder).
    :ivar skills: valid skills, sorted by name (one for a single skill).
    :ivar recipes: valid recipes, sorted by id.
    :ivar skipped: invalid skills/recipes left out, ``"skills/<dir>: reason"`` lines.
    :ivar warnings: non-blocking problems of the kept skills/recipes.
    """

    kind: Literal["skill", "plugin"]
    root: Path
    skills: tuple[SkillManifest, ...]
    recipes: tuple[RecipeManifest, ...]
    skipped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _effective_root(staged: Path) -> Path:
    if (staged / SKILL_FILE).exists() or (staged / SKILLS_DIR).exists() or (staged / RECIPES_DIR).exists():
        return staged
    entries = [p for p in staged.iterdir() if p.name not in {".git", "__MACOSX", ".DS_Store"}]
    if len(entries) == 1 and _is_real_dir(entries[0]):
        return entries[0]
    return staged


def _describe(root: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    if not names:
        return "the add-on is empty"
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return f"found {shown}"


def detect_layout(staged: Path) -> DetectedLayout:
    """Classify and validate a staged tree.

    :param staged: the staged folder (already free of links, devices and escapes).
    :raises ValidationError: neither layout; an invalid single skill; a package with no valid skill or
        recipe (``problems`` lists each one's reason).
    """
    root = _effective_root(staged)
    if (root / SKILL_FILE).is_file():
        skill = load_skill(root, check_folder=False)
        return DetectedLayout("skill", root, (skill,), (), (), skill.warnings)

    skills_dir = root / SKILLS_DIR
    recipes_dir = root / RECIPES_DIR
    has_skills = _is_real_dir(skills_dir)
    has_recipes = _is_real_dir(recipes_dir)
    if not has_skills and not has_recipes:
        raise ValidationError(
            f"not a skill or plugin package: expected SKILL.md, skills/<name>/SKILL.md or recipes/*.md "
            f"at the top; {_describe(root)}"
        )

    skills: list[SkillManifest] = []
    recipes: list[RecipeManifest] = []
    skipped: list[str] = []
    warnings: list[str] = []
    if has_skills:
        for child in sorted(skills_dir.iterdir()):
            if not _is_real_dir(child) or child.name.startswith("."):
                continue
            label = f"skills/{child.name}"
            if not (child / SKILL_FILE).exists():
                skipped.append(f"{label}: no {SKILL_FILE}")
                continue
            try:
                skill = load_skill(child, label=label)
            except ValidationError as exc:
                skipped.append(exc.problems[0] if exc.problems else f"{label}: {exc.user_message}")
                continue
            skills.append(skill)
            warnings.extend(skill.warnings)
    if has_recipes:
        for path in sorted(recipes_dir.rglob("*.md")):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                recipe = load_recipe(path, recipes_dir)
            except ValidationError as exc:
                skipped.append(f"recipes/{path.relative_to(recipes_dir).as_posix()}: {exc.user_message}")
                continue
            recipes.append(recipe)
            warnings.extend(recipe.warnings)

    if not skills and not recipes:
        detail = "; ".join(skipped[:3]) if skipped else "skills/ and recipes/ are empty"
        raise ValidationError(f"the plugin package has no valid skill or recipe: {detail}", problems=skipped)
    return DetectedLayout(
        "plugin",
        root,
        tuple(sorted(skills, key=lambda s: s.name)),
        tuple(sorted(recipes, key=lambda r: r.id)),
        tuple(skipped),
        tuple(warnings),
    )


def addon_fingerprint(folder: Path) -> str:
    """The fingerprint an install of ``folder`` would record: the content fingerprint
    (:func:`kiroclaw.fingerprint.tree_fingerprint`) of the add-on root layout detection picks in it
    (``folder`` itself, or its single sub-folder when the top holds no add-on). For sources that compare
    a folder with what is installed (``latest``) without deciding the layout themselves.
    """
    from .fingerprint import tree_fingerprint

    return tree_fingerprint(_effective_root(folder))
