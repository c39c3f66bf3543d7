"""``addons.json``: atomic writes, corrupt files moved aside (never emptied), unsafe paths, markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiroclaw.errors import RegistryCorruptError
from kiroclaw.models import AddonRecord, RegistryDocument
from kiroclaw.registry import (
    MARKER_FILE,
    dump_registry,
    iter_markers,
    load_registry,
    read_marker,
    record_path_problem,
    save_registry,
    write_marker,
)
from kiroclaw.workspaces import Scope, ScopePaths
from tests.conftest import write_skill


def _record(name: str = "weather-api", path: str = ".kiro/skills/weather-api") -> AddonRecord:
    return AddonRecord(name=name, source="local", spec="/src", kind="skill", path=path, skills=[name])


def test_missing_file_is_an_empty_registry(tmp_path: Path) -> None:
    assert load_registry(ScopePaths(tmp_path)).addons == []


def test_save_and_load_round_trip_sorted_by_name(tmp_path: Path) -> None:
    paths = ScopePaths(tmp_path / "u")
    doc = RegistryDocument(addons=[_record("zeta", ".kiro/skills/zeta"), _record("alpha", ".kiro/skills/alpha")])
    save_registry(paths, doc)
    loaded = load_registry(paths)
    assert [r.name for r in loaded.addons] == ["alpha", "zeta"]
    data = json.loads(paths.registry_file.read_text())
    assert data["schema_version"] == 1
    assert {"name", "version", "source", "spec", "kind", "enabled", "skills", "recipes", "installed_at",
            "origin", "fingerprint"} <= data["addons"][0].keys()  # fmt: skip
    assert [p.name for p in paths.root.iterdir()] == ["addons.json"]  # no temp file left behind


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"schema_version": 1, "addons": [', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "not a registry document"),
        (b'{"schema_version": 99, "addons": []}', "unknown schema_version 99"),
        (b'{"schema_version": 1, "addons": [{"name": "x"}]}', "wrong schema"),
        (
            b'{"schema_version": 1, "addons": [{"name": "x", "source": "local", "spec": "s", "kind": "skill",'
            b' "path": "../../etc"}]}',
            "unsafe path",
        ),
        (
            b'{"schema_version": 1, "addons": [{"name": "x", "source": "local", "spec": "s", "kind": "skill",'
            b' "path": "/etc/x"}]}',
            "unsafe path",
        ),
    ],
)
def test_corrupt_registry_is_moved_aside_and_reported(tmp_path: Path, content: bytes, reason: str) -> None:
    paths = ScopePaths(tmp_path)
    paths.registry_file.write_bytes(content)
    with pytest.raises(RegistryCorruptError, match=reason) as info:
        load_registry(paths)
    moved = tmp_path / info.value.quarantined_to
    assert info.value.quarantined_to.startswith("addons.json.corrupt-")
    assert moved.read_bytes() == content  # kept byte for byte for inspection
    assert str(tmp_path) not in info.value.user_message


def test_duplicate_names_or_paths_are_corrupt(tmp_path: Path) -> None:
    paths = ScopePaths(tmp_path)
    doc = RegistryDocument(addons=[_record("a", ".kiro/skills/a"), _record("b", ".kiro/skills/a")])
    paths.registry_file.write_bytes(dump_registry(doc))
    with pytest.raises(RegistryCorruptError, match="share the folder"):
        load_registry(paths)


@pytest.mark.parametrize(
    "path", ["", ".kiro", ".kiro/skills", ".kiro/skills/a/b", ".kiro/../x", "./.kiro/skills/a", "a\\b", "/abs"]
)
def test_record_paths_must_stay_in_the_scope(path: str) -> None:
    assert record_path_problem(path) is not None


def test_corrupt_registry_through_the_manager_is_one_clear_error(host) -> None:
    paths = host.paths(Scope.user(42))
    paths.root.mkdir(parents=True)
    paths.registry_file.write_text("{ truncated")
    with pytest.raises(RegistryCorruptError, match="moved aside") as info:
        host.addons.list(Scope.user(42))
    assert info.value.quarantined_to in info.value.user_message


def test_markers_round_trip_and_list_add_on_folders(tmp_path: Path) -> None:
    paths = ScopePaths(tmp_path)
    folder = write_skill(paths.skills_dir, "weather-api")
    write_skill(paths.skills_dir, "hand-placed")
    record = _record()
    write_marker(folder, record)
    assert read_marker(folder) == record
    found = {p.name: r for p, r in iter_markers(paths)}
    assert found == {"hand-placed": None, "weather-api": record}
    (folder / MARKER_FILE).write_text("not json")
    assert read_marker(folder) is None
