"""SKILL.md and recipe parsing (Agent Skills spec, Kodelet recipes) and layout detection."""

from __future__ import annotations

from pathlib import Path

import pytest
import skills_ref.validator as reference

from kiroclaw import skills
from kiroclaw.errors import ValidationError
from kiroclaw.layout import detect_layout
from kiroclaw.skills import load_recipe, load_skill, skill_name_problems
from tests.conftest import DEMO_PACKAGE, write_package, write_recipe, write_skill


def test_limits_equal_the_skills_ref_reference_library() -> None:
    assert skills.MAX_NAME_LENGTH == reference.MAX_SKILL_NAME_LENGTH
    assert skills.MAX_DESCRIPTION_LENGTH == reference.MAX_DESCRIPTION_LENGTH
    assert skills.MAX_COMPATIBILITY_LENGTH == reference.MAX_COMPATIBILITY_LENGTH
    assert reference.ALLOWED_FIELDS <= skills.KNOWN_FIELDS


def test_valid_skill_with_every_optional_field(tmp_path: Path) -> None:
    folder = write_skill(
        tmp_path,
        "pdf-tools",
        "Extract text and tables from PDF files.",
        extra={
            "license": "Apache-2.0",
            "compatibility": "Needs poppler-utils.",
            "metadata": {"version": "1.4.2", "author": "team"},
            "allowed-tools": "Bash(pdftotext:*) Read",
        },
    )
    skill = load_skill(folder)
    assert (skill.name, skill.version, skill.license) == ("pdf-tools", "1.4.2", "Apache-2.0")
    assert skill.allowed_tools == "Bash(pdftotext:*) Read"
    assert skill.warnings == ()


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("pdf-tools2", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("-lead", False),
        ("trail-", False),
        ("dou--ble", False),
        ("Upper", False),
        ("under_score", False),
        ("sp ace", False),
        ("../x", False),
        ("", False),
        ("ünï", False),
    ],
)
def test_skill_name_rules(name: str, ok: bool) -> None:
    assert (skill_name_problems(name) == []) is ok


@pytest.mark.parametrize(
    ("frontmatter", "message"),
    [
        ("description: no name\n", "missing required field 'name'"),
        ("name: x-skill\n", "missing required field 'description'"),
        ("name: x-skill\ndescription: ''\n", "'description' must be a non-empty string"),
        (f"name: x-skill\ndescription: {'d' * 1025}\n", "description is longer than 1024"),
        (f"name: x-skill\ndescription: ok\ncompatibility: {'c' * 501}\n", "compatibility is longer than 500"),
        ("name: Bad_Name\ndescription: ok\n", "must be lowercase letters"),
        ("name: x-skill\ndescription: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
    ],
)
def test_each_blocking_problem(tmp_path: Path, frontmatter: str, message: str) -> None:
    folder = write_skill(tmp_path, "x-skill", frontmatter=frontmatter)
    with pytest.raises(ValidationError, match=message):
        load_skill(folder)


def test_missing_and_unterminated_frontmatter(tmp_path: Path) -> None:
    folder = tmp_path / "x-skill"
    folder.mkdir()
    with pytest.raises(ValidationError, match=r"no SKILL\.md found"):
        load_skill(folder)
    (folder / "SKILL.md").write_text("# no frontmatter\n")
    with pytest.raises(ValidationError, match="must start with YAML frontmatter"):
        load_skill(folder)
    (folder / "SKILL.md").write_text("---\nname: x-skill\n")
    with pytest.raises(ValidationError, match="not closed"):
        load_skill(folder)


def test_name_must_equal_its_folder(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "real-name", folder="folder-name")
    with pytest.raises(ValidationError, match="does not match its folder 'folder-name'"):
        load_skill(folder)
    assert load_skill(folder, check_folder=False).name == "real-name"


def test_warnings_for_unknown_fields_and_long_body(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "chatty", extra={"tags": ["x"], "homepage": "h"}, body="line\n" * 600)
    skill = load_skill(folder)
    assert any("unknown frontmatter field(s) homepage, tags" in w for w in skill.warnings)
    assert any("recommends under 500" in w for w in skill.warnings)


def test_recipes_with_nested_ids_and_arguments(tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    path = write_recipe(
        recipes,
        "ralph/init",
        "Ralph init",
        arguments={"feature": {"description": "what to build", "default": "next"}, "dry_run": None},
    )
    recipe = load_recipe(path, recipes)
    assert (recipe.id, recipe.title) == ("ralph/init", "Ralph init")
    assert list(recipe.arguments) == ["feature", "dry_run"]
    assert recipe.arguments["feature"].default == "next"
    assert recipe.arguments["dry_run"].default is None
    plain = recipes / "plain.md"
    plain.write_text("Just a prompt.\n")
    assert load_recipe(plain, recipes).title == "plain"
    bad = recipes / "bad.md"
    bad.write_text("---\narguments: [a, b]\n---\nx\n")
    with pytest.raises(ValidationError, match="'arguments' must be a mapping"):
        load_recipe(bad, recipes)


def test_detect_single_skill_and_one_level_down(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "a", "weather-api", folder="checkout-dir")
    layout = detect_layout(skill)
    assert (layout.kind, [s.name for s in layout.skills]) == ("skill", ["weather-api"])
    wrapped = tmp_path / "b"
    write_skill(wrapped, "weather-api", folder="weather-api-1.2.0")  # an archive's top folder
    assert detect_layout(wrapped).root == wrapped / "weather-api-1.2.0"


def test_detect_the_demo_package() -> None:
    layout = detect_layout(DEMO_PACKAGE)
    assert layout.kind == "plugin"
    assert [s.name for s in layout.skills] == ["code-review", "commit-message", "release-notes", "sql-explain"]
    assert [r.id for r in layout.recipes] == ["ralph/init", "ralph/iterate", "review/pr"]
    assert layout.recipes[0].arguments["prd_file"].default == "PRD.md"
    assert layout.skipped == ()


def test_one_bad_skill_in_a_package_is_left_out_and_reported(tmp_path: Path) -> None:
    pkg = write_package(tmp_path / "pkg", skills=["good-a", "good-b"])
    write_skill(pkg / "skills", "wrong", folder="mismatch")
    (pkg / "skills" / "empty-dir").mkdir()
    layout = detect_layout(pkg)
    assert [s.name for s in layout.skills] == ["good-a", "good-b"]
    assert layout.skipped == (
        "skills/empty-dir: no SKILL.md",
        "skills/mismatch: name 'wrong' does not match its folder 'mismatch'",
    )


async def test_a_bad_skill_in_a_package_is_reported_by_install(host, tmp_path: Path) -> None:
    from kiroclaw.workspaces import Scope

    pkg = write_package(tmp_path / "pkg", skills=["good-a"])
    write_skill(pkg / "skills", "broken", frontmatter="name: broken\n")
    result = await host.addons.install(str(pkg), Scope.user(42))
    assert result.record.skills == ["good-a"]
    assert result.skipped == ["skills/broken: missing required field 'description'"]
    assert result.record.skipped == result.skipped


def test_neither_layout_says_what_was_found(tmp_path: Path) -> None:
    root = tmp_path / "staged"
    root.mkdir()
    with pytest.raises(ValidationError, match="the add-on is empty"):
        detect_layout(root)
    (root / "README.md").write_text("x")
    (root / "docs").mkdir()
    with pytest.raises(ValidationError, match=r"not a skill or plugin package: .*; found README.md, docs/"):
        detect_layout(root)
    (root / "skills").mkdir()
    with pytest.raises(ValidationError, match="skills/ and recipes/ are empty"):
        detect_layout(root)
