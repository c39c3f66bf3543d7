"""Benchmark: time from starting ``kiroclaw run`` to its first error line, against ``python -c pass``.

Four start-up failures an operator meets, each a real subprocess, interleaved round by round:
a missing ``BOT_TOKEN``, an invalid setting (``ALLOWED_TELEGRAM_IDS=42,abc``), a token the Bot API rejects
(the fake Bot API on 127.0.0.1 answers 401) and no reachable Bot API (a loopback port where nothing
listens). The time is from ``exec`` to the first line on stderr (for ``python -c pass``: to its exit).
Target (issue 13): within 1 s. Not a test: run it by hand::

    .venv/bin/python -m bench bot_startup [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bot.fake_telegram import FakeTelegram  # noqa: E402

KIROCLAW = str(Path(sys.executable).parent / "kiroclaw")
TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc"


async def first_line_seconds(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, str]:
    """(seconds from exec to the first stderr line or exit, that line)."""
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    line = (await proc.stderr.readline()).decode().strip()
    elapsed = time.perf_counter() - start
    await proc.communicate()
    return elapsed, line


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(rounds: int) -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIROCLAW_", "WORKSPACE_", "BOT_", "TELEGRAM_", "WEBHOOK_", "ALLOWED_", "ADMIN_"))
    }
    base |= {"ALLOWED_TELEGRAM_IDS": "42", "KIRO_CLI_PATH": sys.executable}
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass (baseline)": ([sys.executable, "-c", "pass"], base),
        "BOT_TOKEN missing": ([KIROCLAW, "run"], base),
        "ALLOWED_TELEGRAM_IDS=42,abc": ([KIROCLAW, "run"], base | {"ALLOWED_TELEGRAM_IDS": "42,abc"}),
        "Bot API answers 401": (
            [KIROCLAW, "run"],
            base | {"BOT_TOKEN": "123456:revoked-token-0123456789", "TELEGRAM_API_BASE": fake.base},
        ),
        "Bot API unreachable": (
            [KIROCLAW, "run"],
            base | {"BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": f"http://127.0.0.1:{closed_port()}"},
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    lines: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory() as cwd:
            for _ in range(rounds):
                for name, (argv, env) in cases.items():
                    seconds, line = await first_line_seconds(argv, env, cwd)
                    results[name].append(seconds)
                    lines[name] = line
            leftovers = os.listdir(cwd)
    finally:
        await fake.stop()
    baseline = statistics.median(results["python -c pass (baseline)"])
    load = os.getloadavg()[0]
    print(f"{rounds} rounds; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load {load:.1f}")
    print(f"{'case':30} {'median s':>9} {'min-max s':>13} {'×base':>6}  first line")
    for name, samples in results.items():
        median = statistics.median(samples)
        spread = f"{min(samples):.3f}-{max(samples):.3f}"
        print(f"{name:30} {median:9.3f} {spread:>13} {median / baseline:6.1f}  {lines[name][:70]}")
    print(f"files left in the working folder: {leftovers or 'none'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    asyncio.run(main(parser.parse_args().rounds))
