"""The shared state on a real redis-server: one-shot buttons, the install window and slot across workers,
update de-duplication, and what happens while Redis is down."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time

import pytest

from kiroclaw.bot.middlewares import InstallGuard
from kiroclaw.errors import LimitExceededError
from kiroclaw.shared.redis_state import RedisState
from kiroclaw.shared.state import UNAVAILABLE, StateUnavailableError
from tests.scale.conftest import RedisServer


def states(server: RedisServer, *names: str, **kw: object) -> list[RedisState]:
    return [RedisState(server.url, name, timeout_seconds=1.0, **kw) for name in names]  # type: ignore[arg-type]


async def test_one_shot_buttons_run_once_across_workers(redis_server: RedisServer) -> None:
    w1, w2, w3 = states(redis_server, "w1", "w2", "w3")
    try:
        tokens = [await w1.put_button(7, {"op": "remove", "n": i}, one_shot=True, ttl_seconds=60) for i in range(300)]
        # every token pressed at once on two other workers: exactly one press gets the payload
        results = await asyncio.gather(*(w.take_button(t, 7) for t in tokens for w in (w2, w3)))
        for index in range(len(tokens)):
            pair = results[2 * index : 2 * index + 2]
            assert sorted(p is None for p in pair) == [False, True], pair
        # reusable (Install under search results) works again; someone else's button never
        token = await w1.put_button(7, {"op": "install", "spec": "x"}, one_shot=False, ttl_seconds=60)
        assert await w2.take_button(token, 8) is None
        assert await w2.take_button(token, 7) == {"op": "install", "spec": "x"}
        assert await w3.take_button(token, 7) == {"op": "install", "spec": "x"}
    finally:
        for w in (w1, w2, w3):
            await w.aclose()


async def test_rate_limit_holds_across_workers(redis_server: RedisServer) -> None:
    """INSTALL_RATE_LIMIT=3/hour, 30 users × 6 installs spread over three workers: 3 accepted per user."""
    workers = states(redis_server, "w1", "w2", "w3")
    guards = [InstallGuard("3/hour", state=w) for w in workers]
    accepted: dict[int, int] = {}
    refused: dict[int, list[str]] = {}

    async def one_user(user_id: int) -> None:
        for attempt in range(6):
            guard = guards[(user_id + attempt) % 3]
            try:
                async with guard.slot(user_id):
                    accepted[user_id] = accepted.get(user_id, 0) + 1
            except LimitExceededError as exc:
                refused.setdefault(user_id, []).append(exc.user_message)

    try:
        await asyncio.gather(*(one_user(u) for u in range(1, 31)))
        assert accepted == {u: 3 for u in range(1, 31)}
        assert all(len(r) == 3 and all("install limit reached (3 per hour)" in m for m in r) for r in refused.values())
        # a refund (install refused before its source) gives the unit back, on any worker
        async with guards[0].slot(99):
            guards[0].refund(99)
        for _ in range(3):
            async with guards[1].slot(99):
                pass
        with pytest.raises(LimitExceededError, match="install limit reached"):
            async with guards[2].slot(99):
                pass
    finally:
        for w in workers:
            await w.aclose()


async def test_one_install_at_a_time_per_user_across_workers(redis_server: RedisServer) -> None:
    workers = states(redis_server, "w1", "w2", "w3")
    guards = [InstallGuard("1000/hour", state=w) for w in workers]
    inside: dict[int, int] = {}
    overlaps = 0
    ran = 0

    async def attempt(user_id: int, guard: InstallGuard) -> None:
        nonlocal overlaps, ran
        try:
            async with guard.slot(user_id):
                inside[user_id] = inside.get(user_id, 0) + 1
                overlaps += inside[user_id] > 1
                await asyncio.sleep(random.uniform(0.01, 0.05))
                inside[user_id] -= 1
                ran += 1
        except LimitExceededError as exc:
            assert "still running" in exc.user_message

    try:
        await asyncio.gather(*(attempt(u, guards[i]) for u in range(50) for i in range(3)))
        assert overlaps == 0 and ran >= 50
    finally:
        for w in workers:
            await w.aclose()


HOLDER = """
import asyncio, sys
from kiroclaw.shared.redis_state import RedisState
async def main():
    state = RedisState(sys.argv[1], "holder", lease_seconds=1.5)
    assert await state.slot_acquire(5)
    print("held", flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


async def test_killed_holder_frees_the_install_slot_within_its_lease(redis_server: RedisServer) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, redis_server.url], stdout=subprocess.PIPE)
    (other,) = states(redis_server, "other", lease_seconds=1.5)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
        await asyncio.sleep(2.0)  # renewed past its first lease while alive
        assert await other.slot_acquire(5) is None
        proc.kill()
        proc.wait(10)
        started = time.monotonic()
        while await other.slot_acquire(5) is None:
            assert time.monotonic() - started < 3.0, "the lease of a killed holder did not expire"
            await asyncio.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        await other.aclose()


async def test_update_claims(redis_server: RedisServer) -> None:
    w1, w2 = states(redis_server, "w1", "w2")
    try:
        await w1.beat()
        await w2.beat()
        assert await w1.update_claim(10)
        assert not await w2.update_claim(10)  # being handled by a live worker
        await w1.update_done(10)
        assert not await w2.update_claim(10) and not await w1.update_claim(10)  # handled
        assert await w1.update_claim(11)
        await w1.redis.delete("kc:inst:w1")  # w1 dies mid-update: its claim is taken over, once
        assert await w2.update_claim(11)
        assert not await w2.update_claim(11)
    finally:
        await w1.aclose()
        await w2.aclose()


async def test_redis_down_is_one_line_and_recovers(redis_server: RedisServer) -> None:
    (state,) = states(redis_server, "w1")
    guard = InstallGuard("3/hour", state=state)
    try:
        async with guard.slot(1):
            pass
        redis_server.stop()
        started = time.monotonic()
        with pytest.raises(StateUnavailableError) as caught:
            async with guard.slot(1):
                pass
        assert caught.value.user_message == UNAVAILABLE
        with pytest.raises(StateUnavailableError):
            await state.take_button("abc", 1)
        assert time.monotonic() - started < 5
        redis_server.start()  # a restart holds nothing of record: the window starts afresh
        for _ in range(3):
            async with guard.slot(1):
                pass
    finally:
        await state.aclose()
