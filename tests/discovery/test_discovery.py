"""The discovery rules on small trees (pure: a folder in, skills/recipes/left-out out)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiroclaw.discovery import MAX_WALK_DEPTH, TreeIndex, discover, normalise_name
from tests.conftest import run_kiroclaw, write_skill


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("pdf", "pdf"),
        ("Ahrefs Automation", "ahrefs-automation"),
        ("-pdf_tools-", "pdf-tools"),
        ("Café Crème", "cafe-creme"),
        ("../../etc/passwd", "etc-passwd"),
        ("a" * 70, "a" * 64),
        ("___", ""),
    ],
)
def test_names_follow_the_agent_skills_rule(raw: str, normal: str) -> None:
    assert normalise_name(raw) == normal


def test_root_skill_alone_is_one_skill_and_with_others_is_left_out(tmp_path: Path) -> None:
    root = tmp_path / "one"
    root.mkdir()
    (root / "SKILL.md").write_text("---\nname: humanizer\ndescription: Makes text human.\n---\n")
    found = discover(root)
    assert (found.kind, [s.name for s in found.skills]) == ("skill", ["humanizer"])

    write_skill(root / "skills", "inner")
    found = discover(root)
    assert (found.kind, [s.name for s in found.skills]) == ("plugin", ["inner"])
    assert found.left_out[0].path == "SKILL.md" and "describes a collection" in found.left_out[0].reason


def test_walk_depth_and_skipped_folders(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    deep = root.joinpath(*[f"d{i}" for i in range(MAX_WALK_DEPTH - 1)])
    write_skill(deep, "deep-enough")  # folder depth 6
    write_skill(deep / "d6", "too-deep")  # folder depth 7
    for skipped in ("node_modules", "dist", "build", "__pycache__", "fixtures", "templates", "template"):
        write_skill(root / "pkg" / skipped, f"in-{skipped.strip('_')}")
    write_skill(root / "pkg" / "src", "kept")
    found = discover(root)
    assert [s.name for s in found.skills] == ["deep-enough", "kept"]
    # a sub-path pointing into a skipped folder is honoured
    inside = discover(root, subpath="pkg/templates")
    assert [s.name for s in inside.skills] == ["in-templates"]


def test_dedup_is_by_rule_order_then_path(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_skill(root / "zzz", "same", "walk copy")
    write_skill(root / ".claude" / "skills", "same", "agent copy")
    write_skill(root / "skills", "same", "skills copy")
    write_skill(root / "aaa", "Same", "walk copy, capitalised")
    found = discover(root)
    assert [(s.path, s.description) for s in found.skills] == [("skills/same", "skills copy")]
    assert [item.path for item in found.left_out] == [".claude/skills/same", "aaa/Same", "zzz/same"]
    assert all(item.reason.startswith("duplicate of skills/same") for item in found.left_out)


def test_links_resolve_inside_the_tree_only(tmp_path: Path) -> None:
    root = tmp_path / "t"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "file.md").write_text("x")
    links = {
        "l1": "a/b/file.md",
        "a/l2": "b",  # a folder
        "via": "a/l2/file.md",  # through a link to a folder
        "abs": "/etc/passwd",
        "up": "../outside",
        "gone": "a/missing",
        "x": "y",
        "y": "x",
    }
    index = TreeIndex.build(root, links)
    assert index.resolve_link("l1") == ("a/b/file.md", "")
    assert index.resolve_link("a/l2") == ("a/b", "")
    assert index.resolve_link("via") == ("a/b/file.md", "")
    assert index.resolve_link("abs") == (None, "is absolute (/etc/passwd)")
    assert index.resolve_link("up") == (None, "points outside the fetched tree (../outside)")
    assert index.resolve_link("gone") == (None, "is dangling (a/missing)")
    assert index.resolve_link("x") == (None, "is a loop")


def test_cli_list_json_shows_skills_recipes_and_left_out(cli_env, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    write_skill(pkg / "skills", "alpha")
    write_skill(pkg / "skills", "quiet", frontmatter="name: quiet\n")
    (pkg / "recipes").mkdir()
    (pkg / "recipes" / "go.md").write_text("---\nname: Go\ndescription: go\n---\nGo.\n")
    proc = run_kiroclaw("addon", "install", str(pkg), "--user", "42", "--list", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert [s["name"] for s in result["skills"]] == ["alpha"]
    assert [r["id"] for r in result["recipes"]] == ["go"]
    assert result["left_out"] == [
        {"path": "skills/quiet", "name": None, "reason": "missing required field 'description'"}
    ]
    listed = json.loads(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env).stdout)
    assert listed["addons"] == []  # --list installs nothing

    text = run_kiroclaw("addon", "install", str(pkg), "--user", "42", "--list", env=cli_env).stdout
    assert "skill  alpha  (skills/alpha)" in text and "left out: skills/quiet: missing required field" in text
    chosen = run_kiroclaw("addon", "install", str(pkg), "--user", "42", "--skill", "nope", env=cli_env)
    assert chosen.returncode == 1 and "no skill named nope here; it offers: alpha" in chosen.stderr
