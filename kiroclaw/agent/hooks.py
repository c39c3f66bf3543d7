"""Event hooks that keep every user's agent file current when their add-ons change.

This module is a core default plugin (``DEFAULT_PLUGINS``). The event hooks carry no host, so its
``startup(host)`` hook registers a small per-host plugin object (:class:`HomeRefresher`) on that host's
plugin manager; :class:`~kiroclaw.agent.runtime.AgentRuntime` does the same when it is created. The
refresher regenerates ``agents/<KIRO_AGENT_NAME>.json`` of the affected user after ``addon_installed``,
``addon_removed``, ``addon_updated`` and ``addon_toggled`` in a user scope. A running agent picks the
change up at its next turn (the runtime restarts it when its inputs changed). Imports nothing heavy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..host import Host
    from ..models import AddonRecord
    from ..workspaces import Scope

log = logging.getLogger(__name__)

REFRESHER_NAME = "kiroclaw.agent.home-refresher"


class HomeRefresher:
    """Per-host plugin: regenerate a user's agent file after an add-on event in their scope."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def _refresh(self, scope: Scope) -> None:
        if scope.kind != "user" or scope.user_id is None:
            return  # global changes reach each user at their agent's next start
        home = self.host.paths(scope).kiro_home
        if not (home / "agents").is_dir():
            return  # never provisioned: the first start writes everything
        from .home import write_agent_file

        try:
            write_agent_file(self.host, scope.user_id)
        except Exception:
            log.exception("could not refresh the agent file of %s", scope.label)

    @hookimpl
    def addon_installed(self, addon: AddonRecord, scope: Scope) -> None:
        self._refresh(scope)

    @hookimpl
    def addon_removed(self, addon: AddonRecord, scope: Scope) -> None:
        self._refresh(scope)

    @hookimpl
    def addon_updated(self, addon: AddonRecord, previous: AddonRecord, scope: Scope) -> None:
        self._refresh(scope)

    @hookimpl
    def addon_toggled(self, addon: AddonRecord, scope: Scope, enabled: bool) -> None:
        self._refresh(scope)


def ensure_refresher(host: Host) -> HomeRefresher:
    """Register the host's :class:`HomeRefresher` once (idempotent) and return it."""
    existing = host.pm.get_plugin(REFRESHER_NAME)
    if isinstance(existing, HomeRefresher):
        return existing
    refresher = HomeRefresher(host)
    host.pm.register(refresher, name=REFRESHER_NAME)
    return refresher


@hookimpl
def startup(host: Host) -> None:
    ensure_refresher(host)
