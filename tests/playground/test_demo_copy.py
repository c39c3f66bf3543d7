"""The playground ships a copy of the demo package; it must stay the same as the test fixture."""

from __future__ import annotations

from pathlib import Path

from kiroclaw.playground import demo_package_path
from tests.conftest import DEMO_PACKAGE


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_shipped_demo_package_is_the_fixture() -> None:
    assert _files(demo_package_path()) == _files(DEMO_PACKAGE), (
        "kiroclaw/playground/demo-package drifted from tests/fixtures/demo-package; copy the fixture over it"
    )
