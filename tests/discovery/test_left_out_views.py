"""One source of truth for what the agent gets: a skill the install report leaves out is absent from
``addon list``, ``kiroclaw skills``, the bot's ``/skills`` and the generated agent configuration."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.conftest import ALICE
from tests.conftest import run_kiroclaw, write_skill


def _package(root: Path) -> Path:
    write_skill(root / "skills", "kept-skill", "A skill that is installed.")
    write_skill(root / "skills", "undescribed", frontmatter="name: undescribed\n")  # left out: no description
    write_skill(root / ".claude" / "skills", "kept-skill", "An agent-folder copy of the same name.")  # duplicate
    return root


async def test_a_left_out_skill_is_absent_from_all_four_views(start_bot, tmp_path: Path) -> None:
    source = _package(tmp_path / "allowed" / "mixed-pack")
    h = await start_bot(local_source_roots=[tmp_path / "allowed"])

    await h.say(ALICE, f"/addon install {source}")
    report = h.last(ALICE)
    assert "Installed" in report and "Skipped 2" in report and "undescribed" in report

    # 1. /addon list and /skills in chat
    await h.say(ALICE, "/skills")
    assert "kept-skill" in h.last(ALICE) and "undescribed" not in h.last(ALICE)
    await h.say(ALICE, "/addon list")
    assert "mixed-pack" in h.last(ALICE)

    # 2. kiroclaw addon list and kiroclaw skills, in another process over the same workspace
    env = {"WORKSPACE_BASE_PATH": str(h.settings.workspace_base_path), "PATH": "/usr/bin:/bin"}
    listed = json.loads(run_kiroclaw("addon", "list", "--user", str(ALICE.id), "--json", env=env).stdout)
    (addon,) = listed["addons"]
    assert addon["skills"] == ["kept-skill"]
    assert any(line.startswith("skills/undescribed: ") for line in addon["skipped"])
    duplicate = ".claude/skills/kept-skill: duplicate of skills/kept-skill"
    assert any(line.startswith(duplicate) for line in addon["skipped"])
    skills = json.loads(run_kiroclaw("skills", "--user", str(ALICE.id), "--json", env=env).stdout)
    names = json.dumps(skills)
    assert "kept-skill" in names and "undescribed" not in names
    assert "An agent-folder copy" not in names  # the duplicate left out is not what the agent sees

    # 3. the generated agent configuration
    from kiroclaw.agent.home import provision_home

    home = provision_home(h.host, ALICE.id)
    assert home.skills == ("kept-skill",)
    agent = home.agent_file.read_text()
    assert "kept-skill" in agent and "undescribed" not in agent
    installed = h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "plugins" / "mixed-pack"
    assert sorted(p.name for p in (installed / "skills").iterdir()) == ["kept-skill"]
