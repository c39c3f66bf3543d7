"""A confirmation of a GitHub install is bound to the commit the user was shown: a push between the
warning and the confirmation makes the confirmation fail with "changed since you confirmed"."""

from __future__ import annotations

from pathlib import Path

import pytest

import kiroclaw
from kiroclaw.config import Settings
from kiroclaw.errors import ConfirmationChangedError, ConfirmationRequired
from kiroclaw.host import Host
from kiroclaw.workspaces import Scope
from tests.acquire.conftest import GitBase
from tests.conftest import snapshot

USER = Scope.user(42)
#: lock files and the audit log (it records refusals on purpose; per user under .kiroclaw-audit/)
AUDIT = (".lock", "audit.log", ".kiroclaw-audit", ".kiroclaw-audit/42.log", ".kiroclaw-audit/42.log.lock")


class AlwaysWarns:
    """An install policy that asks about every add-on (as a scanner's ``warn`` would)."""

    @kiroclaw.hookimpl
    def check_addon(self, addon):  # type: ignore[no-untyped-def]
        return kiroclaw.warn("test policy: please look at this add-on")


async def test_repo_head_moved_between_warning_and_confirmation(
    acq_settings: Settings, git_base: GitBase, workspace: Path
) -> None:
    host = Host(acq_settings, extra_plugins=[("always-warns", AlwaysWarns())])
    repo = git_base.repo("org", "tool")
    repo.root_skill("tool-skill")
    first = repo.commit("first")
    with pytest.raises(ConfirmationRequired) as asked:
        await host.addons.install("org/tool", USER)
    assert asked.value.inspected.resolved == first and asked.value.inspected.fingerprint
    repo.write("extra.md", "pushed after the warning\n")
    second = repo.commit("second")
    before = snapshot(workspace, ignore=AUDIT)  # the audit log records refusals
    with pytest.raises(ConfirmationChangedError, match="changed since you confirmed; review it again"):
        await host.addons.install("org/tool", USER, confirmed=asked.value.inspected)
    assert snapshot(workspace, ignore=AUDIT) == before
    with pytest.raises(ConfirmationRequired) as again:
        await host.addons.install("org/tool", USER)
    result = await host.addons.install("org/tool", USER, confirmed=again.value.inspected)
    assert result.record.origin["commit"] == second
