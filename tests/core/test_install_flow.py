"""End-to-end installs through ``host.addons`` with the real local source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiroclaw.errors import AlreadyInstalledError, NotFoundError
from kiroclaw.registry import MARKER_FILE
from kiroclaw.workspaces import Scope
from tests.conftest import DEMO_PACKAGE, write_skill

USER = Scope.user(42)


async def test_demo_package_installs_with_qualified_names(host) -> None:
    result = await host.addons.install(str(DEMO_PACKAGE), USER)
    record = result.record
    assert record.name == "demo-package"
    assert record.kind == "plugin"
    assert record.path == ".kiro/plugins/demo-package"
    assert record.skills == ["code-review", "commit-message", "release-notes", "sql-explain"]
    assert record.recipes == ["ralph/init", "ralph/iterate", "review/pr"]
    root = host.paths(USER).root
    marker = json.loads((root / record.path / MARKER_FILE).read_text())
    assert marker["name"] == "demo-package"
    effective = host.effective_set(42)
    assert [s.qualified_name for s in effective.skills] == [f"demo-package/{n}" for n in record.skills]
    assert [r.qualified_name for r in effective.recipes] == [f"demo-package/{r}" for r in record.recipes]
    assert host.effective_set(43).skills == []


async def test_single_skill_folder_named_after_frontmatter(host, tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "src", "weather-api", folder="some-checkout")
    result = await host.addons.install(str(skill), USER)
    assert result.record.path == ".kiro/skills/weather-api"
    assert (host.paths(USER).root / ".kiro/skills/weather-api/SKILL.md").is_file()
    with pytest.raises(AlreadyInstalledError):
        await host.addons.install(str(skill), USER)
    again = await host.addons.install(str(skill), USER, force=True)
    assert again.replaced is not None
    removed = await host.addons.remove("weather-api", USER)
    assert removed.name == "weather-api"
    assert not (host.paths(USER).root / ".kiro/skills/weather-api").exists()
    with pytest.raises(NotFoundError):
        host.addons.get("weather-api", USER)
