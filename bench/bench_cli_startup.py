"""Benchmark: start-up of the ``kiroclaw`` CLI against ``python -c pass``, side by side.

Cases, each a real subprocess, interleaved round by round (the order rotates every round):

- ``python -c pass`` (the baseline) and ``python -c 'import click'`` (the floor of any click CLI);
- ``kiroclaw --version``;
- ``kiroclaw addon list --user 1`` (one add-on installed; target of issue 13: at most 5× the baseline);
- ``kiroclaw addon install ./missing --user 1``: the fixed cost before an install starts (settings, the
  host build: entry points, plugin versions, plugin imports, source selection), then the local source's
  one-line "not found" — no install work at all;
- ``kiroclaw addon install <demo package> --user N``: a whole local install (4 skills, 3 recipes) into a
  fresh user each round.

Then the host build in-process, as phases (one fresh interpreter per round): importing and reading the
settings, discovering the ``kiroclaw`` entry points with their distributions' versions, and the rest of
``Host(settings)`` (importing and registering the plugins, collecting sources and layers).

With ``--before PATH`` (another checkout's ``kiroclaw`` executable, e.g. a venv of the previous release)
every kiroclaw case also runs with that executable in the same rounds, so before and after are measured
under the same load. Wall time and CPU time (user+system of the child, ``os.wait4``) are both reported as
medians with min-max and the ratio to the baseline; CPU time is the steadier figure on a shared machine.
kiroclaw runs as installed: with Python's bytecode cache (``PYTHONDONTWRITEBYTECODE`` is dropped and one
warm-up round writes the cache). Not a test: run it by hand::

    .venv/bin/python -m bench cli_startup [--rounds 15] [--before ../old/.venv/bin/kiroclaw]

``python -X importtime -m kiroclaw.cli addon list --user 1`` shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import count
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIROCLAW = str(Path(sys.executable).parent / "kiroclaw")
DEMO = str(ROOT / "tests" / "fixtures" / "demo-package")
BASELINE = "python -c pass (baseline)"


def run_once(argv: list[str], env: dict[str, str], cwd: str, expect: int = 0) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one subprocess that must exit with ``expect``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != expect:
        raise SystemExit(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}, not {expect}: {err}")
    return wall, usage.ru_utime + usage.ru_stime


#: Runs in the checkout's own interpreter; prints the phases' CPU seconds (``time.process_time``: steadier
#: than wall time on a shared machine) as JSON.
PHASES_PROBE = """
import json, time
t0 = time.process_time()
from kiroclaw.config import load_settings
settings = load_settings()
t1 = time.process_time()
from kiroclaw import plugins
from kiroclaw.host import Host
spent = {"entry points and versions": 0.0}
def timed(function):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent["entry points and versions"] += time.process_time() - start
    return wrapper
plugins.discover_entry_points = timed(plugins.discover_entry_points)
plugins._own_version = timed(plugins._own_version)
t2 = time.process_time()
Host(settings)
t3 = time.process_time()
spent["settings (import, read)"] = t1 - t0
spent["plugins (import, register)"] = t3 - t2 - spent["entry points and versions"]
spent["host build (entry points, plugins)"] = t3 - t2
print(json.dumps(spent))
"""


def phases(python: str, env: dict[str, str], cwd: str) -> dict[str, float]:
    done = subprocess.run([python, "-c", PHASES_PROBE], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def kiroclaw_cases(exe: str, label: str, users: count[int]) -> dict[str, tuple[object, int]]:
    """Case name → (argv or a function giving a fresh argv, expected exit status)."""
    tag = f" [{label}]" if label else ""
    return {
        f"kiroclaw --version{tag}": ([exe, "--version"], 0),
        f"kiroclaw addon list --user 1{tag}": ([exe, "addon", "list", "--user", "1"], 0),
        f"addon install ./missing (fixed cost){tag}": ([exe, "addon", "install", "./missing", "--user", "1"], 1),
        f"addon install demo package{tag}": (
            lambda: [exe, "addon", "install", DEMO, "--user", str(next(users))],
            0,
        ),
    }


def main(rounds: int, before: str | None) -> None:
    print("load average at the start: " + " / ".join(f"{x:.1f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "WORKSPACE_", "GLOBAL_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: with the bytecode cache
        env["WORKSPACE_BASE_PATH"] = str(Path(tmp) / "workspaces")
        subprocess.run([KIROCLAW, "addon", "install", DEMO, "--user", "1"], env=env, check=True, capture_output=True)
        users = count(1000)
        cases: dict[str, tuple[object, int]] = {
            BASELINE: ([sys.executable, "-c", "pass"], 0),
            "python -c 'import click'": ([sys.executable, "-c", "import click"], 0),
        }
        if before:
            cases |= kiroclaw_cases(before, "before", users)
        cases |= kiroclaw_cases(KIROCLAW, "after" if before else "", users)
        names = list(cases)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for round_no in range(rounds + 1):  # round 0 warms the bytecode cache and is not counted
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                argv, expect = cases[name]
                sample = run_once(argv() if callable(argv) else argv, env, tmp, expect)  # type: ignore[operator]
                if round_no:
                    samples[name].append(sample)
        pythons = {"before": str(Path(before).parent / "python")} if before else {}
        pythons["after" if before else "this checkout"] = sys.executable
        phase_samples: dict[str, dict[str, list[float]]] = {label: {} for label in pythons}
        for _ in range(rounds):
            for label, python in pythons.items():
                for phase, seconds in phases(python, env, tmp).items():
                    phase_samples[label].setdefault(phase, []).append(seconds * 1000)
    report(samples, rounds)
    print(f"\nhost build in-process, {rounds} rounds (CPU ms, median and min-max):")
    print(f"{'phase':36} " + " ".join(f"{label:>20}" for label in pythons))
    for phase in next(iter(phase_samples.values())):
        cells = []
        for label in pythons:
            values = phase_samples[label][phase]
            cells.append(f"{statistics.median(values):7.1f} ({min(values):.0f}-{max(values):.0f})")
        print(f"{phase:36} " + " ".join(f"{cell:>20}" for cell in cells))


def report(samples: dict[str, list[tuple[float, float]]], rounds: int) -> None:
    base_wall = statistics.median(s[0] for s in samples[BASELINE])
    base_cpu = statistics.median(s[1] for s in samples[BASELINE])
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{rounds} rounds; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load at the end {load}")
    print(f"{'case':50} {'wall ms':>8} {'range':>10} {'×':>5} {'CPU ms':>8} {'range':>10} {'×':>5}")
    for name, values in samples.items():
        walls = [v[0] * 1000 for v in values]
        cpus = [v[1] * 1000 for v in values]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"{name:50} {wall:8.1f} {f'{min(walls):.0f}-{max(walls):.0f}':>10} {wall / base_wall / 1000:5.1f} "
            f"{cpu:8.1f} {f'{min(cpus):.0f}-{max(cpus):.0f}':>10} {cpu / base_cpu / 1000:5.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", metavar="KIROCLAW", help="another kiroclaw executable to run side by side")
    args = parser.parse_args()
    main(args.rounds, args.before)
