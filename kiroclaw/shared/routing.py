"""Users placed on workers: the ingress appends each Telegram update to the stream of the worker that owns
the update's user; each worker reads its stream with a consumer group and acknowledges after handling.

* ``kc:cell`` — hash user → worker, placed on first sight on the live, not-draining worker with the fewest
  users (``kc:cellcount`` counts them); a user whose worker is dead or draining is re-placed.
* ``kc:in:{worker}`` — that worker's update stream (``XADD … MAXLEN ~``; field ``u`` = the update's JSON),
  read by the consumer group ``kc``.
* ``kc:draining`` — workers that take no new users (``kiroclaw ingress --drain NAME``).

:func:`rescue_dead` (run by every worker and the ingress every few seconds) moves a dead worker's
undelivered and pending entries (``XAUTOCLAIM``) to the users' new workers, so they are answered, once
(:class:`~kiroclaw.shared.bot.DedupMiddleware`), within a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from .redis_state import RedisState
from .state import StateUnavailableError

log = logging.getLogger(__name__)

GROUP = "kc"
#: how often a worker re-reads its own pending entries (replies lost to a timeout), in seconds.
PENDING_RESCAN_SECONDS = 30.0


def route_key(update: dict[str, Any]) -> int | None:
    """The user an update belongs to: ``from.id`` of its payload, else its ``chat.id`` (the stop button
    under a draft carries only a chat; in private chats chat id = user id). ``None``: nothing to route by."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        sender = value.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
        chat = value.get("chat")
        if chat is None and isinstance(value.get("message"), dict):
            chat = value["message"].get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
    return None


def stream_of(worker: str) -> str:
    return f"kc:in:{worker}"


class Router:
    """Placement and appends, shared by the ingress and the rescuers.

    :param state: a :class:`RedisState` (its connection pool is used).
    :param max_len: approximate cap of each stream.
    """

    def __init__(self, state: RedisState, *, max_len: int = 100_000) -> None:
        self.state = state
        self.redis: Any = state.redis
        self.max_len = max_len

    async def _placeable(self) -> list[str]:
        live = await self.state.live_workers()
        draining = set(await self.redis.smembers("kc:draining"))
        return [w for w in live if w not in draining]

    async def place(self, user_id: int) -> str:
        """The worker of ``user_id``, placing (or re-placing) the user when needed.

        :raises StateUnavailableError: Redis is down, or no worker is alive.
        """

        async def run() -> str:
            current = await self.redis.hget("kc:cell", str(user_id))
            draining = set(await self.redis.smembers("kc:draining"))
            if current and current not in draining and await self.state.alive(current):
                return str(current)
            candidates = await self._placeable()
            if not candidates:
                raise StateUnavailableError("no live worker to place the user on")
            counts = await self.redis.hmget("kc:cellcount", candidates)
            chosen = min(zip(candidates, counts, strict=True), key=lambda c: (int(c[1] or 0), c[0]))[0]
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset("kc:cell", str(user_id), chosen)
                pipe.hincrby("kc:cellcount", chosen, 1)
                if current:
                    pipe.hincrby("kc:cellcount", current, -1)
                await pipe.execute()
            if current:
                log.info("user %s moved from worker %s to %s", user_id, current, chosen)
            return chosen

        return await self.state._call(run)

    async def append(self, update: dict[str, Any]) -> str | None:
        """Append ``update`` to its user's worker stream. :returns: the worker, or ``None`` when the update
        has no user (dropped, like the single-process bot drops it).

        :raises StateUnavailableError: Redis is down or no worker is alive (Telegram must not be acked).
        """
        user = route_key(update)
        if user is None:
            return None
        worker = await self.place(user)
        data = json.dumps(update, separators=(",", ":"))
        await self.state._call(
            lambda: self.redis.xadd(stream_of(worker), {"u": data}, maxlen=self.max_len, approximate=True)
        )
        return worker

    async def drain(self, worker: str) -> int:
        """Mark ``worker`` draining and re-place its users. :returns: how many users moved."""
        await self.state._call(lambda: self.redis.sadd("kc:draining", worker))
        cell = await self.state._call(lambda: self.redis.hgetall("kc:cell"))
        moved = 0
        for user, owner in cell.items():
            if owner == worker:
                await self.place(int(user))
                moved += 1
        return moved

    async def undrain(self, worker: str) -> None:
        await self.state._call(lambda: self.redis.srem("kc:draining", worker))

    async def rescue_dead(self, *, min_idle_seconds: float = 0.0) -> int:
        """Forward the entries of every dead worker's stream (never delivered, or pending longer than
        ``min_idle_seconds``) to their users' live workers. :returns: how many entries moved."""
        moved = 0
        known = sorted(await self.state._call(lambda: self.redis.smembers("kc:workers")))
        for worker in known:
            if worker == self.state.worker or await self.state.alive(worker):
                continue
            lock = f"kc:rescue:{worker}"
            if not await self.state._call(partial(self.redis.set, lock, self.state.me, nx=True, px=30_000)):
                continue
            try:
                moved += await self._rescue(worker, min_idle_seconds)
            finally:
                with contextlib.suppress(StateUnavailableError):
                    await self.state._call(partial(self.redis.delete, lock))
        return moved

    async def _rescue(self, worker: str, min_idle_seconds: float) -> int:
        stream = stream_of(worker)
        me = f"rescue-{self.state.worker}"
        await ensure_group(self.state, stream)
        moved = 0
        claimed = await self.state._call(
            lambda: self.redis.xautoclaim(stream, GROUP, me, int(min_idle_seconds * 1000), "0-0", count=500)
        )
        entries = list(claimed[1]) if claimed else []
        fresh = await self.state._call(lambda: self.redis.xreadgroup(GROUP, me, {stream: ">"}, count=500))
        for _, items in fresh or []:
            entries.extend(items)
        for entry_id, fields in entries:
            if not fields or "u" not in fields:
                await self.state._call(partial(self.redis.xack, stream, GROUP, entry_id))
                continue
            target = await self.append(json.loads(fields["u"]))
            await self.state._call(partial(self.redis.xack, stream, GROUP, entry_id))
            await self.state._call(partial(self.redis.xdel, stream, entry_id))
            moved += 1
            log.info("update from dead worker %s forwarded to %s", worker, target)
        if moved == 0:
            length = await self.state._call(lambda: self.redis.xlen(stream))
            if length == 0:  # nothing left: forget the worker until it beats again
                await self.state._call(lambda: self.redis.srem("kc:workers", worker))
        return moved


async def ensure_group(state: RedisState, stream: str) -> None:
    """Create the consumer group of ``stream`` (reading from its start) if it does not exist."""
    from redis.exceptions import ResponseError

    try:
        await state.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise StateUnavailableError(str(exc)) from exc
    except Exception as exc:
        raise StateUnavailableError(str(exc)) from exc


async def rescue_loop(router: Router, *, interval_seconds: float, min_idle_seconds: float) -> None:
    """Run :meth:`Router.rescue_dead` every ``interval_seconds`` until cancelled."""
    while True:
        try:
            await router.rescue_dead(min_idle_seconds=min_idle_seconds)
        except StateUnavailableError as exc:
            log.warning("rescue skipped: %s", exc.detail)
        except Exception:
            log.exception("rescue failed")
        await asyncio.sleep(interval_seconds)


async def consume(
    state: RedisState,
    handle: Callable[[dict[str, Any]], Awaitable[Any]],
    stop: asyncio.Event,
    *,
    concurrency: int = 256,
    grace_seconds: float = 10.0,
    batch: int = 64,
) -> int:
    """Read this worker's stream with the consumer group and ``handle`` each update (concurrently, at most
    ``concurrency`` at once); acknowledge each entry after its handler returned (or failed: the error
    middleware has answered the user). Entries this worker left pending in an earlier run are handled first.
    On ``stop``: read nothing more, let handlers finish within ``grace_seconds``; what is unfinished stays
    pending for the other workers to take over. :returns: how many updates were handled.
    """
    stream = stream_of(state.worker)
    consumer = state.worker
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    inflight: set[str] = set()
    handled = 0

    async def run(entry_id: str, fields: dict[str, str]) -> None:
        nonlocal handled
        try:
            try:
                if "u" in fields:
                    await handle(json.loads(fields["u"]))
                    handled += 1
            except Exception:
                log.exception("update %s failed", entry_id)
            finally:
                slots.release()
            for _ in range(10):
                try:
                    async with state.redis.pipeline(transaction=False) as pipe:
                        pipe.xack(stream, GROUP, entry_id)
                        pipe.xdel(stream, entry_id)
                        await pipe.execute()
                    return
                except Exception as exc:
                    log.warning("could not acknowledge %s (%s); retrying", entry_id, exc)
                    await asyncio.sleep(1.0)
        finally:
            inflight.discard(entry_id)

    async def spawn(entries: list[Any]) -> None:
        for entry_id, fields in entries:
            await slots.acquire()
            inflight.add(entry_id)
            task = asyncio.create_task(run(entry_id, fields or {}))
            running.add(task)
            task.add_done_callback(running.discard)

    # Our pending entries (read by this consumer, not yet acknowledged) are re-read: at start (a restart
    # under the same name), after a read error (the server may have delivered entries whose reply was
    # lost) and every PENDING_RESCAN_SECONDS; entries being handled right now are skipped.
    pending_cursor: str | None = "0"
    last_scan = time.monotonic()
    while not stop.is_set():
        if pending_cursor is None and time.monotonic() - last_scan > PENDING_RESCAN_SECONDS:
            pending_cursor = "0"
        try:
            await ensure_group(state, stream)
            if pending_cursor is not None:
                reply = await state.redis.xreadgroup(GROUP, consumer, {stream: pending_cursor}, count=batch)
            else:
                reply = await state.redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=batch, block=1000)
            entries = [e for _, items in reply or [] for e in items]
            if pending_cursor is not None:
                if not entries:
                    pending_cursor, last_scan = None, time.monotonic()
                    continue
                pending_cursor = entries[-1][0]
                for entry_id, fields in entries:
                    if not fields:  # deleted meanwhile: nothing to handle
                        await state.redis.xack(stream, GROUP, entry_id)
                entries = [e for e in entries if e[1] and e[0] not in inflight]
        except Exception as exc:
            log.warning("cannot read the update stream (%s); retrying", exc)
            pending_cursor = "0"
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            continue
        await spawn(entries)
    if running:
        _, unfinished = await asyncio.wait(set(running), timeout=grace_seconds)
        for task in unfinished:
            task.cancel()
        if unfinished:
            log.warning("%d update(s) left pending at shutdown; another worker takes them over", len(unfinished))
            await asyncio.wait(unfinished, timeout=5)
    return handled
