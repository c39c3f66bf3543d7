"""Next steps named through the real CLI against a real ``kiroclaw hub serve``: a pinned add-on's update
line names the newer version and how to move to it; "has local edits" names the edited files; enabling an
enabled add-on (or disabling a disabled one) says so."""

from __future__ import annotations

from pathlib import Path

from kiroclaw.hub.publish import publish
from tests.conftest import run_kiroclaw, write_skill
from tests.hub.conftest import ServedHub


def _env(cli_env: dict[str, str], served: ServedHub) -> dict[str, str]:
    return {**cli_env, "KIROHUB_REGISTRY_URL": served.url, "KIROHUB_CACHE_TTL_SECONDS": "0"}


def test_pinned_update_line_names_the_newer_version_and_how_to_move(cli_env: dict[str, str], served: ServedHub) -> None:
    env = _env(cli_env, served)
    assert run_kiroclaw("addon", "install", "weather-api@1.0.0", "--user", "42", env=env).returncode == 0
    done = run_kiroclaw("addon", "update", "weather-api", "--user", "42", env=env)
    assert done.returncode == 0, done.stderr
    assert "pinned to 1.0.0" in done.stdout
    assert "1.1.0 exists" in done.stdout and "install weather-api again at 1.1.0" in done.stdout
    assert "to move: kiroclaw addon install weather-api@1.1.0 --force --user 42" in done.stdout


def test_local_edits_are_named(cli_env: dict[str, str], served: ServedHub, catalog: Path, tmp_path: Path) -> None:
    env = _env(cli_env, served)
    assert run_kiroclaw("addon", "install", "plain-notes", "--user", "42", env=env).returncode == 0
    publish(write_skill(tmp_path / "src", "plain-notes", "Notes, now better.", body="new\n"), catalog)
    edited = Path(env["WORKSPACE_BASE_PATH"]) / "42" / ".kiro" / "skills" / "plain-notes" / "SKILL.md"
    edited.write_text(edited.read_text() + "\nmy local note\n")
    done = run_kiroclaw("addon", "update", "plain-notes", "--user", "42", env=env)
    assert done.returncode == 1
    assert "has local edits since it was installed (SKILL.md)" in done.stdout
    assert "my local note" in edited.read_text()


def test_enable_an_enabled_add_on_says_so(cli_env: dict[str, str], served: ServedHub) -> None:
    env = _env(cli_env, served)
    assert run_kiroclaw("addon", "install", "plain-notes", "--user", "42", env=env).returncode == 0
    again = run_kiroclaw("addon", "enable", "plain-notes", "--user", "42", env=env)
    assert again.returncode == 0 and "plain-notes is already enabled" in again.stdout
    first = run_kiroclaw("addon", "disable", "plain-notes", "--user", "42", env=env)
    assert first.stdout.startswith("disabled plain-notes")
    second = run_kiroclaw("addon", "disable", "plain-notes", "--user", "42", env=env)
    assert "plain-notes is already disabled" in second.stdout
