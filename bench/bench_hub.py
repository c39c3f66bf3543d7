"""Benchmark: search and install of a 1 MB skill from a local ``kiroclaw hub serve``, KiroClaw vs ``clawhub``.

Both clients run as real CLI processes against the same server on 127.0.0.1, side by side, several
rounds each; the medians are printed with their ratio. In-process timings of the ``kirohub`` source
(no process start-up) are printed too. Not a test: run it by hand::

    .venv/bin/python bench/bench_hub.py [--rounds 7]

The ``clawhub`` CLI (pinned version) is installed from npm into a temporary folder on first use; without
node/npm only KiroClaw's figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLAWHUB_VERSION = "0.23.3"
KIROCLAW = Path(sys.executable).parent / "kiroclaw"


def build_catalog(root: Path) -> None:
    """A catalog of 40 small skills and ``big-skill`` (1 MiB of incompressible data plus SKILL.md)."""
    from kiroclaw.hub.publish import publish

    src = root / "src"
    for i in range(40):
        folder = src / f"tool-{i:02d}"
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: tool-{i:02d}\ndescription: Helper number {i} for tests.\n---\nDo {i}.\n"
        )
        publish(folder, root / "catalog", owner="bench")
    big = src / "big-skill"
    (big / "data").mkdir(parents=True)
    (big / "SKILL.md").write_text(
        "---\nname: big-skill\ndescription: A big skill of one mebibyte.\n---\nUse the data.\n"
    )
    (big / "data" / "blob.bin").write_bytes(random.Random(1).randbytes(1024 * 1024))
    publish(big, root / "catalog", owner="bench")


def clawhub_bin() -> Path | None:
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    prefix = Path(tempfile.gettempdir()) / f"kiroclaw-clawhub-{CLAWHUB_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "clawhub"
    if not binary.exists():
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", f"clawhub@{CLAWHUB_VERSION}"],
            capture_output=True,
            check=False,
            timeout=300,
        )
    return binary if binary.exists() else None


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")
    return elapsed


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def in_process(url: str, workspace: Path, rounds: int) -> tuple[list[float], list[float]]:
    from kiroclaw.config import Settings
    from kiroclaw.host import Host
    from kiroclaw.workspaces import Scope

    settings = Settings(
        _env_file=None,
        workspace_base_path=workspace,
        kirohub_registry_url=url,  # type: ignore[call-arg]
        kirohub_cache_ttl_seconds=0,
    )
    host = Host(settings)
    searches, installs = [], []
    for i in range(rounds):
        started = time.perf_counter()
        await host.addons.search("big", source="kirohub")
        searches.append(time.perf_counter() - started)
        started = time.perf_counter()
        await host.addons.install("big-skill", Scope.user(5000 + i))
        installs.append(time.perf_counter() - started)
    return searches, installs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    server = None
    try:
        build_catalog(work)
        server = subprocess.Popen(
            [str(KIROCLAW), "hub", "serve", str(work / "catalog"), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert server.stdout is not None
        match = re.search(r"at (http://\S+)", server.stdout.readline())
        if not match:
            raise SystemExit("hub serve did not start")
        url = match.group(1)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROHUB_", "CLAWHUB_", "WORKSPACE_"))}
        ours_env = {**base_env, "KIROHUB_REGISTRY_URL": url, "WORKSPACE_BASE_PATH": str(work / "ws")}
        home = work / "home"
        home.mkdir()
        theirs_env = {
            **base_env,
            "HOME": str(home),
            "CLAWHUB_REGISTRY": url,
            "CLAWHUB_DISABLE_TELEMETRY": "1",
            "CLAWHUB_CONFIG_PATH": str(home / "clawhub.json"),
        }
        clawhub = clawhub_bin()

        rows: dict[str, list[float]] = {
            k: [] for k in ("ours search", "ours install", "clawhub search", "clawhub install")
        }
        for i in range(args.rounds):  # interleaved, so both see the same machine state
            rows["ours search"].append(timed([str(KIROCLAW), "addon", "search", "big"], ours_env))
            rows["ours install"].append(
                timed([str(KIROCLAW), "addon", "install", "big-skill", "--user", str(100 + i)], ours_env)
            )
            if clawhub:
                wd = work / f"wd{i}"
                rows["clawhub search"].append(timed([str(clawhub), "--workdir", str(wd), "search", "big"], theirs_env))
                rows["clawhub install"].append(
                    timed([str(clawhub), "--workdir", str(wd), "--no-input", "install", "big-skill"], theirs_env)
                )
            installed = work / "ws" / str(100 + i) / ".kiro" / "skills" / "big-skill" / "data" / "blob.bin"
            assert installed.stat().st_size == 1024 * 1024
        lib_search, lib_install = asyncio.run(in_process(url, work / "ws-lib", args.rounds))

        print(f"KiroHub benchmark: {args.rounds} rounds, 1 MiB skill, server {url} (kiroclaw hub serve)")
        print(f"{'operation':<10} {'kiroclaw CLI':>14} {'clawhub CLI':>14} {'ratio':>8} {'source in-process':>20}")
        for op, lib in (("search", lib_search), ("install", lib_install)):
            ours = median_ms(rows[f"ours {op}"])
            theirs = median_ms(rows[f"clawhub {op}"]) if rows[f"clawhub {op}"] else float("nan")
            ratio = ours / theirs if rows[f"clawhub {op}"] else float("nan")
            print(f"{op:<10} {ours:>11.0f} ms {theirs:>11.0f} ms {ratio:>7.2f}x {median_ms(lib):>17.1f} ms")
        if not clawhub:
            print("clawhub CLI unavailable (node/npm missing or npm install failed): its column is empty")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
