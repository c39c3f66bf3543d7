"""Property tests (hypothesis) for the small parsers whose mistakes would be security or correctness bugs."""

from __future__ import annotations

from pathlib import PurePosixPath

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kiroclaw.addons import check_addon_name, package_dir_for
from kiroclaw.errors import SpecError
from kiroclaw.registry import record_path_problem
from kiroclaw.resolver import _simple_frontmatter

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(TEXT)
def test_package_dir_is_one_safe_segment_or_refused(name: str) -> None:
    try:
        folder = package_dir_for(name)
    except SpecError:
        return
    assert "/" not in folder and "\\" not in folder and "\x00" not in folder
    assert folder not in {".", ".."} and not folder.startswith(".")
    assert len(PurePosixPath(folder).parts) == 1


@given(TEXT)
def test_addon_names_have_no_empty_dot_dot_or_absolute_segments(name: str) -> None:
    try:
        check_addon_name(name)
    except SpecError:
        return
    parts = name.split("/")
    assert all(part and part not in {".", ".."} for part in parts)


@given(st.lists(st.sampled_from([".kiro", "skills", "plugins", "..", ".", "", "a", "b@c", "/", "\\"]), max_size=5))
def test_safe_record_paths_stay_inside_the_scope(parts: list[str]) -> None:
    path = "/".join(parts)
    if record_path_problem(path) is None:
        pure = PurePosixPath(path)
        assert not pure.is_absolute() and ".." not in pure.parts and pure.parts[0] == ".kiro"


VALUES = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10),
    st.sampled_from(["yes", "no", "on", "null", "~", "1.5", "0x1F", "1_000", "2026-01-01", "'q'", '"q"', "a: b"]),
)
KEYS = st.sampled_from(["name", "description", "license", "metadata", "allowed-tools"])


@settings(max_examples=1000)
@given(st.lists(st.tuples(KEYS, VALUES, st.booleans()), min_size=1, max_size=5))
def test_fast_frontmatter_never_disagrees_with_yaml(entries: list[tuple[str, str, bool]]) -> None:
    lines = []
    for key, value, nested in entries:
        lines.append(f"{key}: {value}\n" if not nested else f"{key}:\n  sub: {value}\n  other: {value}\n")
    fast = _simple_frontmatter(lines)
    if fast is None:
        return
    try:
        full = yaml.safe_load("".join(lines))
    except yaml.YAMLError:
        raise AssertionError(f"fast path accepted what YAML rejects: {lines!r}") from None
    assert isinstance(full, dict)
    for key, value in fast.items():
        assert full.get(key) == value, (lines, key)
