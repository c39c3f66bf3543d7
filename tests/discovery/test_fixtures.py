"""Each real repository pattern, as a small synthetic fixture (tests/fixtures/repos/<pattern>/, each README
names the public repository it models), installed through the real GitHub source from a local bare
repository (``GITHUB_BASE_URL=file://…``) with default settings, or run through discovery directly."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kiroclaw import Scope
from kiroclaw.config import Settings
from kiroclaw.discovery import discover
from kiroclaw.host import Host
from tests.acquire.conftest import GitBase

REPOS = Path(__file__).parents[1] / "fixtures" / "repos"
USER = 12


def tree(tmp_path: Path, pattern: str) -> Path:
    """A working copy of a fixture (links and generated files are added by the tests)."""
    target = tmp_path / "trees" / pattern
    shutil.copytree(REPOS / pattern, target)
    return target


def publish(git_base: GitBase, pattern: str, org: str = "org", extra=None) -> str:
    """Commit a fixture (plus ``extra(work)`` changes) as ``org/<pattern>`` behind the git base."""
    repo = git_base.repo(org, pattern)
    shutil.copytree(REPOS / pattern, repo.work, dirs_exist_ok=True)
    if extra is not None:
        extra(repo.work)
    repo.commit("fixture")
    return f"{org}/{pattern}"


@pytest.fixture
def gh_host(workspace: Path, git_base: GitBase) -> Host:
    """Default settings, but the workspace and the local git base."""
    return Host(Settings(_env_file=None, workspace_base_path=workspace, github_base_url=git_base.url))  # type: ignore[call-arg]


def installed_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != ".kiroclaw.json")


# --- patterns --------------------------------------------------------------------------------------


async def test_marketplace_with_plugin_folders(gh_host: Host, git_base: GitBase, workspace: Path) -> None:
    spec = publish(git_base, "marketplace")
    result = await gh_host.addons.install(spec, Scope.user(USER))
    record = result.record
    assert record.kind == "plugin"
    # default skills/ of each plugin, the listed skill, and (walk) the unlisted one of the listing plugin
    assert record.skills == [
        "api-design-principles",
        "async-python-patterns",
        "not-listed",
        "only-this",
        "uv-package-manager",
    ]
    assert record.recipes == ["backend-development/feature-development", "python-development/python-scaffold"]
    root = workspace / str(USER) / record.path
    # only what is used: no agents/, no README, no marketplace.json, no plugin folders as such
    assert installed_files(root) == [
        "recipes/backend-development/feature-development.md",
        "recipes/python-development/python-scaffold.md",
        "skills/api-design-principles/SKILL.md",
        "skills/async-python-patterns/SKILL.md",
        "skills/not-listed/SKILL.md",
        "skills/only-this/SKILL.md",
        "skills/uv-package-manager/SKILL.md",
    ]


async def test_plugin_json_with_commands(gh_host: Host, git_base: GitBase, workspace: Path) -> None:
    record = (await gh_host.addons.install(publish(git_base, "plugin-json"), Scope.user(USER))).record
    assert record.skills == ["command-development", "hook-development"]
    assert record.recipes == ["create-plugin"]
    recipe = workspace / str(USER) / record.path / "recipes" / "create-plugin.md"
    assert "Create the plugin $1." in recipe.read_text()


async def test_category_and_dot_category_folders(gh_host: Host, git_base: GitBase) -> None:
    spec = publish(git_base, "category-folders")
    record = (await gh_host.addons.install(spec, Scope.user(USER))).record
    assert record.skills == ["create-plan", "gh-fix-ci", "skill-installer", "tdd", "write-a-prd"]
    # a sub-path with a dot segment names one skill
    one = (await gh_host.addons.install(f"{spec}/skills/.curated/gh-fix-ci", Scope.user(USER))).record
    assert (one.kind, one.name, one.path) == ("skill", "gh-fix-ci", ".kiro/skills/gh-fix-ci")
    group = (await gh_host.addons.install(f"{spec}/skills/.system", Scope.user(13))).record
    # (a dot folder holding one skill folder is looked at one level down: that skill)
    assert (group.kind, group.name, group.skills) == ("skill", "skill-installer", ["skill-installer"])


async def test_a_sub_path_naming_a_folder_of_skill_folders(gh_host: Host, git_base: GitBase) -> None:
    spec = publish(git_base, "category-folders")
    record = (await gh_host.addons.install(f"{spec}/skills", Scope.user(USER))).record
    assert record.kind == "plugin" and len(record.skills) == 5
    plugin = publish(git_base, "marketplace", org="mkt")
    one = (await gh_host.addons.install(f"{plugin}/plugins/python-development", Scope.user(USER))).record
    assert one.skills == ["async-python-patterns", "uv-package-manager"]
    assert one.recipes == ["python-scaffold"]


async def test_top_level_skill_folders_and_a_name_with_capitals(
    gh_host: Host, git_base: GitBase, workspace: Path
) -> None:
    result = await gh_host.addons.install(publish(git_base, "top-level"), Scope.user(USER))
    assert result.record.skills == ["agents-sdk", "ahrefs-automation", "durable-objects"]
    assert (
        "ahrefs-automation: name 'Ahrefs Automation' installed as 'ahrefs-automation' (the Agent Skills name rule)"
        in (result.warnings)
    )
    skill_md = workspace / str(USER) / result.record.path / "skills" / "ahrefs-automation" / "SKILL.md"
    assert skill_md.read_text().startswith("---\nname: ahrefs-automation\ndescription: The Ahrefs Automation skill")


async def test_agent_folders(gh_host: Host, git_base: GitBase) -> None:
    def mirror(work: Path) -> None:
        (work / ".codex").mkdir()
        os.symlink("../skills", work / ".codex" / "skills")

    result = await gh_host.addons.install(publish(git_base, "agent-folders", extra=mirror), Scope.user(USER))
    assert result.record.skills == ["github", "react-native-best-practices", "upgrading-react-native"]
    assert result.skipped == []  # the mirror link is outside every installed folder: ignored


def _links(work: Path) -> None:
    os.symlink("AGENTS.md", work / "CLAUDE.md")  # root CLAUDE.md → AGENTS.md, outside any skill
    inside = work / "skills" / "supabase-postgres-best-practices"
    os.symlink("AGENTS.md", inside / "CLAUDE.md")  # a link inside a skill
    react = work / "skills" / "react-best-practices"
    os.symlink("../../shared/rules", react / "rules")  # a folder elsewhere in the tree
    os.symlink("../../../outside.md", react / "escape.md")  # escapes the fetched tree
    os.symlink("/etc/passwd", react / "absolute.md")
    os.symlink("missing.md", react / "dangling.md")
    os.symlink("loop-b", react / "loop-a")
    os.symlink("loop-a", react / "loop-b")


async def test_links_inside_skills_become_copies_and_escaping_ones_are_left_out(
    gh_host: Host, git_base: GitBase, workspace: Path
) -> None:
    result = await gh_host.addons.install(publish(git_base, "links", extra=_links), Scope.user(USER))
    root = workspace / str(USER) / result.record.path
    assert result.record.skills == ["react-best-practices", "supabase-postgres-best-practices"]
    assert sorted(result.skipped) == [
        "skills/react-best-practices/absolute.md: link is absolute (/etc/passwd); left out",
        "skills/react-best-practices/dangling.md: link is dangling (missing.md); left out",
        "skills/react-best-practices/escape.md: link points outside the fetched tree (../../../outside.md); left out",
        "skills/react-best-practices/loop-a: link is a loop; left out",
        "skills/react-best-practices/loop-b: link is a loop; left out",
    ]
    copy = root / "skills" / "supabase-postgres-best-practices" / "CLAUDE.md"
    assert copy.read_text() == "# Postgres rules\n" and not copy.is_symlink()
    assert (root / "skills" / "react-best-practices" / "rules" / "one.md").read_text() == "rule one\n"
    assert not (root / "CLAUDE.md").exists()  # the root link is outside what is installed
    assert not [p for p in workspace.rglob("*") if p.is_symlink()]


def test_hard_links_follow_the_same_rule(tmp_path: Path) -> None:
    """A tar of a repository with hard links (git never makes them, archives may): each is recorded
    like a relative link and materialised as a copy when it resolves inside the tree."""
    import io
    import tarfile

    from kiroclaw.archives import ExtractLimits, extract_tar_stream
    from kiroclaw.assemble import assemble
    from kiroclaw.discovery import TreeIndex

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("AGENTS.md", b"# guide\n")
        add("skills/pdf/SKILL.md", b"---\nname: pdf\ndescription: PDFs.\n---\n")
        add("skills/pdf/AGENTS.md", kind=tarfile.LNKTYPE, link="AGENTS.md")
        add("skills/pdf/passwd", kind=tarfile.LNKTYPE, link="/etc/passwd")
    buffer.seek(0)
    result = extract_tar_stream(buffer, tmp_path / "tree", ExtractLimits(whole_tree=True))
    assert dict(result.links) == {"skills/pdf/AGENTS.md": "../../AGENTS.md", "skills/pdf/passwd": "/etc/passwd"}
    index = TreeIndex.build(tmp_path / "tree", dict(result.links))
    built = assemble(index, discover(tmp_path / "tree", index=index), tmp_path / "out")
    assert (tmp_path / "out" / "skills" / "pdf" / "AGENTS.md").read_text() == "# guide\n"
    assert not (tmp_path / "out" / "skills" / "pdf" / "passwd").exists()
    assert [item.line() for item in built.left_out] == ["skills/pdf/passwd: link is absolute (/etc/passwd); left out"]
    with pytest.raises(Exception, match="links are not allowed"):  # outside whole-tree staging: still refused
        buffer.seek(0)
        extract_tar_stream(buffer, tmp_path / "strict", ExtractLimits())


async def test_name_differs_from_folder_same_for_repo_and_sub_path(gh_host: Host, git_base: GitBase) -> None:
    spec = publish(git_base, "name-mismatch")
    whole = await gh_host.addons.install(spec, Scope.user(USER))
    assert whole.record.skills == ["pdf-tools", "xlsx"]
    assert "pdf-tools: name 'pdf-tools' differs from its folder 'pdf'; installed as 'pdf-tools'" in whole.warnings
    one = await gh_host.addons.install(f"{spec}/skills/pdf", Scope.user(13))
    assert (one.record.kind, one.record.name, one.record.path) == ("skill", "pdf-tools", ".kiro/skills/pdf-tools")


def _big_tests(work: Path) -> None:
    for index in range(6000):
        folder = work / "tests" / f"case-{index // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"t{index}.txt").write_text(str(index))
    (work / ".github").mkdir()
    (work / ".github" / "ISSUE_TEMPLATE.md").write_text("A\n")
    (work / ".github" / "issue_template.md").write_text("a\n")


async def test_a_6000_file_tests_folder_and_case_folded_github_files_are_not_installed(
    gh_host: Host, git_base: GitBase, workspace: Path
) -> None:
    result = await gh_host.addons.install(publish(git_base, "big-tests", extra=_big_tests), Scope.user(USER))
    assert result.record.skills == ["session-handoff", "skill-judge"]
    root = workspace / str(USER) / result.record.path
    assert installed_files(root) == ["skills/session-handoff/SKILL.md", "skills/skill-judge/SKILL.md"]
    assert result.record.size_bytes < 1000


def test_case_folded_duplicates_inside_a_skill_leave_that_skill_out(tmp_path: Path) -> None:
    from kiroclaw.assemble import assemble
    from kiroclaw.discovery import TreeIndex

    root = tree(tmp_path, "big-tests")
    (root / "skills" / "skill-judge" / "Notes.md").write_text("N\n")
    (root / "skills" / "skill-judge" / "notes.md").write_text("n\n")
    index = TreeIndex.build(root)
    built = assemble(index, discover(root, index=index), tmp_path / "out")
    assert [s.name for s in built.skills] == ["session-handoff"]
    assert [item.line() for item in built.left_out] == [
        "skills/skill-judge: 'Notes.md' and 'notes.md' differ only by letter case or Unicode form; left out"
    ]


async def test_a_1068_character_description_is_installed_as_claude_code_does(gh_host: Host, git_base: GitBase) -> None:
    result = await gh_host.addons.install(publish(git_base, "long-description"), Scope.user(USER))
    assert result.record.skills == ["claude-api", "pdf"]
    assert any(w.startswith("claude-api: description is 1068 characters") for w in result.warnings)
    visible = {s.name for s in gh_host.effective_set(USER).skills}
    assert {"claude-api", "pdf"} <= visible


async def test_duplicate_names_across_plugins_keep_the_first_and_report_the_rest(
    gh_host: Host, git_base: GitBase, workspace: Path
) -> None:
    result = await gh_host.addons.install(publish(git_base, "duplicate-names"), Scope.user(USER))
    assert result.record.skills == ["stripe-best-practices", "upgrade-stripe"]
    assert result.skipped == [
        "providers/cursor/plugin/skills/stripe-best-practices: duplicate of "
        "providers/claude/plugin/skills/stripe-best-practices (the same name 'stripe-best-practices')"
    ]  # dist/ and template/ are never walked
    kept = workspace / str(USER) / result.record.path / "skills" / "stripe-best-practices" / "SKILL.md"
    assert "(Claude copy)" in kept.read_text()


async def test_kodelet_package_with_recipes(gh_host: Host, git_base: GitBase) -> None:
    record = (await gh_host.addons.install(publish(git_base, "kodelet"), Scope.user(USER))).record
    assert (record.skills, record.recipes) == (["jira"], ["github/pr-review"])
