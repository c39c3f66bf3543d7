"""Default paths work: a relative ``WORKSPACE_BASE_PATH`` (the README's ``./workspaces``) installs from
GitHub, git's own reason reaches the user as a ``detail`` line, and ``kiroclaw doctor`` checks git."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kiroclaw.config import Settings
from kiroclaw.errors import SourceError, detail_line
from tests.acquire.conftest import GitBase
from tests.conftest import INHERITED_SETTINGS, run_kiroclaw


def _env(tmp_path: Path, git_base: GitBase, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith((*INHERITED_SETTINGS, "GITHUB_"))}
    env.update({"GITHUB_BASE_URL": git_base.url, "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


@pytest.fixture
def repo_base(git_base: GitBase) -> GitBase:
    repo = git_base.repo("org", "repo")
    repo.skill("skills", "hello", "Says hello to the person.")
    repo.commit("init")
    return git_base


@pytest.mark.parametrize("how", ["environment", "dotenv"])
def test_relative_workspace_path_installs_a_github_repo(how: str, tmp_path: Path, repo_base: GitBase) -> None:
    run = tmp_path / "bot"
    run.mkdir()
    extra = {"WORKSPACE_BASE_PATH": "./workspaces"} if how == "environment" else {}
    if how == "dotenv":
        (run / ".env").write_text("WORKSPACE_BASE_PATH=./workspaces\n", encoding="utf-8")
    env = _env(tmp_path, repo_base, **extra)

    proc = run_kiroclaw("addon", "install", "org/repo", "--user", "42", env=env, cwd=run)

    assert proc.returncode == 0, proc.stderr
    assert "installed org/repo" in proc.stdout
    assert (run / "workspaces" / "42" / ".kiro" / "plugins" / "org@repo" / "skills" / "hello" / "SKILL.md").is_file()
    listed = run_kiroclaw("skills", "--user", "42", "--json", env=env, cwd=run)
    assert "hello" in listed.stdout


def test_relative_path_settings_mean_the_folder_they_were_loaded_in(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        workspace_base_path=Path("./workspaces"),
        local_source_roots="shared,./team",
        audit_log_path=Path("logs/../audit.log"),
    )
    monkeypatch.chdir("/")
    assert settings.workspace_base_path == tmp_path / "workspaces"
    assert settings.global_root == tmp_path / "workspaces" / "_global"
    assert settings.local_source_roots == [tmp_path / "shared", tmp_path / "team"]
    assert settings.audit_log_path == tmp_path / "audit.log"
    assert settings.bundled_skills_path is None


def test_a_failing_git_fetch_shows_gits_reason(tmp_path: Path, repo_base: GitBase) -> None:
    run = tmp_path / "bot"
    run.mkdir()
    env = _env(tmp_path, repo_base, WORKSPACE_BASE_PATH="./workspaces")

    proc = run_kiroclaw("addon", "install", "org/missing", "--user", "42", env=env, cwd=run)

    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: org/missing: GitHub repository org/missing was not found")
    assert lines[1].startswith("  detail: fatal: ") and "missing.git" in lines[1]
    as_json = run_kiroclaw("addon", "install", "org/missing", "--user", "42", "--json", env=env, cwd=run)
    result = json.loads(as_json.stdout)["results"][0]
    assert result["detail"].startswith("fatal: ") and "does not appear to be a git repository" in result["detail"]


def test_detail_line_takes_gits_cause_and_hides_server_paths_in_chat() -> None:
    exc = SourceError(
        "git could not fetch org/repo",
        detail="fatal: not a git repository: '/srv/kiroclaw/workspaces/42/.staging/x/.git-fetch'\n"
        "fatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\n",
    )
    assert detail_line(exc) == "fatal: not a git repository: '/srv/kiroclaw/workspaces/42/.staging/x/.git-fetch'"
    assert detail_line(exc, hide_paths=True) == "fatal: not a git repository: '…/.git-fetch'"
    assert (
        detail_line(SourceError("x", detail="HTTP 404 https://example.org/a.zip"))
        == "HTTP 404 https://example.org/a.zip"
    )
    assert detail_line(SourceError("no detail")) is None


def test_chat_failure_text_keeps_gits_own_words_for_the_operator() -> None:
    # issue 13 point 6: raw git output is the operator's (CLI detail line, -v, the log), never the chat's
    from kiroclaw.bot.addon_text import failure_text as _failure_text

    text = _failure_text(SourceError("git could not fetch org/repo", detail="fatal: '/srv/git/org/repo.git' gone"))
    assert text == "❌ git could not fetch org/repo"


def test_doctor_checks_the_workspace_and_a_git_fetch(tmp_path: Path, repo_base: GitBase) -> None:
    run = tmp_path / "bot"
    run.mkdir()
    (tmp_path / "catalog").mkdir()
    registry = (tmp_path / "catalog").as_uri()
    env = _env(tmp_path, repo_base, WORKSPACE_BASE_PATH="./workspaces", KIROHUB_REGISTRY_URL=registry)

    proc = run_kiroclaw("doctor", env=env, cwd=run)
    assert f"ok    workspace root {run / 'workspaces'} is writable" in proc.stdout
    assert "ok    git fetch into the workspace works (git version " in proc.stdout
    assert not [p for p in (run / "workspaces").iterdir() if p.name.startswith(".doctor")]

    no_git = run_kiroclaw("doctor", env={**env, "PATH": str(tmp_path / "empty")}, cwd=run)
    assert no_git.returncode == 1
    assert "MISSING a working git fetch (git is not installed" in no_git.stdout
