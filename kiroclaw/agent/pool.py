"""The process pool: at most one agent process per (user, thread), never shared between users.

Limits come from the settings: ``MAX_PROCESSES`` in total and ``MAX_PROCESSES_PER_USER`` per user. When a
new process is needed and a limit is reached, an idle process is stopped to make room (for the per-user
limit one of the same user's; for the global limit others' first, oldest first); when none is idle the
caller waits until one is released. Idle processes are reaped after ``IDLE_TIMEOUT_SECONDS``. One turn
runs at a time per (user, thread): a second ``acquire`` of the same key waits. ``aclose`` kills every
process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AgentError
from .acp_client import AgentProcess, SessionInfo

log = logging.getLogger(__name__)

Key = tuple[int, int]  # (user_id, thread_id)
ProcessFactory = Callable[[int, int], Awaitable[tuple[AgentProcess, Any]]]


@dataclass(eq=False)
class PoolEntry:
    """One slot of the pool.

    :ivar key: (user_id, thread_id).
    :ivar process: the agent process, ``None`` while it is being started.
    :ivar stamp: what the factory returned with the process (the provisioning inputs' stamp).
    :ivar session: the ACP session open in this process for the thread, or ``None``.
    :ivar busy: a caller holds the entry (a turn or a session operation is running).
    :ivar last_used_s: ``time.monotonic()`` of the last release, in seconds.
    """

    key: Key
    process: AgentProcess | None = None
    stamp: Any = None
    session: SessionInfo | None = None
    busy: bool = True
    last_used_s: float = field(default_factory=time.monotonic)

    @property
    def user_id(self) -> int:
        return self.key[0]

    @property
    def idle(self) -> bool:
        return not self.busy and self.process is not None


class ProcessPool:
    """Agent processes keyed by (user, thread) with limits, queueing and idle reaping.

    :param factory: ``async (user_id, thread_id) -> (AgentProcess, stamp)``; starts a process (provisioning
        the user's home first). May raise :class:`AgentError`.
    :param max_processes: ``MAX_PROCESSES``.
    :param max_per_user: ``MAX_PROCESSES_PER_USER``.
    :param idle_timeout_s: ``IDLE_TIMEOUT_SECONDS``.
    :param acquire_timeout_s: longest wait for a free slot before :class:`AgentError`, in seconds.
    """

    def __init__(
        self,
        factory: ProcessFactory,
        *,
        max_processes: int,
        max_per_user: int,
        idle_timeout_s: float,
        acquire_timeout_s: float = 300.0,
    ) -> None:
        self._factory = factory
        self.max_processes = max_processes
        self.max_per_user = max_per_user
        self.idle_timeout_s = idle_timeout_s
        self.acquire_timeout_s = acquire_timeout_s
        self._entries: dict[Key, PoolEntry] = {}
        self._cond = asyncio.Condition()
        self._closed = False
        self._reaper: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()

    # --- inspection ---------------------------------------------------------------------------

    def entries(self) -> list[PoolEntry]:
        """A snapshot of the current entries (starting, busy and idle)."""
        return list(self._entries.values())

    def get(self, user_id: int, thread_id: int) -> PoolEntry | None:
        """The entry of (user, thread) if one exists (busy or not)."""
        return self._entries.get((user_id, thread_id))

    def pgids(self) -> set[int]:
        """Process groups of every process the pool runs (for the session-lock recovery)."""
        return {e.process.pgid for e in self._entries.values() if e.process is not None and e.process.pgid}

    # --- acquire / release ----------------------------------------------------------------------

    async def acquire(self, user_id: int, thread_id: int) -> PoolEntry:
        """Hold the entry of (user, thread), starting a process if there is none (waits when full or busy).

        :raises AgentError: the pool is closed, no slot freed up within ``acquire_timeout_s``, or starting
            the process failed.
        """
        key = (user_id, thread_id)
        self._ensure_reaper()
        try:
            async with asyncio.timeout(self.acquire_timeout_s):
                while True:
                    victim: PoolEntry | None = None
                    async with self._cond:
                        if self._closed:
                            raise AgentError("the agent service is shutting down")
                        entry = self._entries.get(key)
                        if (
                            entry is not None
                            and entry.process is not None
                            and not entry.process.alive
                            and not entry.busy
                        ):
                            self._entries.pop(key)
                            victim, entry = entry, None
                        elif entry is not None:
                            if not entry.busy:
                                entry.busy = True
                                return entry
                            await self._cond.wait()
                            continue
                        else:
                            if self._has_room(user_id):
                                entry = PoolEntry(key)
                                self._entries[key] = entry
                                break
                            victim = self._pick_victim(user_id)
                            if victim is None:
                                await self._cond.wait()
                                continue
                            self._entries.pop(victim.key)
                            log.info("stopping idle agent of user %s thread %s to make room", *victim.key)
                    if victim is not None and victim.process is not None:
                        await victim.process.stop()
        except TimeoutError:
            raise AgentError("all agents are busy right now; try again in a minute") from None
        try:
            entry.process, entry.stamp = await self._factory(user_id, thread_id)
        except BaseException:
            async with self._cond:
                self._entries.pop(key, None)
                self._cond.notify_all()
            raise
        return entry

    async def restart(self, entry: PoolEntry) -> None:
        """Replace the process of a held entry with a fresh one (after the user's add-ons changed)."""
        old, entry.process, entry.session = entry.process, None, None
        if old is not None:
            await old.stop()
        try:
            entry.process, entry.stamp = await self._factory(*entry.key)
        except BaseException:
            async with self._cond:
                self._entries.pop(entry.key, None)
                self._cond.notify_all()
            raise

    async def release(self, entry: PoolEntry) -> None:
        """Give a held entry back; a dead process is dropped so the next message starts a fresh one."""
        async with self._cond:
            entry.busy = False
            entry.last_used_s = time.monotonic()
            if entry.process is None or not entry.process.alive or self._closed:
                if self._entries.get(entry.key) is entry:
                    self._entries.pop(entry.key)
                if entry.process is not None:
                    self._stop_later(entry.process)
            self._cond.notify_all()

    async def discard(self, entry: PoolEntry) -> None:
        """Stop a held entry's process and forget the entry (a crash or a stuck turn)."""
        async with self._cond:
            if self._entries.get(entry.key) is entry:
                self._entries.pop(entry.key)
            self._cond.notify_all()
        if entry.process is not None:
            await entry.process.stop()

    async def stop_user(self, user_id: int) -> int:
        """Stop the idle processes of one user (busy ones stop at release if dead). :returns: how many."""
        async with self._cond:
            victims = [e for e in self._entries.values() if e.user_id == user_id and e.idle]
            for victim in victims:
                self._entries.pop(victim.key)
            self._cond.notify_all()
        for victim in victims:
            assert victim.process is not None
            await victim.process.stop()
        return len(victims)

    def _has_room(self, user_id: int) -> bool:
        mine = sum(1 for e in self._entries.values() if e.user_id == user_id)
        return len(self._entries) < self.max_processes and mine < self.max_per_user

    def _pick_victim(self, user_id: int) -> PoolEntry | None:
        idle = sorted((e for e in self._entries.values() if e.idle), key=lambda e: e.last_used_s)
        mine = sum(1 for e in self._entries.values() if e.user_id == user_id)
        if mine >= self.max_per_user:  # only one of the user's own idle processes can make room
            own = [e for e in idle if e.user_id == user_id]
            return own[0] if own else None
        others = [e for e in idle if e.user_id != user_id]
        return (others or idle)[0] if idle else None

    # --- reaping and shutdown -------------------------------------------------------------------

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_loop())

    async def _reap_loop(self) -> None:
        period_s = max(0.05, min(self.idle_timeout_s / 2, 30.0))
        while not self._closed:
            await asyncio.sleep(period_s)
            await self.reap_idle()

    async def reap_idle(self) -> int:
        """Stop processes idle for ``idle_timeout_s`` or dead. :returns: how many were stopped."""
        now = time.monotonic()
        async with self._cond:
            victims = [
                e
                for e in self._entries.values()
                if e.idle and (now - e.last_used_s >= self.idle_timeout_s or not e.process.alive)  # type: ignore[union-attr]
            ]
            for victim in victims:
                self._entries.pop(victim.key)
            if victims:
                self._cond.notify_all()
        for victim in victims:
            log.info("stopping idle agent of user %s thread %s", *victim.key)
            assert victim.process is not None
            await victim.process.stop()
        return len(victims)

    def _stop_later(self, process: AgentProcess) -> None:
        task = asyncio.get_running_loop().create_task(process.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def aclose(self) -> None:
        """Stop every process group (busy ones too), the reaper and pending stops. Idempotent."""
        async with self._cond:
            self._closed = True
            entries = list(self._entries.values())
            self._entries.clear()
            self._cond.notify_all()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(BaseException):
                await self._reaper
        await asyncio.gather(*(e.process.stop() for e in entries if e.process is not None), return_exceptions=True)
        if self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
