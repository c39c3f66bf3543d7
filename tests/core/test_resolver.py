"""The resolver: layers, provenance, disabled add-ons, the equal-name rule, and shadow reporting."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kiroclaw.config import Settings
from kiroclaw.host import Host
from kiroclaw.workspaces import Scope
from tests.conftest import write_package, write_recipe, write_skill


async def test_layer_precedence_user_over_plugins_over_global_over_bundled(workspace: Path, tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    write_skill(bundled / "skills", "shared-name", "bundled copy")
    write_skill(bundled / "skills", "only-bundled")
    settings = Settings(_env_file=None, workspace_base_path=workspace, bundled_skills_path=bundled)
    host = Host(settings)
    user, glob = Scope.user(42), Scope.global_()
    await host.addons.install(str(write_package(tmp_path / "gpack", skills=["shared-name", "g-only"])), glob)
    await host.addons.install(str(write_skill(tmp_path / "g", "shared-name", "global copy")), glob)
    await host.addons.install(str(write_package(tmp_path / "upack", skills=["shared-name"])), user)
    await host.addons.install(str(write_skill(tmp_path / "u", "shared-name", "user copy")), user)

    effective = host.effective_set(42)
    visible = {s.name: (s.qualified_name, s.layer, s.addon) for s in effective.skills}
    assert visible == {
        "shared-name": ("shared-name", "user", "shared-name"),
        "g-only": ("gpack/g-only", "global-plugins", "gpack"),
        "only-bundled": ("only-bundled", "bundled", None),
    }
    assert [(s.qualified_name, s.layer, s.shadowed_by, s.shadowed_by_layer) for s in effective.shadowed_skills] == [
        ("upack/shared-name", "user-plugins", "shared-name", "user"),
        ("shared-name", "global", "shared-name", "user"),
        ("gpack/shared-name", "global-plugins", "shared-name", "user"),
        ("shared-name", "bundled", "shared-name", "user"),
    ]
    # another user sees the global copy, shadowing the global package's and the bundled one
    other = host.effective_set(43)
    assert {s.name: s.layer for s in other.skills} == {"shared-name": "global", "g-only": "global-plugins",
                                                       "only-bundled": "bundled"}  # fmt: skip
    assert [s.layer for s in other.shadowed_skills] == ["global-plugins", "bundled"]


async def test_equal_names_in_one_layer_smallest_qualified_name_wins(host, tmp_path: Path) -> None:
    user = Scope.user(42)
    # install in the "wrong" order: the rule must not depend on install order or folder order
    await host.addons.install(str(write_package(tmp_path / "zulu", skills=["lint"], recipes=["fix"])), user)
    await host.addons.install(str(write_package(tmp_path / "alpha", skills=["lint"], recipes=["fix"])), user)
    effective = host.effective_set(42)
    assert [s.qualified_name for s in effective.skills] == ["alpha/lint"]
    assert [(s.qualified_name, s.shadowed_by) for s in effective.shadowed_skills] == [("zulu/lint", "alpha/lint")]
    assert [r.qualified_name for r in effective.recipes] == ["alpha/fix"]
    assert [(r.qualified_name, r.shadowed_by) for r in effective.shadowed_recipes] == [("zulu/fix", "alpha/fix")]


async def test_disabled_add_ons_contribute_nothing_and_shadow_nothing(host, tmp_path: Path) -> None:
    user, glob = Scope.user(42), Scope.global_()
    await host.addons.install(str(write_skill(tmp_path / "g", "formatter", "global")), glob)
    await host.addons.install(str(write_skill(tmp_path / "u", "formatter", "mine")), user)
    assert host.effective_set(42).skills[0].layer == "user"
    await host.addons.disable("formatter", user)
    effective = host.effective_set(42)
    assert [(s.name, s.layer) for s in effective.skills] == [("formatter", "global")]
    assert effective.shadowed_skills == []
    await host.addons.disable("formatter", glob)
    assert host.effective_set(42).skills == []


def test_unloadable_skills_and_hidden_folders_are_skipped(host) -> None:
    skills = host.paths(Scope.user(42)).skills_dir
    write_skill(skills, "good-one")
    write_skill(skills, "real-name", folder="other-folder")  # kiro-cli would not load it
    write_skill(skills, "hidden", folder=".hidden")
    (skills / "no-manifest").mkdir()
    bad = skills / "bad-yaml"
    bad.mkdir()
    (bad / "SKILL.md").write_text("---\nname: [bad\n---\n")
    assert [s.name for s in host.effective_set(42).skills] == ["good-one"]


async def test_a_hostile_skipped_skill_in_a_package_cannot_crash_resolution(host, tmp_path: Path) -> None:
    """A package installs with an invalid skill left out (but on disk); deeply nested YAML in it must be
    refused, not crash the process (libyaml's C loader segfaults on it), wherever it is parsed."""
    import subprocess
    import sys

    package = write_package(tmp_path / "pack", skills=["good-one"])
    bomb = package / "skills" / "nested"
    bomb.mkdir()
    depth = 200_000
    (bomb / "SKILL.md").write_text("---\nname: " + "[" * depth + "]" * depth + "\ndescription: x\n---\n")
    result = await host.addons.install(str(package), Scope.user(42))
    assert result.record.skills == ["good-one"] and any(line.startswith("skills/nested") for line in result.skipped)
    code = (
        "from kiroclaw.config import Settings\nfrom kiroclaw.host import Host\n"
        f"h = Host(Settings(_env_file=None, workspace_base_path={str(host.settings.workspace_base_path)!r}))\n"
        "print(','.join(s.name for s in h.effective_set(42).skills))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-500:]
    assert run.stdout.strip() == "good-one"


def test_hand_placed_entries_have_no_add_on_and_recipes_keep_nested_ids(host) -> None:
    kiro = host.paths(Scope.user(42)).kiro_home
    write_skill(kiro / "skills", "by-hand")
    write_recipe(kiro / "recipes", "ralph/init", "Ralph init", arguments={"feature": {"default": "x"}})
    pkg = kiro / "plugins" / "org@repo"
    write_skill(pkg / "skills", "tool")
    effective = host.effective_set(42)
    assert [(s.qualified_name, s.addon) for s in effective.skills] == [("by-hand", None), ("org/repo/tool", None)]
    (recipe,) = effective.recipes
    assert (recipe.name, recipe.qualified_name, recipe.title, recipe.layer) == (
        "ralph/init",
        "ralph/init",
        "Ralph init",
        "user",
    )


async def test_resolving_20_add_ons_with_200_skills_is_fast(host, tmp_path: Path) -> None:
    user = Scope.user(42)
    plugins = host.paths(user).plugins_dir
    for p in range(20):
        write_package(plugins / f"org@pkg{p}", skills=[f"s{p}-{i}" for i in range(10)])
    host.effective_set(42)  # warm the page cache and imports
    start = time.perf_counter()
    effective = host.effective_set(42)
    elapsed = time.perf_counter() - start
    assert len(effective.skills) == 200
    assert elapsed < 0.5, f"resolving took {elapsed:.3f} s"  # typically a few ms; see bench/


FRONTMATTERS = [
    "name: code-review\ndescription: Review a diff for bugs.\n",
    "name: code-review\ndescription: Review: a diff\n",
    "name: code-review\ndescription: >\n  folded\n  text\n",
    "name: 'quoted'\ndescription: x\n",
    "name: yes\ndescription: x\n",
    "name: 123\ndescription: x\n",
    "name: a\ndescription: with # comment\n",
    "name: a\nmetadata:\n  version: '1.0'\n  author: me\ndescription: after nested\n",
    "name: a\ndescription: x\nallowed-tools:\n  - Read\n  - Bash\n",
    "name: a\nname: b\ndescription: x\n",
    "name: a\ndescription: ends with colon:\n",
    "- a list\n",
    'name: a\ndescription: "escaped \\u00e9"\n',
    "# comment\nname: with-comment\ndescription: Plain (parens), commas, slashes/ok.\n",
]


@pytest.mark.parametrize("text", FRONTMATTERS)
def test_fast_frontmatter_agrees_with_yaml_or_defers(text: str) -> None:
    import yaml

    from kiroclaw.resolver import _simple_frontmatter

    fast = _simple_frontmatter(text.splitlines(keepends=True))
    if fast is None:
        return  # YAML decides
    try:
        full = yaml.safe_load(text)
    except yaml.YAMLError:
        pytest.fail("the fast path accepted a frontmatter YAML rejects")
    assert {k: full[k] for k in fast} == fast
