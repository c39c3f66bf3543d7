"""Shared state on Redis (redis-py asyncio, a :class:`redis.asyncio.BlockingConnectionPool`).

Keys (``docs/scaling.md`` has the full table):

* ``kc:act:{token}`` — a button payload ``{owner}|{once}|{json}``, ``PX`` its TTL; taken by a Lua
  get-check-delete, so a one-shot button pressed on two workers at once runs once.
* ``kc:rate:{user}`` — the install sliding window, a ZSET scored by the Redis server's clock (Lua ``TIME``),
  one member per install; a refund removes its member.
* ``kc:slot:{user}`` — the one-install-at-a-time lease, renewed every third of its lease while held, so a
  killed holder frees it within ``INSTALL_LEASE_SECONDS``.
* ``kc:turn:{user}:{thread}`` — the worker running that turn; ``kc:cancel:{worker}`` is the pub/sub
  channel on which other workers ask it to cancel. ``kc:draft:{chat}:{draft}`` — a live draft's turn.
* ``kc:upd:{update_id}`` — ``{worker}/{instance}`` while handled, ``done`` after; a claim by a dead instance
  is taken over (the update was not answered).
* ``kc:inst:{worker}`` — the heartbeat: the worker's instance id, ``PX`` the heartbeat TTL.
* ``kc:agents:{worker}`` — the (user:thread) pairs whose agents this worker runs.

Every Redis or connection error becomes :class:`~kiroclaw.shared.state.StateUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from .state import CancelCallback, SharedState, StateUnavailableError, dumps

log = logging.getLogger(__name__)

T = TypeVar("T")

_TAKE_BUTTON = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local sep1 = string.find(v, '|', 1, true)
if not sep1 then return false end
local owner = string.sub(v, 1, sep1 - 1)
if owner ~= ARGV[1] then return false end
local once = string.sub(v, sep1 + 1, sep1 + 1)
if once == '1' then redis.call('DEL', KEYS[1]) end
return string.sub(v, sep1 + 3)
"""

_RATE_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""

_IF_VALUE_PEXPIRE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_IF_VALUE_DEL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] = kc:upd:{id}; ARGV = me ("worker/instance"), ttl seconds
_UPDATE_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v == 'done' or v == ARGV[1] then return 0 end
if v then
  local slash = string.find(v, '/', 1, true)
  if slash then
    local live = redis.call('GET', 'kc:inst:' .. string.sub(v, 1, slash - 1))
    if live == string.sub(v, slash + 1) then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class RedisState(SharedState):
    """:class:`SharedState` on Redis.

    :param url: ``REDIS_URL`` (``redis://host:port/db``).
    :param worker: this worker's name.
    :param pool_size: most connections (callers wait for a free one, up to ``timeout_seconds``).
    :param timeout_seconds: socket, connect and pool-wait timeout of one call.
    :param heartbeat_ttl_seconds: a heartbeat older than this marks the worker dead.
    :param lease_seconds: the install slot's lease (renewed while held).
    :param dedup_seconds: how long update ids are remembered.
    """

    shared = True

    def __init__(
        self,
        url: str,
        worker: str,
        *,
        pool_size: int = 32,
        timeout_seconds: float = 2.0,
        heartbeat_ttl_seconds: float = 15.0,
        lease_seconds: float = 10.0,
        dedup_seconds: int = 86_400,
    ) -> None:
        import redis.asyncio as aioredis

        super().__init__(worker)
        self.pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            decode_responses=True,
        )
        self.redis: Any = aioredis.Redis(connection_pool=self.pool)  # redis-py's stubs type replies loosely
        self.heartbeat_ttl_ms = int(heartbeat_ttl_seconds * 1000)
        self.lease_ms = int(lease_seconds * 1000)
        self.dedup_seconds = dedup_seconds
        self._renewers: dict[int, asyncio.Task[None]] = {}
        self._take_button = self.redis.register_script(_TAKE_BUTTON)
        self._rate_take = self.redis.register_script(_RATE_TAKE)
        self._if_pexpire = self.redis.register_script(_IF_VALUE_PEXPIRE)
        self._if_del = self.redis.register_script(_IF_VALUE_DEL)
        self._update_claim = self.redis.register_script(_UPDATE_CLAIM)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        from redis.exceptions import RedisError

        try:
            return await make()
        except (TimeoutError, RedisError, OSError) as exc:
            raise StateUnavailableError(f"redis: {type(exc).__name__}: {exc}") from exc

    # --- buttons ------------------------------------------------------------------------------
    async def put_button(self, user_id: int, payload: dict[str, Any], *, one_shot: bool, ttl_seconds: float) -> str:
        token = secrets.token_urlsafe(8)[:10]
        value = f"{user_id}|{1 if one_shot else 0}|{dumps(payload)}"
        await self._call(lambda: self.redis.set(f"kc:act:{token}", value, px=int(ttl_seconds * 1000)))
        return token

    async def take_button(self, token: str, user_id: int) -> dict[str, Any] | None:
        raw = await self._call(lambda: self._take_button(keys=[f"kc:act:{token}"], args=[str(user_id)]))
        if not raw:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    # --- rate and slot ------------------------------------------------------------------------
    async def rate_take(self, user_id: int, limit: int, window_seconds: float) -> tuple[str | None, float]:
        member = secrets.token_hex(6)
        window_ms = max(1, int(window_seconds * 1000))
        ok, wait_ms = await self._call(
            lambda: self._rate_take(keys=[f"kc:rate:{user_id}"], args=[limit, window_ms, member])
        )
        return (member, 0.0) if int(ok) == 1 else (None, int(wait_ms) / 1000)

    async def rate_refund(self, user_id: int, member: str) -> None:
        await self._call(lambda: self.redis.zrem(f"kc:rate:{user_id}", member))

    async def slot_acquire(self, user_id: int) -> str | None:
        token = self.me + "/" + secrets.token_hex(4)
        key = f"kc:slot:{user_id}"
        got = await self._call(lambda: self.redis.set(key, token, nx=True, px=self.lease_ms))
        if not got:
            return None
        self._renewers[user_id] = asyncio.create_task(self._renew(key, token))
        return token

    async def _renew(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                if not await self._if_pexpire(keys=[key], args=[token, self.lease_ms]):
                    log.warning("install slot %s was lost (lease expired)", key)
                    return
            except Exception as exc:  # Redis down: the lease may lapse; the scope file lock still guards
                log.warning("could not renew install slot %s: %s", key, exc)

    async def slot_release(self, user_id: int, token: str) -> None:
        renewer = self._renewers.pop(user_id, None)
        if renewer is not None:
            renewer.cancel()
        await self._call(lambda: self._if_del(keys=[f"kc:slot:{user_id}"], args=[token]))

    # --- turns, drafts, cancels ---------------------------------------------------------------
    async def turn_claim(self, user_id: int, thread_id: int) -> None:
        await self._call(lambda: self.redis.set(f"kc:turn:{user_id}:{thread_id}", self.worker, ex=6 * 3600))

    async def turn_release(self, user_id: int, thread_id: int) -> None:
        await self._call(lambda: self._if_del(keys=[f"kc:turn:{user_id}:{thread_id}"], args=[self.worker]))

    async def turn_owner(self, user_id: int, thread_id: int) -> str | None:
        value = await self._call(lambda: self.redis.get(f"kc:turn:{user_id}:{thread_id}"))
        return str(value) if value else None

    async def publish_cancel(self, worker: str, user_id: int, thread_id: int) -> int:
        message = json.dumps({"user": user_id, "thread": thread_id})
        return int(await self._call(lambda: self.redis.publish(f"kc:cancel:{worker}", message)))

    async def listen_cancels(self, callback: CancelCallback) -> None:
        """Subscribe to ``kc:cancel:{worker}``; reconnects (every 2 s) while Redis is down."""
        channel = f"kc:cancel:{self.worker}"
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        data = json.loads(message["data"])
                        await callback(int(data["user"]), int(data["thread"]))
                    except Exception:
                        log.exception("bad cancel request on %s", channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cancel channel %s lost (%s); retrying", channel, exc)
                await asyncio.sleep(2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def draft_put(self, chat_id: int, draft_id: int, user_id: int, thread_id: int) -> None:
        await self._call(lambda: self.redis.set(f"kc:draft:{chat_id}:{draft_id}", f"{user_id}:{thread_id}", ex=3600))

    async def draft_drop(self, chat_id: int, draft_id: int) -> None:
        await self._call(lambda: self.redis.delete(f"kc:draft:{chat_id}:{draft_id}"))

    async def draft_owner(self, chat_id: int, draft_id: int) -> tuple[int, int] | None:
        value = await self._call(lambda: self.redis.get(f"kc:draft:{chat_id}:{draft_id}"))
        if not value:
            return None
        user, _, thread = str(value).partition(":")
        return int(user), int(thread)

    # --- updates, heartbeats, agents ----------------------------------------------------------
    async def update_claim(self, update_id: int) -> bool:
        got = await self._call(
            lambda: self._update_claim(keys=[f"kc:upd:{update_id}"], args=[self.me, self.dedup_seconds])
        )
        return int(got) == 1

    async def update_done(self, update_id: int) -> None:
        await self._call(lambda: self.redis.set(f"kc:upd:{update_id}", "done", ex=self.dedup_seconds))

    async def beat(self) -> None:
        async def run() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(f"kc:inst:{self.worker}", self.instance, px=self.heartbeat_ttl_ms)
                pipe.sadd("kc:workers", self.worker)
                await pipe.execute()

        await self._call(run)

    async def alive(self, worker: str) -> bool:
        return bool(await self._call(lambda: self.redis.exists(f"kc:inst:{worker}")))

    async def instance_alive(self, worker: str, instance: str) -> bool:
        """Is this very run (``instance``) of ``worker`` alive? A restarted worker is another instance."""
        return bool(await self._call(lambda: self.redis.get(f"kc:inst:{worker}")) == instance)

    async def live_workers(self) -> list[str]:
        names: list[str] = sorted(str(n) for n in await self._call(lambda: self.redis.smembers("kc:workers")))
        if not names:
            return []
        flags = await self._call(lambda: self.redis.mget([f"kc:inst:{n}" for n in names]))
        return [n for n, f in zip(names, flags, strict=True) if f]

    async def agent_started(self, user_id: int, thread_id: int) -> None:
        await self._call(lambda: self.redis.sadd(f"kc:agents:{self.worker}", f"{user_id}:{thread_id}"))

    async def agent_stopped(self, user_id: int, thread_id: int) -> None:
        await self._call(lambda: self.redis.srem(f"kc:agents:{self.worker}", f"{user_id}:{thread_id}"))

    async def agent_held_elsewhere(self, user_id: int, thread_id: int) -> str | None:
        member = f"{user_id}:{thread_id}"
        for worker in await self.live_workers():
            if worker == self.worker:
                continue
            key = f"kc:agents:{worker}"
            if await self._call(lambda key=key: self.redis.sismember(key, member)):  # type: ignore[misc]
                return worker
        return None

    async def clear_agents(self) -> None:
        """Forget every agent of this worker (at start-up: a fresh worker runs none)."""
        await self._call(lambda: self.redis.delete(f"kc:agents:{self.worker}"))

    @asynccontextmanager
    async def heartbeat(self, interval_seconds: float) -> AsyncIterator[None]:
        """Keep this worker's heartbeat fresh for the ``async with`` body; deletes it at the end."""

        async def loop() -> None:
            while True:
                try:
                    await self.beat()
                except StateUnavailableError as exc:
                    log.warning("heartbeat failed: %s", exc.detail)
                await asyncio.sleep(interval_seconds)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await self._if_del(keys=[f"kc:inst:{self.worker}"], args=[self.instance])

    async def aclose(self) -> None:
        for task in self._renewers.values():
            task.cancel()
        self._renewers.clear()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        with contextlib.suppress(Exception):
            await self.pool.disconnect()
