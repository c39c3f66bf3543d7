"""The remaining CLI commands and their JSON shapes: info, update, search, global scope, --json install."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import DEMO_PACKAGE, run_kiroclaw, write_skill


def _ok(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_install_json_shape(cli_env) -> None:
    data = _ok(run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "42", "--json", env=cli_env))
    (result,) = data["results"]
    assert result["ok"] is True and result["replaced"] is None and result["skipped"] == []
    addon = result["addon"]
    assert addon["path"] == ".kiro/plugins/demo-package"
    assert addon["origin"]["path"] == str(DEMO_PACKAGE)
    assert len(addon["fingerprint"]) == 64 and addon["size_bytes"] > 0
    again = run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "42", "--json", env=cli_env)
    assert again.returncode == 1
    assert json.loads(again.stdout)["results"][0] == {
        "spec": str(DEMO_PACKAGE),
        "ok": False,
        "error": "exists",
        "message": "demo-package is already installed in user 42; use --force to reinstall",
    }
    forced = _ok(run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "42", "--force", "--json", env=cli_env))
    assert forced["results"][0]["replaced"] == "demo-package"


def test_info_update_and_search(cli_env, tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "src", "tracked", extra={"metadata": {"version": "1.0.0"}})
    assert run_kiroclaw("addon", "install", str(skill), "--user", "42", env=cli_env).returncode == 0
    info = _ok(run_kiroclaw("addon", "info", "tracked", "--user", "42", "--json", env=cli_env))
    assert info["installed"] is True and info["addon"]["version"] == "1.0.0"
    text = run_kiroclaw("addon", "info", "tracked", "--user", "42", env=cli_env).stdout
    assert text.startswith("tracked 1.0.0 (skill, 1 skill, from local)")
    # formatted for people: no Python dicts, lists or raw booleans
    assert "{" not in text and "[" not in text and "True" not in text and "False" not in text
    assert "  pinned: no" in text and "  enabled: yes" in text

    update = _ok(run_kiroclaw("addon", "update", "--user", "42", "--json", env=cli_env))
    assert update["results"] == [
        {
            "name": "tracked",
            "status": "current",
            "old": "1.0.0",
            "new": "1.0.0",
            "message": "tracked is up to date (1.0.0)",
            "reasons": [],
        }
    ]
    write_skill(tmp_path / "src", "tracked", extra={"metadata": {"version": "1.1.0"}})
    update = _ok(run_kiroclaw("addon", "update", "tracked", "--user", "42", "--json", env=cli_env))
    assert [(r["status"], r["old"], r["new"]) for r in update["results"]] == [("updated", "1.0.0", "1.1.0")]

    proc = run_kiroclaw("addon", "search", "anything", "--source", "local", env=cli_env)
    assert (proc.returncode, proc.stderr) == (1, "error: the local source cannot search\n")
    proc = run_kiroclaw("addon", "info", "missing-thing", "--user", "42", env=cli_env)
    # one error line, plus the source's own reason as a "detail" line when it has one (the registry is unreachable)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and lines[0].startswith("error: ") and len(lines) <= 2
    assert all(line.startswith("  detail: ") and "Error(" not in line for line in lines[1:])


def test_global_scope_commands(cli_env, tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "src", "everyone")
    assert run_kiroclaw("addon", "install", str(skill), "--global", env=cli_env).returncode == 0
    listing = _ok(run_kiroclaw("addon", "list", "--global", "--json", env=cli_env))
    assert [a["name"] for a in listing["addons"]] == ["everyone"]
    assert _ok(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env)) == {"addons": []}
    skills = _ok(run_kiroclaw("skills", "--user", "1234", "--json", env=cli_env))["skills"]
    assert [(s["name"], s["layer"], s["addon"]) for s in skills] == [("everyone", "global", "everyone")]
    assert run_kiroclaw("addon", "disable", "everyone", "--global", env=cli_env).returncode == 0
    assert _ok(run_kiroclaw("skills", "--user", "1234", "--json", env=cli_env))["skills"] == []
    proc = run_kiroclaw("addon", "remove", "everyone", "--global", "--yes", "--json", env=cli_env)
    assert _ok(proc)["removed"]["name"] == "everyone"
    global_root = Path(cli_env["WORKSPACE_BASE_PATH"]) / "_global"
    assert not (global_root / ".kiro/skills/everyone").exists()


def test_corrupt_registry_is_reported_in_one_line(cli_env) -> None:
    user_root = Path(cli_env["WORKSPACE_BASE_PATH"]) / "42"
    user_root.mkdir(parents=True)
    broken = '{"schema_version": 1, "addons": ['
    (user_root / "addons.json").write_text(broken)
    proc = run_kiroclaw("addon", "list", "--user", "42", env=cli_env)
    assert proc.returncode == 1
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "Traceback" not in proc.stderr
    assert line.startswith("error: the add-on registry was corrupt (not valid JSON")
    (moved,) = [p for p in user_root.iterdir() if p.name.startswith("addons.json.corrupt-")]
    assert moved.read_text() == broken and moved.name in line
