"""Scopes and the on-disk layout of each scope (ARCHITECTURE §5).

A scope is one Telegram user (``user``) or everyone (``global``). Every path KiroClaw writes for a scope
is derived here, so no other module builds workspace paths by hand::

    {root}/addons.json                      the scope's add-on registry
    {root}/.kiro/skills/<name>/SKILL.md     standalone skills
    {root}/.kiro/plugins/<org@repo>/...     plugin packages (skills/, recipes/)
    {root}/.kiro/recipes/**.md              standalone recipes
    {base}/.kiroclaw-staging/{user_id}/     staging area for a user's installs: outside every user's folder
                                            (same filesystem, 0700, removed after use; ``{root}/.staging``
                                            for paths built without a staging root)
    {root}/.lock                            the inter-process lock file
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import SpecError, StorageError

_USER_ID = re.compile(r"^[1-9][0-9]{0,19}\Z")


@dataclass(frozen=True)
class Scope:
    """Whose add-ons: one Telegram user, or the global scope every user inherits.

    :ivar kind: ``"user"`` or ``"global"``.
    :ivar user_id: the Telegram user id (a positive int) for ``user``; ``None`` for ``global``.
    """

    kind: Literal["user", "global"]
    user_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "user":
            if self.user_id is None or not _USER_ID.match(str(self.user_id)):
                raise SpecError(f"invalid user id {self.user_id!r}: expected a positive number")
        elif self.user_id is not None:
            raise SpecError("the global scope has no user id")

    @classmethod
    def user(cls, user_id: int | str) -> Scope:
        """A user scope from an int or a decimal string; :raises SpecError: if not a positive id."""
        text = str(user_id).strip()
        if not _USER_ID.match(text):
            raise SpecError(f"invalid user id {user_id!r}: expected a positive number")
        return cls("user", int(text))

    @classmethod
    def global_(cls) -> Scope:
        """The global scope."""
        return cls("global", None)

    @property
    def label(self) -> str:
        """``user 42`` or ``global`` (messages, audit log)."""
        return f"user {self.user_id}" if self.kind == "user" else "global"


@dataclass(frozen=True)
class ScopePaths:
    """Every path of one scope, derived from its root folder."""

    root: Path
    #: Where installs stage, outside the user's folder (the agent's reach); ``None`` = ``{root}/.staging``.
    staging_root: Path | None = None

    @property
    def registry_file(self) -> Path:
        return self.root / "addons.json"

    @property
    def kiro_home(self) -> Path:
        """The scope's ``.kiro`` folder; for a user it is the agent's ``KIRO_HOME``."""
        return self.root / ".kiro"

    @property
    def skills_dir(self) -> Path:
        return self.kiro_home / "skills"

    @property
    def plugins_dir(self) -> Path:
        return self.kiro_home / "plugins"

    @property
    def recipes_dir(self) -> Path:
        return self.kiro_home / "recipes"

    @property
    def staging_dir(self) -> Path:
        return self.staging_root if self.staging_root is not None else self.root / ".staging"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def thread_dir(self, thread_id: int | str) -> Path:
        """cwd of one Telegram thread's ACP session (``{root}/{thread_id}``); thread 0 = no topic."""
        text = str(thread_id)
        if not re.fullmatch(r"[0-9]{1,20}", text):
            raise SpecError(f"invalid thread id {thread_id!r}")
        return self.root / text


#: Folder beside the user folders (``WORKSPACE_BASE_PATH``) that holds every scope's staging area.
STAGING_FOLDER = ".kiroclaw-staging"


def staging_root(base: Path, global_root: Path, scope: Scope) -> Path:
    """Where ``scope`` stages installs: ``base/.kiroclaw-staging/{user_id}`` (beside, not inside, the user's
    folder: an agent confined to its folder cannot reach it; same filesystem, so the final rename is atomic),
    ``{global_root's parent}/.kiroclaw-staging/global`` for the global scope."""
    if scope.kind == "global":
        return global_root.parent / STAGING_FOLDER / "global"
    return base / STAGING_FOLDER / str(scope.user_id)


def scope_root(base: Path, global_root: Path, scope: Scope) -> Path:
    """The root folder of ``scope``: ``base/{user_id}`` or ``global_root``.

    :param base: ``WORKSPACE_BASE_PATH``.
    :param global_root: ``Settings.global_root``.
    """
    if scope.kind == "global":
        return global_root
    return base / str(scope.user_id)


def unwritable(scope: Scope, workspace: Path, exc: OSError) -> StorageError:
    """The error of a scope's folder under ``workspace`` (``WORKSPACE_BASE_PATH``) that cannot be created:
    a problem of the server's set-up, with the operator's fix."""
    return StorageError(
        f"cannot create the add-on folder of {scope.label}",
        detail=str(exc),
        fix=f"give the bot's OS user write access to WORKSPACE_BASE_PATH ({workspace}), or point it at a "
        "writable folder; `kiroclaw doctor` checks it",
        server=True,
    )
