"""The ``--json`` outputs are a public interface: fields may be added, none renamed or removed. These pin
the shapes the issue lists for ``addon install``, ``addon list`` and ``skills``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_kiroclaw, write_skill


def test_install_list_and_skills_keep_their_json_shapes(cli_env, tmp_path: Path) -> None:
    good = write_skill(tmp_path / "src", "shape-skill")
    shadow = write_skill(tmp_path / "src2", "shape-skill", "A second skill of the same name.")
    proc = run_kiroclaw(
        "addon", "install", str(good), str(tmp_path / "missing"), "--user", "42", "--json", env=cli_env
    )
    results = json.loads(proc.stdout)["results"]
    assert [r["spec"] for r in results] == [str(good), str(tmp_path / "missing")]  # one per spec, in order
    assert {"ok", "error", "message", "skipped", "warnings", "addon"} <= results[0].keys(), results[0].keys()
    assert results[0]["ok"] is True and results[0]["error"] is None
    assert {"ok", "error", "message"} <= results[1].keys()
    assert results[1]["ok"] is False and results[1]["error"] == "not_found" and results[1]["message"]

    listing = json.loads(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env).stdout)
    (addon,) = listing["addons"]
    assert addon["skills"] == ["shape-skill"]  # a list of names

    # a global skill of the same name is shadowed by the user's
    assert run_kiroclaw("addon", "install", str(shadow), "--global", env=cli_env).returncode == 0
    skills = json.loads(run_kiroclaw("skills", "--user", "42", "--json", env=cli_env).stdout)
    assert set(skills) >= {"skills", "shadowed"}
    (skill,) = skills["skills"]
    assert {"name", "path"} <= skill.keys() and skill["name"] == "shape-skill"
    assert [s["name"] for s in skills["shadowed"]] == ["shape-skill"]
