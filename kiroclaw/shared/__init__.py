"""Shared state and routed workers (``REDIS_URL``): see ``docs/scaling.md``.

:func:`open_state` picks the implementation: :class:`~kiroclaw.shared.state.MemoryState` without
``REDIS_URL`` (one process, today's behaviour), :class:`~kiroclaw.shared.redis_state.RedisState` with it.
"""

from __future__ import annotations

from .settings import ScaleSettings, load_scale_settings
from .state import UNAVAILABLE, MemoryState, SharedState, StateUnavailableError

__all__ = [
    "UNAVAILABLE",
    "MemoryState",
    "ScaleSettings",
    "SharedState",
    "StateUnavailableError",
    "load_scale_settings",
    "open_state",
]


def open_state(settings: ScaleSettings | None = None) -> SharedState:
    """The shared state for ``settings`` (default: read from the environment)."""
    settings = settings or load_scale_settings()
    if not settings.redis_url:
        return MemoryState(settings.worker_name)
    from .redis_state import RedisState

    return RedisState(
        settings.redis_url,
        settings.worker_name,
        pool_size=settings.redis_pool_size,
        timeout_seconds=settings.redis_timeout_seconds,
        heartbeat_ttl_seconds=settings.heartbeat_ttl_seconds,
        lease_seconds=settings.install_lease_seconds,
        dedup_seconds=settings.update_dedup_seconds,
    )
