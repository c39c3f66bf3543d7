"""Per-user kiro home provisioning: template refresh, the generated agent file, atomic writes, event hooks."""

from __future__ import annotations

import json
from pathlib import Path

from kiroclaw.agent.home import (
    NO_INHERIT_SETTING,
    input_stamp,
    packaged_template,
    provision_home,
    write_agent_file,
)
from kiroclaw.agent.hooks import REFRESHER_NAME
from kiroclaw.config import Settings
from kiroclaw.host import Host
from kiroclaw.workspaces import Scope

from ..conftest import write_package, write_skill


def _agent(workspace: Path, user: int) -> dict:
    return json.loads((workspace / str(user) / ".kiro" / "agents" / "kiroclaw.json").read_text())


def _skill_resources(agent: dict) -> list[str]:
    return [r for r in agent["resources"] if r.startswith("skill://")]


async def test_packaged_template_is_provisioned(host: Host, workspace: Path) -> None:
    result = provision_home(host, 42)
    home = (workspace / "42" / ".kiro").resolve()
    assert result.home == home
    settings = json.loads((home / "settings" / "cli.json").read_text())
    assert settings[NO_INHERIT_SETTING] is True
    assert (home / "steering" / "kiroclaw.md").read_text() == (packaged_template() / "steering/kiroclaw.md").read_text()
    agent = _agent(workspace, 42)
    assert agent["name"] == "kiroclaw"
    assert f"file://{home}/steering/**/*.md" in agent["resources"]  # placeholder replaced
    assert _skill_resources(agent) == []
    assert not list(home.rglob("*.tmp"))


async def test_agent_file_lists_the_effective_set_with_absolute_paths(host: Host, workspace: Path) -> None:
    user = host.paths(Scope.user(42))
    glob_ = host.paths(Scope.global_())
    write_skill(user.skills_dir, "mine")
    write_skill(glob_.skills_dir, "mine")  # shadowed by the user's own
    write_skill(glob_.skills_dir, "shared")
    write_package(user.plugins_dir / "acme@tools", skills=("hammer",))
    write_skill(user.skills_dir, "bad-folder", folder="other-name")  # folder != name: not a skill
    provision_home(host, 42)
    resources = _skill_resources(_agent(workspace, 42))
    expected = [
        user.plugins_dir / "acme@tools" / "skills" / "hammer",
        user.skills_dir / "mine",
        glob_.skills_dir / "shared",
    ]
    assert resources == [f"skill://{p.resolve()}/SKILL.md" for p in expected]
    assert all(r.startswith("skill:///") for r in resources)


async def test_template_changes_reach_the_home_at_next_start(tmp_path: Path, workspace: Path) -> None:
    template = tmp_path / "template"
    (template / "agents").mkdir(parents=True)
    (template / "steering").mkdir()
    (template / "settings").mkdir()
    (template / "agents" / "agent.json").write_text(json.dumps({"description": "v1", "resources": []}))
    (template / "steering" / "a.md").write_text("rule A in {{KIRO_HOME}}\n")
    (template / "steering" / "b.md").write_text("rule B\n")
    (template / "settings" / "cli.json").write_text(json.dumps({NO_INHERIT_SETTING: False, "chat.x": 1}))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, workspace_base_path=workspace, kiro_config_path=template, kiro_agent_name="helper"
    )
    host = Host(settings)
    provision_home(host, 42)
    home = (workspace / "42" / ".kiro").resolve()
    assert (home / "steering" / "a.md").read_text() == f"rule A in {home}\n"
    cli = json.loads((home / "settings" / "cli.json").read_text())
    assert cli == {NO_INHERIT_SETTING: True, "chat.x": 1}  # forced true, the rest kept
    assert json.loads((home / "agents" / "helper.json").read_text())["description"] == "v1"

    stamp = input_stamp(host, 42)
    (template / "steering" / "b.md").unlink()
    (template / "steering" / "a.md").write_text("rule A2\n")
    (template / "agents" / "agent.json").write_text(json.dumps({"description": "v2"}))
    assert input_stamp(host, 42) != stamp  # the runtime restarts the agent
    provision_home(host, 42)
    assert (home / "steering" / "a.md").read_text() == "rule A2\n"
    assert not (home / "steering" / "b.md").exists()
    assert json.loads((home / "agents" / "helper.json").read_text())["description"] == "v2"


async def test_user_edits_to_template_files_are_overwritten(host: Host, workspace: Path) -> None:
    provision_home(host, 42)
    home = workspace / "42" / ".kiro"
    (home / "settings" / "cli.json").write_text(json.dumps({NO_INHERIT_SETTING: False}))
    (home / "agents" / "kiroclaw.json").write_text("{}")
    provision_home(host, 42)
    assert json.loads((home / "settings" / "cli.json").read_text())[NO_INHERIT_SETTING] is True
    assert _agent(workspace, 42)["name"] == "kiroclaw"


async def test_event_hooks_regenerate_the_agent_file(host: Host, workspace: Path, tmp_path: Path) -> None:
    await host.start()
    assert host.pm.get_plugin(REFRESHER_NAME) is not None
    write_agent_file(host, 42)
    assert _skill_resources(_agent(workspace, 42)) == []
    folder = write_skill(tmp_path / "src", "weather-api")
    await host.addons.install(str(folder), Scope.user(42), assume_yes=True)
    skill = (workspace / "42" / ".kiro" / "skills" / "weather-api").resolve()
    assert _skill_resources(_agent(workspace, 42)) == [f"skill://{skill}/SKILL.md"]
    await host.addons.disable("weather-api", Scope.user(42))
    assert _skill_resources(_agent(workspace, 42)) == []
    await host.addons.enable("weather-api", Scope.user(42))
    assert len(_skill_resources(_agent(workspace, 42))) == 1
    await host.addons.remove("weather-api", Scope.user(42))
    assert _skill_resources(_agent(workspace, 42)) == []
    # a user never provisioned is left alone (their first start writes everything)
    await host.addons.install(str(folder), Scope.user(43), assume_yes=True)
    assert not (workspace / "43" / ".kiro" / "agents").exists()


async def test_provisioning_200_skills_lists_each_once(host: Host, workspace: Path) -> None:
    user = host.paths(Scope.user(42))
    for p in range(10):
        write_package(user.plugins_dir / f"org@pkg{p}", skills=[f"s{p}-{i}" for i in range(10)])
        write_package(host.paths(Scope.global_()).plugins_dir / f"org@g{p}", skills=[f"s{p}-{i}" for i in range(10)])
    result = provision_home(host, 42)
    resources = _skill_resources(_agent(workspace, 42))
    assert len(resources) == len(set(resources)) == 100 == len(result.skills)
    assert all("/42/" in r for r in resources)  # the user's packages shadow the global ones
