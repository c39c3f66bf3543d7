"""The typed, frozen event value every add-on event hook receives (with the host).

``addon_event`` gets one :class:`AddonEvent` for every operation, refusals and policy decisions included
(the audit log's input); ``addon_installed``, ``addon_removed``, ``addon_updated`` and ``addon_toggled``
get the same value for the change they announce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .models import AddonRecord
    from .workspaces import Scope

EventAction = Literal["install", "update", "remove", "enable", "disable", "policy"]
EventOutcome = Literal["ok", "refused", "failed"]


@dataclass(frozen=True)
class AddonEvent:
    """One add-on operation and how it ended.

    :ivar action: ``install``, ``update``, ``remove``, ``enable``, ``disable`` or ``policy`` (a non-allow
        decision of a ``check_addon`` hook).
    :ivar outcome: ``ok``, ``refused`` (an expected error: ``reason`` is its user message) or ``failed``
        (a bug: ``reason`` is the exception's type name).
    :ivar scope: where it happened.
    :ivar record: the add-on's registry record after the change (before it, for ``remove``), or ``None``
        when the operation was refused before a record existed.
    :ivar previous: for ``update``: the record it replaced.
    :ivar spec: what the user typed (when there is no record).
    :ivar name: the add-on's name (when there is no record).
    :ivar source: the source's name (when there is no record).
    :ivar reason: why (refusals, failures, policy decisions, "already enabled"), else ``None``.
    """

    action: EventAction
    outcome: EventOutcome
    scope: Scope
    record: AddonRecord | None = None
    previous: AddonRecord | None = None
    spec: str | None = None
    name: str | None = None
    source: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The audit log's fields: ``action, outcome, scope ("user 42"|"global"), user (int|None), spec,
        name, source, version, commit, fingerprint, reason`` (values ``None`` when unknown)."""
        record = self.record
        return {
            "action": self.action,
            "outcome": self.outcome,
            "scope": self.scope.label,
            "user": self.scope.user_id,
            "spec": record.spec if record is not None else self.spec,
            "name": record.name if record is not None else self.name,
            "source": record.source if record is not None else self.source,
            "version": record.version if record is not None else None,
            "commit": record.origin.get("commit") if record is not None else None,
            "fingerprint": (record.fingerprint or None) if record is not None else None,
            "reason": self.reason,
        }
