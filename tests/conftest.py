"""Shared fixtures for every test area: settings in a tmp workspace, a fresh host, skill/package writers.

Areas keep their own fixtures in ``tests/<area>/conftest.py``; what several areas need lives here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from kiroclaw.config import Settings
from kiroclaw.host import Host

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_PACKAGE = FIXTURES / "demo-package"


def write_skill(
    parent: Path,
    name: str,
    description: str = "A test skill that does one small thing well.",
    *,
    folder: str | None = None,
    extra: Mapping[str, object] | None = None,
    body: str = "# Instructions\n\nDo the thing.\n",
    frontmatter: str | None = None,
) -> Path:
    """Write ``parent/<folder or name>/SKILL.md``; ``frontmatter`` replaces the generated YAML verbatim.

    :returns: the skill folder.
    """
    import yaml

    skill_dir = parent / (folder or name)
    skill_dir.mkdir(parents=True, exist_ok=True)
    if frontmatter is None:
        data: dict[str, object] = {"name": name, "description": description, **(extra or {})}
        frontmatter = yaml.safe_dump(data, sort_keys=False)
    (skill_dir / "SKILL.md").write_text(f"---\n{frontmatter}---\n{body}", encoding="utf-8")
    return skill_dir


def write_recipe(
    recipes_dir: Path, recipe_id: str, title: str = "A recipe", *, arguments: Mapping[str, object] | None = None
) -> Path:
    """Write ``recipes_dir/<recipe_id>.md`` in Kodelet's format; :returns: the file."""
    import yaml

    path = recipes_dir / f"{recipe_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, object] = {"name": title, "description": f"{title}, for tests"}
    if arguments:
        data["arguments"] = dict(arguments)
    path.write_text(f"---\n{yaml.safe_dump(data, sort_keys=False)}---\nDo {{{{ x }}}}.\n", encoding="utf-8")
    return path


def write_package(root: Path, skills: Iterable[str] = ("alpha", "beta"), recipes: Iterable[str] = ()) -> Path:
    """A plugin package folder: ``skills/<name>/SKILL.md`` per skill, ``recipes/<id>.md`` per recipe,
    and a README at the top. :returns: ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text(textwrap.dedent(f"# {root.name}\n\nA test package.\n"), encoding="utf-8")
    for name in skills:
        write_skill(root / "skills", name, f"The {name} skill of {root.name}.")
    for rid in recipes:
        arguments = {"target": {"description": "what to work on", "default": "x"}}
        write_recipe(root / "recipes", rid, f"Recipe {rid}", arguments=arguments)
    return root


def snapshot(root: Path, *, ignore: Iterable[str] = (".lock",)) -> dict[str, str]:
    """Every path under ``root`` → sha256 of a file's bytes, ``dir`` or ``link:<target>`` (byte-identity checks)."""
    skip = set(ignore)
    result: dict[str, str] = {}
    if not root.exists():
        return result
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel in skip:
                continue
            if full.is_symlink():
                result[rel] = f"link:{os.readlink(full)}"
            elif full.is_dir():
                result[rel] = "dir"
            else:
                result[rel] = hashlib.sha256(full.read_bytes()).hexdigest()
    return result


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty ``WORKSPACE_BASE_PATH``."""
    path = tmp_path / "workspaces"
    path.mkdir()
    return path


@pytest.fixture
def settings(workspace: Path) -> Settings:
    """Settings with the workspace in ``tmp_path``; ``.env`` and the environment's plugin switches ignored."""
    return Settings(_env_file=None, workspace_base_path=workspace, kiroclaw_disable_plugins=[])  # type: ignore[call-arg]


@pytest.fixture
def host(settings: Settings) -> Host:
    """A fresh host over the installed entry points."""
    return Host(settings)


#: Environment variables a test's ``kiroclaw`` subprocess must not inherit from the machine running the tests.
INHERITED_SETTINGS = ("KIROCLAW_", "MAX_ADDON", "WORKSPACE_", "BOT_TOKEN", "TELEGRAM_", "KIROHUB_SITE")


@pytest.fixture
def cli_env(workspace: Path) -> dict[str, str]:
    """Environment for ``kiroclaw`` subprocesses: the tmp workspace, no inherited plugin switches, and no
    inherited bot token, Bot API or registry site (``doctor`` would ask them: tests stay on loopback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_SETTINGS)}
    env["WORKSPACE_BASE_PATH"] = str(workspace)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


KIROCLAW_BIN = Path(__import__("sys").executable).parent / "kiroclaw"


def run_kiroclaw(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``kiroclaw`` console script as a real subprocess; output captured as text.

    Runs in ``cwd`` or else next to the workspace, so a developer's ``.env`` is never read.
    """
    if cwd is None and "WORKSPACE_BASE_PATH" in env:
        cwd = Path(env["WORKSPACE_BASE_PATH"]).parent
    return subprocess.run(
        [str(KIROCLAW_BIN), *args],
        env=dict(env),
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
