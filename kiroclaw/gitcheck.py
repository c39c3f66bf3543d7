"""``kiroclaw doctor``'s git check: can this server fetch a repository into the workspace, the way the
GitHub source does?

It makes a one-commit bare repository in a scratch folder under the workspace root, then fetches it
(``git fetch --depth=1 file://… HEAD``) into a second bare repository whose ``GIT_DIR`` is given as an
absolute path while git runs in another folder, with no global or system git configuration — the same
shape as a real install. Nothing outside the scratch folder is touched; the folder is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import StorageError

#: Seconds each git command may take.
GIT_CHECK_TIMEOUT_SECONDS = 30.0


def _git(args: list[str], *, cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=GIT_CHECK_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise StorageError(f"git {args[0]} failed", detail=err[-1] if err else f"exit status {done.returncode}")
    return done.stdout.decode("utf-8", "replace").strip()


def check_git_fetch(workspace: Path) -> str:
    """Fetch a throw-away local repository into a scratch folder under ``workspace``.

    :returns: git's version line, e.g. ``git version 2.43.0``.
    :raises StorageError: git is missing, or a step failed (``detail`` holds git's last stderr line).
    """
    git = shutil.which("git")
    if git is None:
        raise StorageError("git is not installed (needed by the GitHub source)", detail="git: not found on PATH")
    scratch = Path(tempfile.mkdtemp(prefix=".doctor-git-", dir=workspace)).absolute()
    try:
        home = scratch / "home"
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": "kiroclaw doctor",
            "GIT_AUTHOR_EMAIL": "doctor@localhost",
            "GIT_COMMITTER_NAME": "kiroclaw doctor",
            "GIT_COMMITTER_EMAIL": "doctor@localhost",
        }
        version = _git(["--version"], cwd=home, env=env)
        origin = scratch / "origin.git"
        _git(["init", "--quiet", "--bare", str(origin)], cwd=home, env=env)
        origin_env = {**env, "GIT_DIR": str(origin)}
        blob = _git(["hash-object", "-w", "--stdin"], cwd=home, env=origin_env, stdin=b"ok\n")
        tree = _git(["mktree"], cwd=home, env=origin_env, stdin=f"100644 blob {blob}\tSKILL.md\n".encode())
        commit = _git(["commit-tree", tree, "-m", "doctor"], cwd=home, env=origin_env)
        _git(["update-ref", "HEAD", commit], cwd=home, env=origin_env)
        target = scratch / "fetch.git"
        _git(["init", "--quiet", "--bare", str(target)], cwd=home, env=env)
        fetch_env = {**env, "GIT_DIR": str(target), "GIT_ALLOW_PROTOCOL": "file"}
        _git(["fetch", "--quiet", "--depth=1", f"file://{origin}", "HEAD"], cwd=home, env=fetch_env)
        fetched = _git(["rev-parse", "FETCH_HEAD"], cwd=home, env=fetch_env)
        if fetched != commit:
            raise StorageError("git fetched the wrong commit", detail=f"expected {commit}, got {fetched}")
        return version
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StorageError("git could not be run", detail=str(exc)) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
