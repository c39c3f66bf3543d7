"""Benchmark: time from starting ``kiroclaw run`` to its first error line, against ``python -c pass``.

Four start-up failures an operator meets, each a real subprocess, interleaved round by round:
a missing ``BOT_TOKEN``, an invalid setting (``ALLOWED_TELEGRAM_IDS=42,abc``), a token the Bot API rejects
(the fake Bot API on 127.0.0.1 answers 401) and no reachable Bot API (a loopback port where nothing
listens). The time is from ``exec`` to the first line on stderr (for ``python -c pass``: to its exit);
each run's exit status and number of stderr lines are checked (every case: one ``error:`` line, exit 2).
kiroclaw runs as installed, with Python's bytecode cache (``PYTHONDONTWRITEBYTECODE`` is dropped; one
warm-up round is not counted). With ``--before PATH`` (another checkout's ``kiroclaw``) every case also
runs with that executable in the same rounds. Target (issue 13): within 1 s. Not a test: run it by hand::

    .venv/bin/python -m bench bot_startup [--rounds 15] [--before ../old/.venv/bin/kiroclaw]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
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


async def first_line_seconds(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, str, int, int, float]:
    """(seconds from exec to the first stderr line or exit, that line, exit status, stderr line count, the
    process's CPU seconds: user+system, from the children's rusage around this one child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    line = (await proc.stderr.readline()).decode().strip()
    elapsed = time.perf_counter() - start
    _, rest = await proc.communicate()
    lines = (1 if line else 0) + len(rest.decode().splitlines())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, line, proc.returncode or 0, lines, cpu


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(rounds: int, before: str | None) -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIROCLAW_", "WORKSPACE_", "BOT_", "TELEGRAM_", "WEBHOOK_", "ALLOWED_", "ADMIN_"))
    }
    base |= {"ALLOWED_TELEGRAM_IDS": "42", "KIRO_CLI_PATH": sys.executable}
    base.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: with the bytecode cache
    settings = {
        "BOT_TOKEN missing": {},
        "ALLOWED_TELEGRAM_IDS=42,abc": {"ALLOWED_TELEGRAM_IDS": "42,abc"},
        "Bot API answers 401": {"BOT_TOKEN": "123456:revoked-token-0123456789", "TELEGRAM_API_BASE": fake.base},
        "Bot API unreachable": {"BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": f"http://127.0.0.1:{closed_port()}"},
    }
    executables = {"before": before, "after": KIROCLAW} if before else {"": KIROCLAW}
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass (baseline)": ([sys.executable, "-c", "pass"], base)
    }
    for label, exe in executables.items():
        for name, extra in settings.items():
            cases[f"{name} [{label}]" if label else name] = ([exe, "run"], base | extra)
    results: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    lines: dict[str, str] = {}
    shapes: dict[str, set[tuple[int, int]]] = {name: set() for name in cases}
    print(f"load average at the start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    try:
        with tempfile.TemporaryDirectory() as cwd:
            for round_no in range(rounds + 1):  # round 0 warms the bytecode cache and is not counted
                for name, (argv, env) in cases.items():
                    seconds, line, status, count, cpu = await first_line_seconds(argv, env, cwd)
                    if round_no:
                        results[name].append(seconds)
                        cpus[name].append(cpu)
                        lines[name] = line
                        shapes[name].add((status, count))
            leftovers = os.listdir(cwd)
    finally:
        await fake.stop()
    baseline = statistics.median(results["python -c pass (baseline)"])
    cpu_baseline = statistics.median(cpus["python -c pass (baseline)"])
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{rounds} rounds; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load at the end {load}")
    head = f"{'case':38} {'median s':>9} {'min-max s':>13} {'×base':>6} {'CPU s':>6} {'×':>5} {'exit/lines':>10}"
    print(f"{head}  first line")
    for name, samples in results.items():
        median, cpu = statistics.median(samples), statistics.median(cpus[name])
        spread = f"{min(samples):.3f}-{max(samples):.3f}"
        shape = ",".join(f"{status}/{count}" for status, count in sorted(shapes[name]))
        print(
            f"{name:38} {median:9.3f} {spread:>13} {median / baseline:6.1f} {cpu:6.3f} {cpu / cpu_baseline:5.1f} "
            f"{shape:>10}  {lines[name][:50]}"
        )
    print(f"files left in the working folder: {leftovers or 'none'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", metavar="KIROCLAW", help="another kiroclaw executable to run side by side")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.before))
