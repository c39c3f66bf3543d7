"""``kiroclaw fsck`` and ``addon list`` through the real CLI: a hand-placed skill is adopted, never moved
away from the agent; a listed add-on whose folder is gone is marked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kiroclaw.registry import MARKER_FILE
from tests.conftest import run_kiroclaw, write_skill


def _install(cli_env: dict[str, str], tmp_path: Path, name: str) -> None:
    done = run_kiroclaw("addon", "install", str(write_skill(tmp_path / "src", name)), "--user", "42", env=cli_env)
    assert done.returncode == 0, done.stderr


def test_hand_placed_skill_is_adopted_on_request_not_quarantined(
    cli_env: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    _install(cli_env, tmp_path, "alpha")
    skills = workspace / "42" / ".kiro" / "skills"
    write_skill(skills, "hand-placed")

    check = run_kiroclaw("fsck", "--user", "42", env=cli_env)
    assert check.returncode == 1
    assert "not installed through KiroClaw" in check.stdout

    declined = run_kiroclaw("fsck", "--user", "42", "--repair", env=cli_env, input="n\n")
    assert "adopt it" in declined.stderr  # it asked
    assert declined.returncode == 1
    assert (skills / "hand-placed" / "SKILL.md").exists()  # still where the agent finds it
    assert not (workspace / "42" / ".quarantine").exists()

    adopted = run_kiroclaw("fsck", "--user", "42", "--repair", "--yes", env=cli_env)
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    assert "adopted as hand-placed" in adopted.stdout
    assert (skills / "hand-placed" / MARKER_FILE).exists()
    listed = json.loads(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env).stdout)["addons"]
    assert {a["name"]: a["source"] for a in listed} == {"alpha": "local", "hand-placed": "local"}
    assert run_kiroclaw("fsck", "--user", "42", env=cli_env).returncode == 0


def test_addon_list_marks_an_add_on_whose_folder_is_missing(
    cli_env: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    _install(cli_env, tmp_path, "alpha")
    _install(cli_env, tmp_path, "beta")
    shutil.rmtree(workspace / "42" / ".kiro" / "skills" / "beta")
    text = run_kiroclaw("addon", "list", "--user", "42", env=cli_env).stdout
    (alpha,) = [line for line in text.splitlines() if line.startswith("alpha")]
    (beta,) = [line for line in text.splitlines() if line.startswith("beta")]
    assert "folder missing" not in alpha
    assert "folder missing: .kiro/skills/beta" in beta
    listed = json.loads(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env).stdout)["addons"]
    assert {a["name"]: a["missing"] for a in listed} == {"alpha": False, "beta": True}
