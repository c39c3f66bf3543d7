"""The README's set-up promises: the test line says how long it takes, ``tox`` comes from the project's own
extras, and the self-hosted registry demo runs as written (a free port, a way to stop the server, files
git ignores)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

from tests.conftest import KIROCLAW_BIN

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _indented_block_after(marker: str) -> list[str]:
    """The 4-space-indented block that follows the paragraph containing ``marker``."""
    lines = README.split(marker, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    "))
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line[4:])
    return block


def test_the_test_line_states_its_duration() -> None:
    line = next(line for line in README.splitlines() if "python -m pytest" in line and "pip install" in line)
    after = README.split(line, 1)[1].split("\n\n", 2)[1]
    assert re.search(r"took \d+(?:[–-]\d+(?:\.\d+)?)? minutes", after), after
    assert re.search(r"pytest's \d+ tests took", after), after


def test_tox_comes_from_the_project_extras() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("tox") for req in extras["tox"])
    assert "pip install -e '.[tox]'" in README and "tox -e py3,lint,type" in README
    envs = re.findall(r"^\[testenv(?::(\w+))?\]", (ROOT / "tox.ini").read_text(), re.M)
    assert {"lint", "type"} <= set(envs) and "" in envs  # [testenv] is py3


def test_hub_demo_runs_as_written_on_a_free_port_and_stops(tmp_path: Path) -> None:
    block = _indented_block_after("Publish two skills into a catalog")
    serve = next(line for line in block if " hub serve " in line)
    assert "--port 0" in serve and "&" in serve
    assert any(line.startswith("kill %1") for line in block)
    here = tmp_path / "here"
    shutil.copytree(ROOT / "tests" / "fixtures" / "demo-package", here / "tests" / "fixtures" / "demo-package")
    (here / ".venv").mkdir()
    (here / ".venv" / "bin").symlink_to(KIROCLAW_BIN.parent)
    script = "set -euo pipefail\n" + "\n".join(block) + "\nwait\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "KIROHUB_", "WORKSPACE_"))}
    env["WORKSPACE_BASE_PATH"] = str(tmp_path / "workspaces")
    done = subprocess.run(
        ["bash", "-c", script], cwd=here, env=env, capture_output=True, text=True, timeout=180
    )  # ``wait`` returns once ``kill %1`` has stopped the server: the demo ends by itself
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sql-explain 1.0.0 [kirohub]" in done.stdout
    assert "installed sql-explain 1.0.0 (skill, 1 skill, from kirohub) for user 42" in done.stdout
    assert (tmp_path / "workspaces" / "42" / ".kiro" / "skills" / "sql-explain" / "SKILL.md").is_file()
    assert re.search(r"KiroHub serving catalog at http://127\.0\.0\.1:\d+", (here / "hub.log").read_text())


def test_hub_demo_files_are_ignored_by_git() -> None:
    """What the demo leaves in the checkout (the catalog with its download counts, the log) is ignored."""
    if not (ROOT / ".git").exists():
        return  # a source tree without git (an sdist): nothing to ignore
    paths = ["catalog/sql-explain/1.0.0/SKILL.md", "catalog/.kirohub/stats.sqlite3", "hub.log"]
    done = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.stdout.split() == paths, done.stdout + done.stderr
