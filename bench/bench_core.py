"""Benchmark: wall time and peak memory of the core CLI paths, against ``python -c pass`` side by side.

Each round runs every command once, interleaved, as a real subprocess; the child's peak RSS comes from
``os.wait4`` (``ru_maxrss``, KiB on Linux). Medians are printed with their ratio to the baseline.
Also times the resolver in-process for 20 add-ons with 200 skills. Not a test: run it by hand::

    .venv/bin/python -m bench core [--rounds 9]

Targets (issue 2): ``kiroclaw addon list`` and a local install ≤ 0.3 s and ≤ 60 MB.
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


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds user+system) of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def resolver_ms(workspace: Path, rounds: int) -> float:
    sys.path.insert(0, str(ROOT))
    from kiroclaw.config import Settings
    from kiroclaw.host import Host
    from tests.conftest import write_package

    settings = Settings(_env_file=None, workspace_base_path=workspace)  # type: ignore[call-arg]
    host = Host(settings)
    plugins = workspace / "77" / ".kiro" / "plugins"
    for p in range(20):
        write_package(plugins / f"org@pkg{p}", skills=[f"s{p}-{i}" for i in range(10)], recipes=[f"r{p}"])
    host.effective_set(77)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        effective = host.effective_set(77)
        times.append((time.perf_counter() - start) * 1000)
    assert len(effective.skills) == 200
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspaces"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "MAX_ADDON"))}
        env["WORKSPACE_BASE_PATH"] = str(workspace)
        subprocess.run([KIROCLAW, "addon", "install", DEMO, "--user", "42"], env=env, check=True, capture_output=True)
        commands = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "kiroclaw addon list": [KIROCLAW, "addon", "list", "--user", "42"],
            "kiroclaw skills": [KIROCLAW, "skills", "--user", "42"],
            "kiroclaw addon install (local)": [KIROCLAW, "addon", "install", DEMO, "--user", "42", "--force"],
        }
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                results[name].append(run_once(argv, env))
        base = results["python -c pass (baseline)"]
        base_t = statistics.median(s[0] for s in base)
        base_m = statistics.median(s[1] for s in base)
        load = os.getloadavg()[0]
        print(f"{args.rounds} rounds, medians; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs, load {load:.1f}")
        print(f"{'command':34} {'wall s':>8} {'×base':>7} {'CPU s':>7} {'peak MiB':>9} {'×base':>7}")
        for name, samples in results.items():
            wall = statistics.median(s[0] for s in samples)
            mem = statistics.median(s[1] for s in samples)
            cpu = statistics.median(s[2] for s in samples)
            print(f"{name:34} {wall:8.3f} {wall / base_t:7.1f} {cpu:7.3f} {mem:9.1f} {mem / base_m:7.1f}")
        print(f"resolver, 20 add-ons / 200 skills (in-process): {resolver_ms(workspace, 51):.2f} ms median")


if __name__ == "__main__":
    main()
