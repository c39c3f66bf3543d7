"""Benchmark of the bot through the real aiogram Bot/Dispatcher and the fake Bot API on 127.0.0.1
(a script, not a test).

1. Latency from update to reply with 100 concurrent users: each round pushes one update per user at
   once, the bot polls them in one batch and handles them concurrently (aiogram's default, as in
   production); latency = time of the user's reply (``sendMessage`` recorded by the fake server) minus the
   time the update was queued. Candidates: ``/addon list`` and ``/skills`` (registry read, effective-set
   resolution over 5 add-ons + formatting); baseline: ``/start`` (a static reply: transport, polling,
   middlewares only). Rounds alternate between the three commands; median and p95 are over all samples.
   For reference the same commands are also timed one user at a time.
2. Memory with 1,000 users who each have 5 add-ons: RSS of the bot process after start, then after every
   user ran ``/addon list`` and ``/skills`` once (all registries and effective sets read, replies sent).

The bot is the real ``kiroclaw run`` in a subprocess (``TELEGRAM_API_BASE`` points it at the fake server
in this process), so the bot and the fake Bot API do not share one CPU core.

Usage: ``python bench/bench_bot.py [--rounds 5] [--users 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kiroclaw.config import Settings  # noqa: E402
from kiroclaw.host import Host  # noqa: E402
from kiroclaw.workspaces import Scope  # noqa: E402
from tests.bot.fake_telegram import FakeTelegram, FakeUser  # noqa: E402
from tests.conftest import write_skill  # noqa: E402

TOKEN = "123456:BENCHMARK-TOKEN-abcdefghij"
FIRST_ID = 100_000


def rss_mib(pid: int) -> float:
    """Resident set size of process ``pid``, in MiB (``/proc/<pid>/status`` VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def seed(workspace: Path, users: int, skills_src: Path) -> float:
    """Install 5 local skills for the first user through the AddonManager, then copy that user's tree to
    the others (same registry, relative paths). :returns: seconds taken."""
    started = time.perf_counter()
    host = Host(Settings(_env_file=None, workspace_base_path=workspace))  # type: ignore[call-arg]
    for i in range(5):
        folder = write_skill(skills_src, f"bench-skill-{i}", f"Benchmark skill number {i}, does thing {i}.")
        await host.addons.install(str(folder), Scope.user(FIRST_ID))
    template = workspace / str(FIRST_ID)
    for uid in range(FIRST_ID + 1, FIRST_ID + users):
        await asyncio.to_thread(shutil.copytree, template, workspace / str(uid), symlinks=True)
    await host.aclose()
    return time.perf_counter() - started


async def main(rounds: int, users: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kiroclaw-bench-bot-"))
    proc: asyncio.subprocess.Process | None = None
    fake = FakeTelegram(TOKEN)
    await fake.start()
    try:
        workspace = tmp / "ws"
        workspace.mkdir()
        seconds = await seed(workspace, users, tmp / "src")
        print(f"seeded {users} users × 5 add-ons in {seconds:.1f} s")
        ids = list(range(FIRST_ID, FIRST_ID + users))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "WORKSPACE_", "BOT_"))}
        env.update(
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE=fake.base,
            WORKSPACE_BASE_PATH=str(workspace),
            ALLOWED_TELEGRAM_IDS=",".join(map(str, ids)),
            KIRO_CLI_PATH=sys.executable,  # never started: the benchmark does not chat
        )
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "kiroclaw"),
            "run",
            env=env,
            cwd=tmp,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        await fake.wait_for(lambda: bool(fake.poll_calls), timeout=60)
        await asyncio.sleep(0.5)
        rss_started = rss_mib(proc.pid)

        people = [FakeUser(uid, f"U{uid}") for uid in ids]
        samples: dict[str, list[float]] = {"/start": [], "/addon list": [], "/skills": []}

        async def round_of(command: str, group: list[FakeUser]) -> None:
            queued: dict[int, float] = {}
            seen = len(fake.calls)
            for person in group:
                fake.send_text(person, command)
                queued[person.id] = time.monotonic()
            await fake.wait_for(
                lambda: sum(1 for c in fake.calls[seen:] if c.method == "sendmessage") >= len(group), timeout=120
            )
            for call in fake.calls[seen:]:
                if call.method == "sendmessage":
                    chat = int(call.params["chat_id"])
                    if chat in queued:
                        samples[command].append((call.t - queued.pop(chat)) * 1000)

        # warm-up (imports, first registry reads), not counted
        await round_of("/start", people[:100])
        await round_of("/addon list", people[100:200])
        await round_of("/skills", people[200:300])
        for key in samples:
            samples[key].clear()
        for r in range(rounds):
            group = people[(r * 100) % users : (r * 100) % users + 100]
            for command in ("/start", "/addon list", "/skills"):
                await round_of(command, group)

        print(f"\nlatency, update queued → reply recorded, {rounds} rounds × 100 concurrent users (ms)")
        print("bot: `kiroclaw run` subprocess; Bot API: the fake server in this process")
        print(f"{'command':<14}{'median':>9}{'p95':>9}{'max':>9}{'ratio p50':>11}{'ratio p95':>11}")
        base = samples["/start"]
        base_p50, base_p95 = statistics.median(base), _p95(base)
        for command, values in samples.items():
            p50, p95 = statistics.median(values), _p95(values)
            print(
                f"{command:<14}{p50:>9.1f}{p95:>9.1f}{max(values):>9.1f}"
                f"{p50 / base_p50:>10.2f}×{p95 / base_p95:>10.2f}×"
            )

        # reference: one user at a time (no burst), 30 requests per command
        single: dict[str, list[float]] = {}
        for command in samples:
            single[command] = []
            for person in people[:30]:
                samples[command] = []
                await round_of(command, [person])
                single[command].extend(samples[command])
        print("\nlatency, one user at a time (30 sequential requests, ms)")
        print(f"{'command':<14}{'median':>9}{'p95':>9}{'ratio p50':>11}")
        one_base = statistics.median(single["/start"])
        for command, values in single.items():
            p50 = statistics.median(values)
            print(f"{command:<14}{p50:>9.1f}{_p95(values):>9.1f}{p50 / one_base:>10.2f}×")

        # memory: every user runs /addon list and /skills once, 100 at a time
        for start in range(0, users, 100):
            group = people[start : start + 100]
            await round_of("/addon list", group)
            await round_of("/skills", group)
        await asyncio.sleep(0.5)
        rss_after = rss_mib(proc.pid)
        print(f"\nmemory of the bot process (RSS), {users} users × 5 add-ons")
        print(f"  polling, before any user:                     {rss_started:7.1f} MiB")
        print(
            f"  after every user listed add-ons and skills:   {rss_after:7.1f} MiB "
            f"(+{rss_after - rss_started:.1f} MiB, {(rss_after - rss_started) * 1024 / users:.1f} KiB per user)"
        )
    finally:
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, max(args.users, 200)))
