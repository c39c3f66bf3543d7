"""Every CLI command takes -v/--verbose and --debug; a mistyped command gets a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_kiroclaw

COMMANDS = [
    ("addon", "list"),
    ("addon", "install"),
    ("skills",),
    ("recipes",),
    ("plugins",),
    ("doctor",),
    ("fsck",),
    ("audit",),
    ("hub", "serve"),
    ("run",),
    ("playground",),
]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"WORKSPACE_BASE_PATH": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin", **extra}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_verbose_and_debug(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = run_kiroclaw(*command, "--help", env=_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "-v, --verbose" in done.stdout and "--debug" in done.stdout, done.stdout


def test_a_mistyped_command_names_the_closest(tmp_path: Path) -> None:
    done = run_kiroclaw("adon", "list", env=_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "no command 'adon'; did you mean 'addon'?" in done.stderr
    done = run_kiroclaw("addon", "lst", env=_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and "Did you mean 'list'?" in done.stderr


def test_debug_adds_the_traceback_verbose_does_not(tmp_path: Path) -> None:
    env = _env(tmp_path, MAX_PROCESSES="0")
    plain = run_kiroclaw("skills", "--user", "1", env=env, cwd=tmp_path)
    assert plain.returncode == 2
    assert plain.stderr.strip() == "error: MAX_PROCESSES: '0' is too small: the least is 1"
    debug = run_kiroclaw("skills", "--user", "1", "--debug", env=env, cwd=tmp_path)
    assert debug.returncode == 2
    assert debug.stderr.startswith("error: MAX_PROCESSES: '0' is too small: the least is 1\n")
    assert "Traceback (most recent call last)" in debug.stderr and "ConfigError" in debug.stderr
    verbose = run_kiroclaw("skills", "--user", "1", "-v", env=env, cwd=tmp_path)
    assert "Traceback" not in verbose.stderr and "detail: ValidationError" in verbose.stderr
