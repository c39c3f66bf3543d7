"""Issue 2's acceptance list, through the real ``kiroclaw`` console script in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_PACKAGE, run_kiroclaw, snapshot, write_package, write_skill

DEMO_SKILLS = ["code-review", "commit-message", "release-notes", "sql-explain"]
DEMO_RECIPES = ["ralph/init", "ralph/iterate", "review/pr"]


def _json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_plugins_json_lists_local_from_the_kiroclaw_distribution(cli_env) -> None:
    data = _json(run_kiroclaw("plugins", "--json", env=cli_env))
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["local"]["distribution"] == "kiroclaw"
    assert plugins["local"]["builtin"] is True
    assert "register_sources" in plugins["local"]["hooks"]
    sources = {s["name"]: s for s in data["sources"]}
    assert sources["local"]["plugin"] == "local"


def test_disabled_local_plugin_is_absent_and_local_installs_fail_clearly(cli_env, tmp_path: Path) -> None:
    env = {**cli_env, "KIROCLAW_DISABLE_PLUGINS": "local"}
    data = _json(run_kiroclaw("plugins", "--json", env=env))
    assert "local" not in {p["name"] for p in data["plugins"]}
    assert "local" not in {s["name"] for s in data["sources"]}
    skill = write_skill(tmp_path / "src", "hello-world")
    proc = run_kiroclaw("addon", "install", str(skill), "--user", "42", env=env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no source understands" in lines[0] and "(disabled on this server: local)" in lines[0]
    proc = run_kiroclaw("addon", "install", f"local:{skill}", "--user", "42", env=env)
    assert proc.returncode == 1
    assert "'local' source is disabled on this server" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_package_for_user_42_only_and_global_shadowing(cli_env, tmp_path: Path) -> None:
    proc = run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "42", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "installed demo-package" in proc.stdout

    skills42 = _json(run_kiroclaw("skills", "--user", "42", "--json", env=cli_env))
    assert [s["qualified_name"] for s in skills42["skills"]] == [f"demo-package/{n}" for n in DEMO_SKILLS]
    assert {s["layer"] for s in skills42["skills"]} == {"user-plugins"}
    assert {s["addon"] for s in skills42["skills"]} == {"demo-package"}
    recipes42 = _json(run_kiroclaw("recipes", "--user", "42", "--json", env=cli_env))
    assert [r["qualified_name"] for r in recipes42["recipes"]] == [f"demo-package/{r}" for r in DEMO_RECIPES]
    assert _json(run_kiroclaw("skills", "--user", "43", "--json", env=cli_env)) == {"skills": [], "shadowed": []}
    assert _json(run_kiroclaw("recipes", "--user", "43", "--json", env=cli_env))["recipes"] == []

    listing = _json(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env))
    (entry,) = listing["addons"]
    assert {k: entry[k] for k in ("name", "source", "kind", "enabled", "skills", "recipes")} == {
        "name": "demo-package",
        "source": "local",
        "kind": "plugin",
        "enabled": True,
        "skills": DEMO_SKILLS,
        "recipes": DEMO_RECIPES,
    }
    assert {"version", "spec", "installed_at"} <= entry.keys()

    # a global single skill is seen by both users ...
    shared = write_skill(tmp_path / "global-src", "sql-explain", "The admin's own SQL explainer.")
    proc = run_kiroclaw("addon", "install", str(shared), "--global", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    skills43 = _json(run_kiroclaw("skills", "--user", "43", "--json", env=cli_env))
    assert [(s["qualified_name"], s["layer"]) for s in skills43["skills"]] == [("sql-explain", "global")]
    assert skills43["shadowed"] == []
    # ... unless a user's own add-on has the same skill name: user 42's package skill wins and the
    # global one is reported as shadowed.
    skills42 = _json(run_kiroclaw("skills", "--user", "42", "--json", env=cli_env))
    winner = next(s for s in skills42["skills"] if s["name"] == "sql-explain")
    assert (winner["qualified_name"], winner["layer"]) == ("demo-package/sql-explain", "user-plugins")
    assert skills42["shadowed"] == [
        {
            "name": "sql-explain",
            "qualified_name": "sql-explain",
            "layer": "global",
            "addon": "sql-explain",
            "path": str(Path(cli_env["WORKSPACE_BASE_PATH"]) / "_global/.kiro/skills/sql-explain"),
            "shadowed_by": "demo-package/sql-explain",
            "shadowed_by_layer": "user-plugins",
        }
    ]
    text = run_kiroclaw("skills", "--user", "42", env=cli_env).stdout
    assert "shadowed: sql-explain [global] by demo-package/sql-explain [user-plugins]" in text


def _bad_frontmatter(tmp: Path) -> list[str]:
    skill = write_skill(tmp, "broken", frontmatter="name: broken\ndescription: [unclosed\n")
    return [str(skill)]


def _no_skill_md(tmp: Path) -> list[str]:
    folder = tmp / "notes"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# just notes\n")
    return [str(folder)]


def _no_description(tmp: Path) -> list[str]:
    # (a name that differs from its folder is installed under its name now, with a note: issue 11)
    package = tmp / "undescribed-pack"
    write_skill(package / "skills", "quiet", frontmatter="name: quiet\n")
    return [str(package)]


def _duplicate(tmp: Path) -> list[str]:
    return [str(DEMO_PACKAGE)]


def _quota(tmp: Path) -> list[str]:
    return [str(write_skill(tmp, "one-too-many"))]


def _size(tmp: Path) -> list[str]:
    skill = write_skill(tmp, "big-skill")
    (skill / "assets").mkdir()
    (skill / "assets" / "blob.bin").write_bytes(os.urandom(1024) * 1100)  # 1.1 MiB
    return [str(skill)]


def _fifo(tmp: Path) -> list[str]:
    skill = write_skill(tmp, "with-fifo")
    os.mkfifo(skill / "pipe")
    return [str(skill)]


REJECTIONS = {
    "bad-frontmatter": (_bad_frontmatter, {}, "frontmatter is not valid YAML"),
    "no-skill-md": (_no_skill_md, {}, "not a skill or plugin package"),
    "no-description": (_no_description, {}, "skills/quiet: missing required field 'description'"),
    "quota": (_quota, {"MAX_ADDONS_PER_USER": "1"}, "limit 1"),
    "size": (_size, {"MAX_ADDON_SIZE_MB": "1"}, "larger than 1 MB"),
    "fifo": (_fifo, {}, "special file"),
    "duplicate": (_duplicate, {}, "already installed"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_install_is_one_line_and_leaves_everything_byte_identical(case, cli_env, tmp_path: Path) -> None:
    make, extra_env, expected = REJECTIONS[case]
    proc = run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "42", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    user_root = Path(cli_env["WORKSPACE_BASE_PATH"]) / "42"
    before = snapshot(user_root, ignore=())
    registry_before = (user_root / "addons.json").read_bytes()
    specs = make(tmp_path / "src")

    proc = run_kiroclaw("addon", "install", *specs, "--user", "42", env={**cli_env, **extra_env})

    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and str(tmp_path / "workspaces") not in lines[0]
    assert (user_root / "addons.json").read_bytes() == registry_before
    assert snapshot(user_root, ignore=()) == before


def test_several_specs_are_reported_each_and_a_failure_does_not_undo_the_others(cli_env, tmp_path: Path) -> None:
    good1 = write_skill(tmp_path / "a", "first-skill")
    bad = tmp_path / "b" / "empty"
    bad.mkdir(parents=True)
    good2 = write_package(tmp_path / "c" / "pack", skills=["gamma"], recipes=["deploy/prod"])
    proc = run_kiroclaw("addon", "install", str(good1), str(bad), str(good2), "--user", "7", "--json", env=cli_env)
    assert proc.returncode == 1
    results = json.loads(proc.stdout)["results"]
    assert [r["ok"] for r in results] == [True, False, True]
    assert results[1]["error"] == "invalid"
    names = [a["name"] for a in _json(run_kiroclaw("addon", "list", "--user", "7", "--json", env=cli_env))["addons"]]
    assert names == ["first-skill", "pack"]


def test_remove_needs_yes_without_a_terminal_and_then_removes(cli_env, tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "src", "short-lived")
    assert run_kiroclaw("addon", "install", str(skill), "--user", "5", env=cli_env).returncode == 0
    proc = run_kiroclaw("addon", "remove", "short-lived", "--user", "5", env=cli_env, input="")
    assert proc.returncode == 1 and "--yes" in proc.stderr
    proc = run_kiroclaw("addon", "remove", "short-lived", "--user", "5", "--yes", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert _json(run_kiroclaw("addon", "list", "--user", "5", "--json", env=cli_env)) == {"addons": []}
    assert not (Path(cli_env["WORKSPACE_BASE_PATH"]) / "5/.kiro/skills/short-lived").exists()


def test_disable_hides_and_enable_restores(cli_env) -> None:
    assert run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "42", env=cli_env).returncode == 0
    assert run_kiroclaw("addon", "disable", "demo-package", "--user", "42", env=cli_env).returncode == 0
    assert _json(run_kiroclaw("skills", "--user", "42", "--json", env=cli_env))["skills"] == []
    listing = _json(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env))
    assert listing["addons"][0]["enabled"] is False
    assert run_kiroclaw("addon", "enable", "demo-package", "--user", "42", env=cli_env).returncode == 0
    assert len(_json(run_kiroclaw("skills", "--user", "42", "--json", env=cli_env))["skills"]) == 4


def test_scope_options_are_required_and_exclusive(cli_env) -> None:
    proc = run_kiroclaw("addon", "list", env=cli_env)
    assert proc.returncode == 2 and "--user ID or --global" in proc.stderr
    proc = run_kiroclaw("addon", "list", "--user", "1", "--global", env=cli_env)
    assert proc.returncode == 2
    proc = run_kiroclaw("addon", "list", "--user", "-3", env=cli_env)
    assert proc.returncode == 1 and proc.stderr.startswith("error: invalid user id")


def test_two_processes_installing_into_one_user_never_lose_an_entry(cli_env, tmp_path: Path) -> None:
    batches = []
    for proc_index in range(2):
        specs = [str(write_skill(tmp_path / f"p{proc_index}", f"skill-{proc_index}-{i}")) for i in range(6)]
        batches.append(specs)
    procs = [
        subprocess.Popen(
            [str(Path(sys.executable).parent / "kiroclaw"), "addon", "install", *specs, "--user", "9"],
            env=cli_env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for specs in batches
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    listing = _json(run_kiroclaw("addon", "list", "--user", "9", "--json", env=cli_env))
    expected = sorted(f"skill-{p}-{i}" for p in range(2) for i in range(6))
    assert [a["name"] for a in listing["addons"]] == expected
    skills_dir = Path(cli_env["WORKSPACE_BASE_PATH"]) / "9/.kiro/skills"
    assert sorted(p.name for p in skills_dir.iterdir()) == expected


LIGHT_SCRIPT = """
import sys
from kiroclaw.cli import main
for argv in (["addon", "list", "--user", "42"], ["addon", "install", sys.argv[1], "--user", "42"],
             ["skills", "--user", "42"], ["recipes", "--user", "42"], ["plugins"]):
    try:
        main(argv)
    except SystemExit as exc:
        assert not exc.code, (argv, exc.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"aiogram", "acp", "aiohttp", "git"})
print("HEAVY=" + ",".join(heavy))
"""


def test_addon_and_skills_commands_do_not_import_heavy_libraries(cli_env, tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "src", "light-skill")
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT_SCRIPT, str(skill)],
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY=", proc.stdout


def test_quota_holds_across_processes(cli_env, tmp_path: Path) -> None:
    env = {**cli_env, "MAX_ADDONS_PER_USER": "5"}
    procs = []
    for p in range(4):
        specs = [str(write_skill(tmp_path / f"q{p}", f"quota-{p}-{i}")) for i in range(2)]
        procs.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "kiroclaw"), "addon", "install", *specs, "--user", "11", "--json"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outcomes = []
    for proc in procs:
        out, _err = proc.communicate(timeout=120)
        outcomes.extend(json.loads(out)["results"])
    assert sorted(r["ok"] for r in outcomes) == [False] * 3 + [True] * 5
    assert {r["error"] for r in outcomes if not r["ok"]} == {"quota"}
    listing = _json(run_kiroclaw("addon", "list", "--user", "11", "--json", env=cli_env))
    assert len(listing["addons"]) == 5
    skills_dir = Path(cli_env["WORKSPACE_BASE_PATH"]) / "11/.kiro/skills"
    assert len(list(skills_dir.iterdir())) == 5


def test_a_link_escaping_a_skill_is_left_out_and_the_skill_installs(cli_env, tmp_path: Path) -> None:
    """Issue 11 changed the blanket refusal of links: an absolute link inside a skill is left out (one
    line), the skill installs, nothing outside staging is read or written and no link reaches the disk."""
    skill = write_skill(tmp_path / "src", "leaky")
    (skill / "secrets.txt").symlink_to("/etc/passwd")
    proc = run_kiroclaw("addon", "install", str(skill), "--user", "42", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "left out: secrets.txt: link is absolute (/etc/passwd); left out" in proc.stdout
    installed = Path(cli_env["WORKSPACE_BASE_PATH"]) / "42" / ".kiro" / "skills" / "leaky"
    assert (installed / "SKILL.md").is_file()
    assert not os.path.lexists(installed / "secrets.txt")
    assert not [p for p in installed.rglob("*") if p.is_symlink()]
