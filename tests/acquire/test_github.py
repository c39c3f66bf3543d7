"""GitHub source against real git repositories served from a local base URL (file:// and http://)."""

from __future__ import annotations

from pathlib import Path

from kiroclaw import Scope
from kiroclaw.host import Host

from .conftest import USER, GitBase


async def test_plugin_package_with_skills_and_nested_recipes(
    acq_host: Host, git_base: GitBase, workspace: Path
) -> None:
    repo = git_base.repo("acme", "tools")
    for name in ("alpha", "beta", "gamma"):
        repo.skill("skills", name)
    repo.write("recipes/ralph/init.md", "---\nname: Init\ndescription: Start a loop.\n---\nGo.\n")
    repo.write("recipes/review.md", "---\nname: Review\ndescription: Review code.\n---\nReview.\n")
    commit = repo.commit("first")

    result = await acq_host.addons.install("acme/tools", Scope.user(USER))

    record = result.record
    assert record.name == "acme/tools"
    assert record.kind == "plugin"
    assert record.path == ".kiro/plugins/acme@tools"
    assert sorted(record.skills) == ["alpha", "beta", "gamma"]
    assert sorted(record.recipes) == ["ralph/init", "review"]
    assert record.origin["commit"] == commit
    assert record.version == commit[:7]
    installed = workspace / str(USER) / ".kiro" / "plugins" / "acme@tools"
    assert (installed / "skills" / "beta" / "SKILL.md").is_file()
    assert not (installed / ".git").exists()
    names = {s.qualified_name for s in acq_host.effective_set(USER).skills}
    assert {"acme/tools/alpha", "acme/tools/beta", "acme/tools/gamma"} <= names
