"""Benchmark: ``kiroclaw addon list --user 1`` start-up against ``python -c pass`` side by side.

Each round runs every case once, interleaved, as a real subprocess; wall time and CPU time (user+system,
``os.wait4``) are both reported, with medians, min-max and the ratio to the baseline. CPU time is the
steadier figure on a shared, loaded machine. Also runs the two imports that set the floor (click, and
pydantic's BaseModel, which the registry's records use). Target (issue 13): at most 5× the baseline.
Not a test: run it by hand::

    .venv/bin/python -m bench cli_startup [--rounds 15]

``python -X importtime -m kiroclaw.cli addon list --user 1`` shows where the rest goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIROCLAW = str(Path(sys.executable).parent / "kiroclaw")
DEMO = str(ROOT / "tests" / "fixtures" / "demo-package")


def run_once(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "WORKSPACE_", "GLOBAL_"))}
        env["WORKSPACE_BASE_PATH"] = str(Path(tmp) / "workspaces")
        subprocess.run([KIROCLAW, "addon", "install", DEMO, "--user", "1"], env=env, check=True, capture_output=True)
        cases = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "python -c 'import click'": [sys.executable, "-c", "import click"],
            "python -c 'from pydantic import BaseModel'": [sys.executable, "-c", "from pydantic import BaseModel"],
            "kiroclaw addon list --user 1": [KIROCLAW, "addon", "list", "--user", "1"],
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, argv in cases.items():
                samples[name].append(run_once(argv, env, tmp))
    base_wall = statistics.median(s[0] for s in samples["python -c pass (baseline)"])
    base_cpu = statistics.median(s[1] for s in samples["python -c pass (baseline)"])
    print(f"{rounds} rounds; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'case':44} {'wall ms':>8} {'range':>13} {'×':>5} {'CPU ms':>8} {'range':>13} {'×':>5}")
    for name, values in samples.items():
        walls = [v[0] * 1000 for v in values]
        cpus = [v[1] * 1000 for v in values]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"{name:44} {wall:8.1f} {f'{min(walls):.0f}-{max(walls):.0f}':>13} {wall / base_wall / 1000:5.1f} "
            f"{cpu:8.1f} {f'{min(cpus):.0f}-{max(cpus):.0f}':>13} {cpu / base_cpu / 1000:5.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    main(parser.parse_args().rounds)
