"""Add-on name rules, in one place: which names an add-on may have, the folder a package gets under
``.kiro/plugins/``, and the short version shown to users. Sources never derive these themselves.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import SpecError

if TYPE_CHECKING:
    from .models import AddonRecord

#: A package folder under ``.kiro/plugins/``: one safe path segment (``org@repo``, ``my-folder``).
_PACKAGE_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}\Z")
#: An add-on name: segments of letters, digits, ``._@+-`` joined by ``/`` (``org/repo``, ``weather-api``).
_ADDON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*(?:/[A-Za-z0-9][A-Za-z0-9._@+-]*)*\Z")
#: Longest add-on name, in characters.
MAX_NAME_CHARS = 200


def package_dir_for(name: str) -> str:
    """The folder name under ``.kiro/plugins/`` for a package name: ``org/repo`` → ``org@repo``
    (Kodelet's naming).

    :raises SpecError: the result is not one safe path segment.
    """
    candidate = name.replace("/", "@")
    if not _PACKAGE_DIR.match(candidate) or ".." in candidate:
        raise SpecError(f"{name!r} cannot be used as a package folder name")
    return candidate


def check_addon_name(name: str) -> str:
    """Validate an add-on name from a source (``org/repo``, ``weather-api``, ``my-folder``).

    :raises SpecError: empty, too long, or characters outside letters, digits, ``._@+-`` and ``/``.
    """
    if not name or len(name) > MAX_NAME_CHARS or not _ADDON_NAME.match(name) or ".." in name.split("/"):
        raise SpecError(f"{name[:80]!r} is not a valid add-on name")
    return name


def short_version(record: AddonRecord) -> str | None:
    """What to show as an add-on's version: its version, else a short commit, else a short fingerprint."""
    if record.version:
        return record.version
    commit = record.origin.get("commit")
    if commit:
        return commit[:12]
    return record.fingerprint[:12] if record.fingerprint else None
