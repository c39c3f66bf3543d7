"""Where the add-ons live, read without pydantic-settings: for the CLI's read-only commands.

``kiroclaw addon list`` needs two settings, ``WORKSPACE_BASE_PATH`` and ``GLOBAL_ADDONS_PATH``. Importing
pydantic-settings alone costs about 9× a bare ``python -c pass`` in CPU (it imports asyncio and every
settings source), so these two are read here by the same rules as :class:`kiroclaw.config.Settings`:
environment variables (names case-insensitive) win over ``.env`` in the working folder, which is parsed
by python-dotenv, the parser pydantic-settings itself uses. ``tests/core/test_storage_paths.py`` checks
that both readers agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: ``Settings.workspace_base_path``'s default.
DEFAULT_WORKSPACE = Path("workspaces")


def absolute_path(path: Path) -> Path:
    """``path`` with ``~`` expanded, joined to the current folder and normalised (``./workspaces`` →
    ``/srv/bot/workspaces``): how every path setting is read (:func:`kiroclaw.config.absolute_paths`)."""
    return Path(os.path.abspath(path.expanduser()))


def _value(name: str, environ: Mapping[str, str], dotenv: Mapping[str, str | None]) -> str | None:
    wanted = name.lower()
    for source in (environ, dotenv):
        for key, value in source.items():
            if key.lower() == wanted and value is not None:
                return value
    return None


def setting_text(
    name: str, env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None
) -> str | None:
    """A setting's text as given (the environment first, then ``env_file``), or ``None`` when unset."""
    return _value(name, os.environ if environ is None else environ, _dotenv(env_file))


def _dotenv(env_file: Path | None) -> Mapping[str, str | None]:
    if env_file is None or not env_file.is_file():
        return {}
    from dotenv import dotenv_values

    return dotenv_values(env_file, encoding="utf-8")


def storage_roots(env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """(workspace root, global scope root) as :class:`~kiroclaw.config.Settings` would read them.

    :param env_file: the ``.env`` file (missing is fine); ``None`` reads the environment only.
    :param environ: the environment (default ``os.environ``).
    :returns: ``WORKSPACE_BASE_PATH`` (default ``workspaces``) and ``GLOBAL_ADDONS_PATH`` (default
        ``WORKSPACE_BASE_PATH/_global``), made absolute against the working folder as the settings are.
    """
    dotenv = _dotenv(env_file)
    env = os.environ if environ is None else environ
    workspace = _value("WORKSPACE_BASE_PATH", env, dotenv)
    global_path = _value("GLOBAL_ADDONS_PATH", env, dotenv)
    root = absolute_path(Path(workspace) if workspace else DEFAULT_WORKSPACE)
    return root, absolute_path(Path(global_path)) if global_path else root / "_global"
