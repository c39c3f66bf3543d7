"""The stand-in kiro-cli follows the documented rules (reference/kiro-cli.md), independent of KiroClaw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import acp
import pytest

from kiroclaw.agent.acp_client import AgentProcess, LaunchSpec, SessionLockedError, build_env

from ..conftest import write_skill
from .conftest import STANDIN

sys.path.insert(0, str(STANDIN.parent))
from standin_agent import Discovery


def _names(d: Discovery) -> list[str]:
    return sorted(n for n, _ in d.skills)


def _agent(home: Path, name: str, resources: list[str]) -> None:
    (home / "agents").mkdir(parents=True, exist_ok=True)
    (home / "agents" / f"{name}.json").write_text(json.dumps({"resources": resources}))


def test_default_agent_loads_both_locations_workspace_wins(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    write_skill(home / "skills", "shared", "global one")
    write_skill(home / "skills", "only-global")
    write_skill(cwd / ".kiro" / "skills", "shared", "workspace one")
    write_skill(home / "skills", "wrong", folder="not-wrong")  # folder must equal name
    write_skill(home / "skills", "nodesc", frontmatter="name: nodesc\n")  # description required
    d = Discovery(home, cwd, None)
    assert _names(d) == ["only-global", "shared"]
    assert dict(d.skills)["shared"].parent.parent.parent.name == ".kiro"  # the workspace copy


def test_custom_agent_inherits_defaults_unless_disabled(tmp_path: Path) -> None:
    home, cwd, extra = tmp_path / "home", tmp_path / "cwd", tmp_path / "extra"
    write_skill(home / "skills", "in-home")
    write_skill(extra, "listed")
    write_skill(extra, "globbed-a")
    write_skill(extra, "globbed-b")
    _agent(home, "mine", [f"skill://{extra}/listed/SKILL.md", f"skill://{extra}/globbed-*/SKILL.md"])
    assert _names(Discovery(home, cwd, "mine")) == ["globbed-a", "globbed-b", "in-home", "listed"]
    (home / "settings").mkdir()
    (home / "settings" / "cli.json").write_text(json.dumps({"chat.disableInheritingDefaultResources": True}))
    assert _names(Discovery(home, cwd, "mine")) == ["globbed-a", "globbed-b", "listed"]
    # a workspace setting overrides the global one
    (cwd / ".kiro" / "settings").mkdir(parents=True)
    (cwd / ".kiro" / "settings" / "cli.json").write_text(
        json.dumps({"chat": {"disableInheritingDefaultResources": False}})
    )
    assert _names(Discovery(home, cwd, "mine")) == ["globbed-a", "globbed-b", "in-home", "listed"]


def test_same_file_twice_counts_once_different_files_both_show(tmp_path: Path) -> None:
    home, cwd, other = tmp_path / "home", tmp_path / "cwd", tmp_path / "other"
    write_skill(home / "skills", "dup")
    write_skill(other, "dup")
    _agent(home, "mine", [f"skill://{home}/skills/dup/SKILL.md", f"skill://{other}/dup/SKILL.md"])
    assert _names(Discovery(home, cwd, "mine")) == ["dup", "dup"]


def test_unknown_agent_falls_back_to_default_and_local_agent_wins(tmp_path: Path) -> None:
    home, cwd, extra = tmp_path / "home", tmp_path / "cwd", tmp_path / "extra"
    write_skill(home / "skills", "home-skill")
    write_skill(extra, "local-skill")
    d = Discovery(home, cwd, "missing")
    assert d.agent_name == "kiro_default" and d.agent_not_found == "missing"
    _agent(home, "a", [])
    _agent(cwd / ".kiro", "a", [f"skill://{extra}/*/SKILL.md"])
    (home / "settings").mkdir()
    (home / "settings" / "cli.json").write_text(json.dumps({"chat.disableInheritingDefaultResources": True}))
    assert _names(Discovery(home, cwd, "a")) == ["local-skill"]


def test_cli_surface(kiro_cli: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(kiro_cli), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("kiro-cli 2.")
    bad = subprocess.run(
        [str(kiro_cli), "acp", "--agent", "x", "--agent-engine", "v3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 2 and "--agent" in bad.stderr


async def test_session_lock_and_persistence_across_processes(kiro_cli: Path, tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()

    def spec() -> LaunchSpec:
        argv = (str(kiro_cli), "acp", "--agent", "kiroclaw", "--agent-engine", "v2")
        return LaunchSpec(argv, build_env(home), cwd, home)

    first, second = AgentProcess(spec()), AgentProcess(spec())
    try:
        await first.start()
        session = await first.new_session(cwd)
        await first.prompt(session.session_id, [acp.text_block("hello there")])
        assert (home / "sessions" / "cli" / f"{session.session_id}.jsonl").is_file()
        await second.start()
        with pytest.raises(SessionLockedError) as info:
            await second.load_session(cwd, session.session_id)
        assert info.value.pid == first.pid
        await first.stop()
        loaded = await second.load_session(cwd, session.session_id)  # dead holder: the lock is stale
        assert loaded.session_id == session.session_id
        history = await second.prompt(session.session_id, [acp.text_block("history")])
        assert history.text == "hello there"
    finally:
        await first.stop()
        await second.stop()
    assert os.path.exists(STANDIN)
