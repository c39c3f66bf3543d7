"""Confirmations are bound to what the user saw: when the registry's latest version changes between the
warning and the confirmation, the confirmation is refused ("changed since you confirmed")."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiroclaw.errors import ConfirmationChangedError, ConfirmationRequired
from kiroclaw.workspaces import Scope
from tests.hub.conftest import Hub, write_version
from tests.hub.test_source import snapshot

USER = Scope.user(42)


async def test_registry_version_changed_between_warning_and_confirmation(make_host, hub: Hub, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    host = make_host(hub.url)
    with pytest.raises(ConfirmationRequired) as asked:
        await host.addons.install("shady-tool", USER)
    assert asked.value.inspected.resolved == "0.1.0"
    write_version(hub.catalog, "shady-tool", "0.2.0")  # the registry moves on before the user taps
    before = snapshot(workspace)
    with pytest.raises(ConfirmationChangedError, match="the add-on changed since you confirmed; review it again"):
        await host.addons.install("shady-tool", USER, confirmed=asked.value.inspected)
    assert snapshot(workspace) == before
    assert not hub.hits("/api/v1/download"), "nothing may be downloaded on a stale confirmation"
    # confirming what the registry offers now installs exactly that
    with pytest.raises(ConfirmationRequired) as again:
        await host.addons.install("shady-tool", USER)
    result = await host.addons.install("shady-tool", USER, confirmed=again.value.inspected)
    assert result.record.version == "0.2.0"
