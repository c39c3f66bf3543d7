# ruff: noqa: B027  (the base class's empty hooks are the single-process behaviour, not forgotten bodies)
"""Shared state behind one interface: :class:`MemoryState` (one process, the embedded default) and
:class:`~kiroclaw.shared.redis_state.RedisState` (``REDIS_URL``: every worker sees the same state).

What lives here is never of record (a restart of Redis expires buttons and resets rate windows): inline
button payloads, the install rate limit and the one-install-at-a-time slot, which worker runs a turn,
update de-duplication, worker heartbeats and which worker holds which agent. Key design:
``docs/scaling.md``.

Every method of a shared implementation raises :class:`StateUnavailableError` when the store cannot be
reached; installs and buttons show its one line, chat paths log it and carry on.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import KiroclawError

#: what installs and buttons answer while the shared store is down.
UNAVAILABLE = "installs and buttons are temporarily unavailable, try again in a minute"

CancelCallback = Callable[[int, int], Awaitable[None]]


class StateUnavailableError(KiroclawError):
    """The shared store (Redis) cannot be reached; the operation did not happen."""

    code = "unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(UNAVAILABLE, detail=detail)


class SharedState(ABC):
    """The operations workers share. ``worker`` names this process in the worker set.

    :ivar shared: ``True`` when other processes see the same state (Redis).
    """

    shared: bool = False

    def __init__(self, worker: str) -> None:
        self.worker = worker
        #: this run of the worker: a restarted worker of the same name is a different instance.
        self.instance = secrets.token_hex(4)

    @property
    def me(self) -> str:
        """``{worker}/{instance}``: this run of this worker."""
        return f"{self.worker}/{self.instance}"

    # --- inline buttons -----------------------------------------------------------------------
    @abstractmethod
    async def put_button(self, user_id: int, payload: dict[str, Any], *, one_shot: bool, ttl_seconds: float) -> str:
        """Store a button payload for ``user_id``; returns a token of ≤ 10 characters for ``callback_data``."""

    @abstractmethod
    async def take_button(self, token: str, user_id: int) -> dict[str, Any] | None:
        """The payload if it exists, is fresh and belongs to ``user_id`` (else ``None``); a one-shot
        payload is deleted in the same step, so of two presses delivered at once exactly one gets it."""

    # --- install rate limit and slot ----------------------------------------------------------
    @abstractmethod
    async def rate_take(self, user_id: int, limit: int, window_seconds: float) -> tuple[str | None, float]:
        """Use one unit of the user's sliding window. :returns: (member to refund, 0) when allowed,
        (``None``, seconds until a unit frees up) when the limit is reached."""

    @abstractmethod
    async def rate_refund(self, user_id: int, member: str) -> None:
        """Give back the unit ``member`` (an install refused before reaching its source)."""

    @abstractmethod
    async def slot_acquire(self, user_id: int) -> str | None:
        """Take the user's one install slot. :returns: a token for :meth:`slot_release`, ``None`` if busy."""

    @abstractmethod
    async def slot_release(self, user_id: int, token: str) -> None:
        """Free the slot if ``token`` still holds it."""

    # --- turns, drafts and cancels ------------------------------------------------------------
    async def turn_claim(self, user_id: int, thread_id: int) -> None:
        """Record that this worker runs the turn of (user, thread)."""

    async def turn_release(self, user_id: int, thread_id: int) -> None:
        """Forget the turn of (user, thread) if this worker holds it."""

    async def turn_owner(self, user_id: int, thread_id: int) -> str | None:
        """The worker running the turn of (user, thread), or ``None``."""
        return None

    async def publish_cancel(self, worker: str, user_id: int, thread_id: int) -> int:
        """Ask ``worker`` to cancel the turn of (user, thread). :returns: how many processes heard it."""
        return 0

    async def listen_cancels(self, callback: CancelCallback) -> None:
        """Run ``callback(user, thread)`` for every cancel addressed to this worker until cancelled."""
        await asyncio.Event().wait()

    async def draft_put(self, chat_id: int, draft_id: int, user_id: int, thread_id: int) -> None:
        """Publish a live draft so the stop button under it works from any worker."""

    async def draft_drop(self, chat_id: int, draft_id: int) -> None:
        """Forget a live draft."""

    async def draft_owner(self, chat_id: int, draft_id: int) -> tuple[int, int] | None:
        """(user, thread) of a live draft started on any worker, or ``None``."""
        return None

    # --- updates, heartbeats and agents -------------------------------------------------------
    async def update_claim(self, update_id: int) -> bool:
        """``True`` if this worker should handle the update: first sight, or the worker that took it
        earlier is dead. ``False`` for a duplicate (handled, or being handled by a live worker)."""
        return True

    async def update_done(self, update_id: int) -> None:
        """Mark the update handled (a later redelivery is a duplicate)."""

    async def beat(self) -> None:
        """Renew this worker's heartbeat."""

    async def alive(self, worker: str) -> bool:
        """Is ``worker``'s heartbeat fresh?"""
        return worker == self.worker

    async def instance_alive(self, worker: str, instance: str) -> bool:
        """Is this very run (``instance``) of ``worker`` alive?"""
        return worker == self.worker and instance == self.instance

    async def live_workers(self) -> list[str]:
        """Names of the workers with a fresh heartbeat, sorted."""
        return [self.worker]

    async def agent_started(self, user_id: int, thread_id: int) -> None:
        """Record that this worker runs an agent for (user, thread)."""

    async def agent_stopped(self, user_id: int, thread_id: int) -> None:
        """Forget this worker's agent for (user, thread)."""

    async def agent_held_elsewhere(self, user_id: int, thread_id: int) -> str | None:
        """A live worker other than this one that runs an agent for (user, thread), or ``None``: its
        session lock must not be recovered from here."""
        return None

    async def aclose(self) -> None:
        """Close connections and background tasks."""


class ActionStore:
    """Short-lived server-side payloads behind inline buttons (``callback_data`` holds ≤ 64 bytes).

    Each entry belongs to one user: a button pressed by anyone else is refused. Bounded (LRU) so a flood
    of searches cannot grow memory without limit.
    """

    def __init__(self, *, ttl_seconds: float = 3600.0, max_entries: int = 50_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[int, float, dict[str, Any]]] = OrderedDict()

    def put(self, user_id: int, payload: dict[str, Any]) -> str:
        """Store ``payload`` for ``user_id``; returns a 10-character token for ``callback_data``."""
        token = secrets.token_urlsafe(8)[:10]
        self._items[token] = (user_id, time.monotonic(), payload)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return token

    def get(self, token: str, user_id: int) -> dict[str, Any] | None:
        """The payload for ``token`` if it exists, is fresh and belongs to ``user_id``; else ``None``."""
        item = self._items.get(token)
        if item is None or item[0] != user_id or time.monotonic() - item[1] > self.ttl_seconds:
            return None
        return item[2]

    def pop(self, token: str, user_id: int) -> dict[str, Any] | None:
        """Like :meth:`get`, and forget the token (one-shot buttons: confirm, cancel)."""
        payload = self.get(token, user_id)
        if payload is not None:
            self._items.pop(token, None)
        return payload

    def __len__(self) -> int:
        return len(self._items)


class MemoryState(SharedState):
    """In-process state: exactly the single-process behaviour (no ``REDIS_URL``).

    :param clock: monotonic seconds (tests pass their own).
    :param max_buttons: most live button payloads kept (oldest dropped first).
    """

    def __init__(
        self, worker: str = "local", *, clock: Callable[[], float] = time.monotonic, max_buttons: int = 50_000
    ) -> None:
        super().__init__(worker)
        self._clock = clock
        self._buttons = ActionStore(max_entries=max_buttons)
        self._rates: dict[int, deque[tuple[float, str]]] = {}
        self._slots: dict[int, str] = {}
        self._drafts: dict[tuple[int, int], tuple[int, int]] = {}

    async def put_button(self, user_id: int, payload: dict[str, Any], *, one_shot: bool, ttl_seconds: float) -> str:
        self._buttons.ttl_seconds = ttl_seconds
        return self._buttons.put(user_id, {"once": one_shot, "payload": payload})

    async def take_button(self, token: str, user_id: int) -> dict[str, Any] | None:
        item = self._buttons.get(token, user_id)
        if item is None:
            return None
        if item["once"]:
            self._buttons.pop(token, user_id)
        return dict(item["payload"])

    async def rate_take(self, user_id: int, limit: int, window_seconds: float) -> tuple[str | None, float]:
        now = self._clock()
        history = self._rates.setdefault(user_id, deque())
        while history and now - history[0][0] >= window_seconds:
            history.popleft()
        if len(history) >= limit:
            return None, (window_seconds - (now - history[0][0])) if history else window_seconds
        member = secrets.token_hex(6)
        history.append((now, member))
        return member, 0.0

    async def rate_refund(self, user_id: int, member: str) -> None:
        history = self._rates.get(user_id)
        if history:
            kept = [item for item in history if item[1] != member]
            history.clear()
            history.extend(kept)

    async def slot_acquire(self, user_id: int) -> str | None:
        if user_id in self._slots:
            return None
        token = secrets.token_hex(6)
        self._slots[user_id] = token
        return token

    async def slot_release(self, user_id: int, token: str) -> None:
        if self._slots.get(user_id) == token:
            del self._slots[user_id]

    async def draft_put(self, chat_id: int, draft_id: int, user_id: int, thread_id: int) -> None:
        self._drafts[(chat_id, draft_id)] = (user_id, thread_id)

    async def draft_drop(self, chat_id: int, draft_id: int) -> None:
        self._drafts.pop((chat_id, draft_id), None)

    async def draft_owner(self, chat_id: int, draft_id: int) -> tuple[int, int] | None:
        return self._drafts.get((chat_id, draft_id))


def retry_seconds(value: float) -> int:
    """Whole seconds (≥ 1) to wait, for messages."""
    return max(1, math.ceil(value))


def dumps(payload: dict[str, Any]) -> str:
    """Compact JSON for stored payloads."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)
