"""Reading ``addons.json`` with the standard library alone: the path of ``kiroclaw addon list``.

Importing pydantic and building the registry's models costs about 3× a bare ``python -c pass`` in CPU,
more than the rest of ``addon list`` together, so the list reads the registry here instead. This reader
vouches only for what it checks completely: every record field has exactly the JSON type the writer
writes (``str``, ``bool``, list of ``str``, ``int``, ISO 8601 timestamps as pydantic writes them), unknown
keys are ignored as the models ignore them, and the document rules below hold. For anything else
:func:`read_listing` answers ``None`` and the caller reads the file through
:func:`kiroclaw.registry.load_registry`, whose models decide — and which moves a corrupt file aside and
rebuilds it. So a document this reader accepts is one the models accept with the same values
(``tests/core/test_registry_read.py`` checks that by property, and that :data:`FIELDS` matches
:class:`kiroclaw.models.AddonRecord`).

The document rules (shape, ``schema_version``, safe record paths, unique names and folders) live here and
serve both readers: :func:`kiroclaw.registry.parse_registry` calls :func:`raw_document` and
:func:`check_records`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

#: Version of the ``addons.json`` schema this code writes; older files are migrated on read.
REGISTRY_SCHEMA_VERSION = 1
#: Largest ``addons.json`` we read, in bytes (20 add-ons take a few KiB; this is a sanity cap).
MAX_REGISTRY_BYTES = 16 * 1024 * 1024

#: The timestamps pydantic writes (``2026-01-01T12:00:00.123456Z``) and the offsets it also reads.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?\Z", re.ASCII)


class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...


def record_path_problem(path: str) -> str | None:
    """Why a record's ``path`` is not a safe folder under the scope root (``None``: it is safe).

    A safe path is relative, POSIX, without ``.``/``..`` segments or backslashes, and lies under
    ``.kiro/skills/``, ``.kiro/plugins/`` or ``.kiro/recipes/`` (one segment below).
    """
    if not path or "\\" in path or "\x00" in path:
        return "empty or malformed path"
    pure = PurePosixPath(path)
    if pure.is_absolute():
        return "absolute path"
    parts = pure.parts
    if any(part in {"", ".", ".."} for part in parts) or path != pure.as_posix():
        return "path with '.' or '..' segments"
    if len(parts) != 3 or parts[0] != ".kiro" or parts[1] not in {"skills", "plugins", "recipes"}:
        return "path outside .kiro/skills, .kiro/plugins or .kiro/recipes"
    return None


def raw_document(data: bytes) -> dict[str, Any]:
    """The JSON object of an ``addons.json``, with its shape and ``schema_version`` checked.

    :raises ValueError: with a short reason (not JSON, not a registry document, unknown schema_version).
    """
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("addons", []), list):
        raise ValueError("not a registry document")
    version = raw.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= REGISTRY_SCHEMA_VERSION:
        raise ValueError(f"unknown schema_version {version!r}")
    return raw


def check_records(records: Iterable[_Named]) -> None:
    """The rules across a document's records: safe paths, unique names, one record per folder.

    :raises ValueError: naming the add-on and the broken rule.
    """
    names: set[str] = set()
    paths: set[str] = set()
    for record in records:
        problem = record_path_problem(record.path)
        if problem:
            raise ValueError(f"add-on {record.name!r} has an unsafe path ({problem})")
        if record.name in names:
            raise ValueError(f"add-on {record.name!r} is listed twice")
        if record.path in paths:
            raise ValueError(f"two add-ons share the folder {record.path!r}")
        names.add(record.name)
        paths.add(record.path)


@dataclass(frozen=True)
class ListedRecord:
    """One registry record as ``addon list`` shows it: the fields of :class:`kiroclaw.models.AddonRecord`,
    same names, types and defaults (see there for their meaning)."""

    name: str
    source: str
    spec: str
    kind: str
    path: str
    installed_at: datetime
    version: str | None = None
    enabled: bool = True
    skills: list[str] = field(default_factory=list)
    recipes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    description: str | None = None
    updated_at: datetime | None = None
    origin: dict[str, str] = field(default_factory=dict)
    pinned: bool = False
    fingerprint: str = ""
    size_bytes: int = 0


class _Unvouched(ValueError):
    """A value this reader does not vouch for: the models decide."""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unvouched
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _kind(value: Any) -> str:
    if not isinstance(value, str) or value not in ("skill", "plugin"):
        raise _Unvouched
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Unvouched
    return value


def _texts(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Unvouched
    return value


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise _Unvouched
    return value


def _count(value: Any) -> int:
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise _Unvouched
    return value


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise _Unvouched
    return datetime.fromisoformat(value)  # ValueError (out of range) is unvouched too


def _optional_timestamp(value: Any) -> datetime | None:
    return None if value is None else _timestamp(value)


_REQUIRED = object()
#: Each field of a record: how its JSON value is read, and its default (``_REQUIRED``: none; a record
#: without ``installed_at`` is left to the models, which stamp it).
FIELDS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "name": (_text, _REQUIRED),
    "version": (_optional_text, None),
    "source": (_text, _REQUIRED),
    "spec": (_text, _REQUIRED),
    "kind": (_kind, _REQUIRED),
    "path": (_text, _REQUIRED),
    "enabled": (_flag, True),
    "skills": (_texts, list),
    "recipes": (_texts, list),
    "skipped": (_texts, list),
    "warnings": (_texts, list),
    "description": (_optional_text, None),
    "installed_at": (_timestamp, _REQUIRED),
    "updated_at": (_optional_timestamp, None),
    "origin": (_text_map, dict),
    "pinned": (_flag, False),
    "fingerprint": (_text, ""),
    "size_bytes": (_count, 0),
}


def listed_record(item: Any) -> ListedRecord:
    """One record of the JSON document.

    :raises ValueError: this reader does not vouch for it (the models decide).
    """
    if not isinstance(item, dict):
        raise _Unvouched
    values: dict[str, Any] = {}
    for name, (read, default) in FIELDS.items():
        if name in item:
            values[name] = read(item[name])
        elif default is _REQUIRED:
            raise _Unvouched
        else:
            values[name] = default() if callable(default) else default
    return ListedRecord(**values)


def parse_listing(data: bytes) -> list[ListedRecord] | None:
    """The records of an ``addons.json``'s bytes, in file order.

    :returns: ``None`` when this reader does not vouch for the document (too large, invalid, or a value
        outside the plain forms above): the models decide (:func:`kiroclaw.registry.parse_registry`).
    """
    if len(data) > MAX_REGISTRY_BYTES:
        return None
    try:
        records = [listed_record(item) for item in raw_document(data).get("addons", [])]
        check_records(records)
    except ValueError:
        return None
    return records


def read_listing(path: Path) -> list[ListedRecord] | None:
    """The records of the registry file at ``path`` (:func:`parse_listing`); ``[]`` when it does not exist.

    :returns: ``None`` when this reader does not vouch for the file (unreadable, or see
        :func:`parse_listing`): read it with :func:`kiroclaw.registry.load_registry`, which reports or
        repairs it. Never raises for the file's content or an I/O error.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_REGISTRY_BYTES + 1)
    except FileNotFoundError:
        return []
    except OSError:
        return None
    return parse_listing(data)
