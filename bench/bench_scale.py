"""Benchmark of the routed deployment against the embedded one (a script, not a test).

Part 1 — the same load on two deployments, side by side:

* **routed**: ``kiroclaw ingress`` + three ``kiroclaw run --worker`` processes + a real ``redis-server``;
* **embedded**: one ``kiroclaw run`` without ``REDIS_URL`` (today's single process).

100 users (each with 2 add-ons, seeded before the bot starts), 300 updates spread evenly over 60 s:
60 % ``/addon list``, 25 % ``/start``, 15 % a chat message to the user's agent (``echo <tag>``; the
stand-in ACP agent, a real subprocess). Every update gets exactly one reply message, so per user:
lost = sent − replied, duplicated = replied − sent. Reported: lost, duplicated, ``/addon list`` latency
(update queued → reply recorded by the fake Bot API; median, p95, max) and the RSS of every bot process
at the end.

Part 2 — aiogram's ``RedisEventIsolation``: a handler that takes 2 s (a running turn) and a ``/cancel`` from
the same user 0.1 s later, fed concurrently; reported: how long the ``/cancel`` waits, with no isolation
(what KiroClaw uses), ``SimpleEventIsolation`` and ``RedisEventIsolation``.

Usage: ``python -m bench scale [--seconds 60] [--updates 300] [--users 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bot.fake_telegram import FakeTelegram, FakeUser  # noqa: E402
from tests.scale.conftest import TOKEN, Cluster, RedisServer, cluster_env, write_skill  # noqa: E402

FIRST_ID = 500_000


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_rss_mib(pid: int) -> float:
    """RSS of ``pid`` and its descendants (the agents a worker started), in MiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            total += rss_mib(current)
        todo.extend(children.get(current, []))
    return total


async def seed(workspace: Path, ids: list[int], skills: Path) -> None:
    """Install the two add-ons for the first user through the add-on manager, then copy that user's
    tree to the others (same registry, relative paths)."""
    import shutil

    from kiroclaw.config import Settings
    from kiroclaw.host import Host
    from kiroclaw.workspaces import Scope

    host = Host(Settings(_env_file=None, workspace_base_path=workspace))  # type: ignore[call-arg]
    for name in ("notes", "todo"):
        await host.addons.install(str(skills / name), Scope.user(ids[0]))
    await host.aclose()
    for uid in ids[1:]:
        await asyncio.to_thread(shutil.copytree, workspace / str(ids[0]), workspace / str(uid), symlinks=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_load(routed: bool, seconds: float, updates: int, users: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"kiroclaw-bench-scale-{'routed' if routed else 'embedded'}-"))
    skills = tmp / "skills"
    for name in ("notes", "todo"):
        write_skill(skills, name)
    people = [FakeUser(FIRST_ID + i, f"U{i}") for i in range(users)]
    server = RedisServer(tmp / "redis")
    fake = FakeTelegram(TOKEN)
    await fake.start()
    extra = {"LOCAL_SOURCE_ROOTS": str(skills), "INSTALL_RATE_LIMIT": "1000/hour", "MAX_PROCESSES": "40"}
    env = cluster_env(tmp, server, fake, [p.id for p in people], **extra)
    if routed:
        server.start()
    else:
        env.pop("REDIS_URL")
    c = Cluster(fake, server, env, tmp)
    await seed(Path(env["WORKSPACE_BASE_PATH"]), [p.id for p in people], skills)
    try:
        started = time.monotonic()
        if routed:
            for name in ("w1", "w2", "w3"):
                c.worker(name)
            await c.wait_workers(["w1", "w2", "w3"], timeout=120)
            c.ingress()
        else:
            c.spawn("bot", "run")
        await fake.wait_for(lambda: bool(fake.poll_calls), timeout=120)
        startup = time.monotonic() - started
        base = {p.id: len(fake.bot_texts(p.id)) for p in people}
        rng = random.Random(7)
        plan = []
        for index in range(updates):
            roll = rng.random()
            kind = "/addon list" if roll < 0.6 else "/start" if roll < 0.85 else f"echo tag{index}"
            plan.append((index * seconds / updates, rng.choice(people), kind))
        sent = {p.id: 0 for p in people}
        queued: list[tuple[float, int, str]] = []
        t0 = time.monotonic()
        for at, person, kind in plan:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            fake.send_text(person, kind)
            sent[person.id] += 1
            queued.append((time.monotonic(), person.id, kind))

        def replied(p: FakeUser) -> int:
            return len(fake.bot_texts(p.id)) - base[p.id]

        with contextlib.suppress(TimeoutError):
            await fake.wait_for(lambda: all(replied(p) >= sent[p.id] for p in people), timeout=180)
        await asyncio.sleep(3)  # late duplicates would show up here
        lost = sum(max(0, sent[p.id] - replied(p)) for p in people)
        duplicated = sum(max(0, replied(p) - sent[p.id]) for p in people)
        # /addon list latency: the first "📦" reply to that chat after the update was queued
        replies: dict[int, list[float]] = {}
        for call in fake.calls:
            if call.method == "sendmessage" and str(call.params.get("text", "")).startswith("📦"):
                replies.setdefault(int(call.params["chat_id"]), []).append(call.t)
        latencies = []
        for queued_at, chat, kind in queued:
            if kind != "/addon list":
                continue
            later = [t for t in replies.get(chat, []) if t >= queued_at]
            if later:
                replies[chat].remove(later[0])
                latencies.append((later[0] - queued_at) * 1000)
        rss = {name: (rss_mib(p.pid), tree_rss_mib(p.pid)) for name, p in c.procs.items() if p.poll() is None}
        return {
            "startup_s": startup,
            "sent": sum(sent.values()),
            "lost": lost,
            "duplicated": duplicated,
            "list_ms": latencies,
            "rss": rss,
        }
    finally:
        await c.stop_all()
        await fake.stop()
        server.stop()


async def isolation(seconds: float = 2.0) -> dict[str, float]:
    """How long a /cancel waits behind a running 2 s handler of the same user, per isolation class."""
    from aiogram import Bot, Dispatcher, Router
    from aiogram.filters import Command
    from aiogram.fsm.storage.memory import SimpleEventIsolation
    from aiogram.fsm.storage.redis import RedisEventIsolation
    from aiogram.types import Message, Update

    from kiroclaw.bot.app import create_bot

    server = RedisServer(Path(tempfile.mkdtemp(prefix="kiroclaw-bench-iso-")))
    server.start()
    fake = FakeTelegram(TOKEN)
    await fake.start()
    results: dict[str, float] = {}
    person = FakeUser(42, "Iso")
    try:
        for name in ("none", "SimpleEventIsolation", "RedisEventIsolation"):
            answered: dict[str, float] = {}
            router = Router()

            @router.message(Command("cancel"))
            async def cancel(message: Message, _a: dict[str, float] = answered) -> None:
                _a["cancel"] = time.monotonic()

            @router.message()
            async def turn(message: Message, _a: dict[str, float] = answered) -> None:
                await asyncio.sleep(seconds)
                _a["turn"] = time.monotonic()

            if name == "none":
                dp = Dispatcher()
            elif name == "SimpleEventIsolation":
                dp = Dispatcher(events_isolation=SimpleEventIsolation())
            else:
                dp = Dispatcher(events_isolation=RedisEventIsolation.from_url(server.url))
            dp.include_router(router)
            bot: Bot = create_bot(TOKEN, api_base=fake.base)

            def update(update_id: int, text: str, bot: Bot = bot) -> Update:
                msg = {
                    "message_id": update_id,
                    "date": int(time.time()),
                    "chat": {"id": 42, "type": "private"},
                    "from": person.as_json(),
                    "text": text,
                }
                if text.startswith("/"):
                    msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
                return Update.model_validate({"update_id": update_id, "message": msg}, context={"bot": bot})

            first = asyncio.create_task(dp.feed_update(bot, update(1, "slow")))
            await asyncio.sleep(0.1)
            sent = time.monotonic()
            await dp.feed_update(bot, update(2, "/cancel"))
            await first
            results[name] = answered["cancel"] - sent
            await dp.fsm.close()
            await bot.session.close()
    finally:
        await fake.stop()
        server.stop()
    return results


def summary(name: str, r: dict[str, Any]) -> None:
    lat = r["list_ms"]
    print(
        f"\n{name}: started in {r['startup_s']:.1f} s; {r['sent']} updates; "
        f"lost {r['lost']}, duplicated {r['duplicated']}"
    )
    if lat:
        print(
            f"  /addon list latency (n={len(lat)}): median {statistics.median(lat):.0f} ms, "
            f"p95 {percentile(lat, 0.95):.0f} ms, max {max(lat):.0f} ms"
        )
    for proc, (own, tree) in sorted(r["rss"].items()):
        print(f"  RSS {proc}: {own:.0f} MiB (with its agents {tree:.0f} MiB)")


async def main(seconds: float, updates: int, users: int) -> None:
    iso = await isolation()
    print("aiogram event isolation: /cancel sent 0.1 s into a 2 s handler of the same user waits")
    for name, wait in iso.items():
        print(f"  {name:22} {wait * 1000:7.0f} ms")
    routed = await run_load(True, seconds, updates, users)
    embedded = await run_load(False, seconds, updates, users)
    summary("routed (ingress + 3 workers + Redis)", routed)
    summary("embedded (1 process, no Redis)", embedded)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.updates, args.users))
