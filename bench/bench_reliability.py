"""Benchmark: load, isolation, quota races, archive bombs and the crash matrix (issue 7, catalogue §8).

All runs are bounded and loopback-only; figures are printed as a Markdown table for docs/reliability.md.
Not a test: run it by hand::

    .venv/bin/python -m bench reliability [--only load,flood,quota,bombs,crash] [--users 50]
        [--skill-kb 1024] [--quota-runs 1000] [--crash-runs 20]

* ``load``  — M users × 3 concurrent installs in one event loop (like the bot): two from a local
  ``kiroclaw hub serve`` and one from a git base (``GITHUB_BASE_URL`` = a folder of bare repos);
  p50/p95 install latency, the event loop's worst lag (a 10 ms ticker), every registry checked.
* ``flood`` — one user fires 100 installs while 20 others install one each; the victims' p95 against a
  baseline run of the same 20 installs alone.
* ``quota`` — N runs of "10 simultaneous installs of different add-ons with MAX_ADDONS_PER_USER=5":
  exactly 5 must succeed each time (the quota TOCTOU of catalogue case 48).
* ``bombs`` — a 10 GiB gzip bomb, a 1,000,000-member tar and a 2,000-deep tar, extracted by
  ``kiroclaw.acquire.extract_archive`` in a child process: time to rejection, peak disk use of the
  destination (sampled every 50 ms), the child's peak RSS against a child that only imports the module.
  The archives are built streaming (the 10 GiB bomb is ~10 MB of repeated gzip members).
* ``crash`` — the kill matrix of ``tests/reliability/test_crash.py`` with more runs per point.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KIROCLAW = Path(sys.executable).parent / "kiroclaw"
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
}
ROWS: list[tuple[str, str, str]] = []


def row(figure: str, value: str, target: str = "") -> None:
    ROWS.append((figure, value, target))
    print(f"  {figure}: {value}" + (f"   (target {target})" if target else ""), flush=True)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def write_skill(folder: Path, name: str, size_kb: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Bench skill {name}.\n---\n# {name}\n")
    if size_kb:
        (folder / "data.bin").write_bytes(random.Random(seed).randbytes(size_kb * 1024))
    return folder


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, timeout=120)


def make_git_repo(base: Path, work_root: Path, org: str, name: str, size_kb: int) -> None:
    work = work_root / org / name
    write_skill(work, name, size_kb, seed=hash(name) & 0xFFFF)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "init", cwd=work)
    bare = base / org / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=base)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=work)


class LagMonitor:
    """The event loop's worst scheduling delay, from a task that sleeps 10 ms in a loop."""

    def __init__(self) -> None:
        self.max_lag_seconds = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(0.01)
            self.max_lag_seconds = max(self.max_lag_seconds, loop.time() - started - 0.01)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, BaseException | None]:
    started = time.perf_counter()
    try:
        await call()
    except Exception as exc:  # a failed install is a result here, counted by the caller
        return time.perf_counter() - started, exc
    return time.perf_counter() - started, None


class Hub:
    """``kiroclaw hub serve`` on 127.0.0.1 over a catalog built with ``kiroclaw.hub.publish``."""

    def __init__(self, work: Path, skills: dict[str, int]) -> None:
        from kiroclaw.hub.publish import publish

        for index, (name, size_kb) in enumerate(skills.items()):
            publish(write_skill(work / "hubsrc" / name, name, size_kb, seed=index), work / "catalog", owner="bench")
        self.proc = subprocess.Popen(
            [str(KIROCLAW), "hub", "serve", str(work / "catalog"), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        match = re.search(r"at (http://\S+)", self.proc.stdout.readline())
        if not match:
            raise SystemExit("hub serve did not start")
        self.url = match.group(1)

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)


def settings_for(work: Path, **extra: Any) -> Any:
    from kiroclaw.config import Settings

    return Settings(_env_file=None, workspace_base_path=work / "ws", **extra)  # type: ignore[call-arg]


# --- load and flood ---------------------------------------------------------------------------------


async def bench_load(work: Path, users: int, size_kb: int) -> None:
    from kiroclaw.host import Host
    from kiroclaw.workspaces import Scope

    print(f"load: {users} users x 3 concurrent installs, {size_kb} KiB skills", flush=True)
    hub = Hub(work, {"big-a": size_kb, "big-b": size_kb})
    try:
        make_git_repo(work / "gitbase", work / "gitsrc", "bench", "big-c", size_kb)
        settings = settings_for(
            work, kirohub_registry_url=hub.url, github_base_url=(work / "gitbase").as_uri(), max_addons_per_user=5
        )
        host = Host(settings)
        specs = ["big-a", "big-b", "bench/big-c"]
        # warm-up (not measured): the first install imports the HTTP and git clients inside the event loop
        # (about 0.5 s once per process); a bot pays that once at its first install
        with LagMonitor() as cold:
            for spec in specs:
                await host.addons.install(spec, Scope.user(999))
        row("load: event-loop lag of the very first install (cold imports)", f"{cold.max_lag_seconds * 1000:.0f} ms")
        with LagMonitor() as lag:
            started = time.perf_counter()
            results = await asyncio.gather(
                *(
                    timed(lambda s=spec, u=user: host.addons.install(s, Scope.user(1000 + u)))
                    for user in range(users)
                    for spec in specs
                )
            )
            wall = time.perf_counter() - started
        await host.aclose()
        latencies = [t for t, exc in results if exc is None]
        errors = [exc for _, exc in results if exc is not None]
        correct = sum(
            sorted(r.name for r in host.addons.list(Scope.user(1000 + u))) == ["big-a", "big-b", "big-c"]
            for u in range(users)
        )
        row(
            f"load: installs ok ({users}×3)",
            f"{len(latencies)}/{len(results)}; users correct {correct}/{users}",
            "150/150",
        )
        if errors:
            row("load: first error", f"{type(errors[0]).__name__}: {errors[0]}")
        if latencies:
            row(
                "load: install latency p50 / p95",
                f"{pct(latencies, 0.5):.2f} s / {pct(latencies, 0.95):.2f} s",
                "p95 < 5 s",
            )
        row("load: max event-loop lag", f"{lag.max_lag_seconds * 1000:.0f} ms", "< 200 ms")
        row("load: wall time for all installs", f"{wall:.1f} s")
    finally:
        hub.close()


async def bench_flood(work: Path, size_kb: int) -> None:
    from kiroclaw.host import Host
    from kiroclaw.workspaces import Scope

    print("flood: 1 user x 100 installs while 20 users install 1 each", flush=True)
    names = {f"tool-{i:02d}": size_kb for i in range(40)}
    hub = Hub(work, names)
    try:
        settings = settings_for(work, kirohub_registry_url=hub.url, kirohub_cache_ttl_seconds=300)
        host = Host(settings)

        async def victims(base_user: int) -> list[float]:
            results = await asyncio.gather(
                *(
                    timed(lambda i=i: host.addons.install(f"tool-{20 + i:02d}", Scope.user(base_user + i)))
                    for i in range(20)
                )
            )
            failed = [exc for _, exc in results if exc is not None]
            if failed:
                raise SystemExit(f"a victim install failed: {failed[0]}")
            return [t for t, _ in results]

        await victims(9000)  # warm the hub's caches and the plugin imports
        baseline = await victims(2000)
        flooder = Scope.user(1)
        flood = asyncio.gather(
            *(timed(lambda i=i: host.addons.install(f"tool-{i % 20:02d}", flooder, force=True)) for i in range(100))
        )
        during = await victims(3000)
        flood_results = await flood
        await host.aclose()
        flood_ok = sum(exc is None for _, exc in flood_results)
        base_p95, flood_p95 = pct(baseline, 0.95), pct(during, 0.95)
        row("flood: victims' p95 alone / during the flood", f"{base_p95:.2f} s / {flood_p95:.2f} s")
        row("flood: ratio", f"{flood_p95 / base_p95:.2f}×", "≤ 1.5×")
        row("flood: flooder's installs that succeeded", f"{flood_ok}/100 (serialised by the user lock)")
        row("flood: flooder's registry entries", str(len(host.addons.list(flooder))))
    finally:
        hub.close()


# --- quota race -------------------------------------------------------------------------------------


async def bench_quota(work: Path, runs: int) -> None:
    from kiroclaw.errors import QuotaExceededError
    from kiroclaw.host import Host
    from kiroclaw.workspaces import Scope

    print(f"quota: {runs} runs of 10 concurrent installs with quota 5", flush=True)
    src = work / "quota-src"
    folders = [write_skill(src / f"q-{i}", f"q-{i}", 0, seed=i) for i in range(10)]
    host = Host(settings_for(work, max_addons_per_user=5, kiroclaw_disable_plugins=["policy"]))
    over = wrong = 0
    started = time.perf_counter()
    for run in range(runs):
        scope = Scope.user(50_000 + run)
        results = await asyncio.gather(*(host.addons.install(str(f), scope) for f in folders), return_exceptions=True)
        ok = sum(not isinstance(r, BaseException) for r in results)
        quota = sum(isinstance(r, QuotaExceededError) for r in results)
        listed = len(host.addons.list(scope))
        over += listed > 5 or ok > 5
        wrong += not (ok == 5 and quota == 5 and listed == 5)
    elapsed = time.perf_counter() - started
    row(f"quota: runs over quota ({runs} runs × 10 installs)", str(over), "0")
    row("quota: runs not exactly 5 ok + 5 refused", str(wrong), "0")
    row("quota: time per run", f"{elapsed / runs * 1000:.0f} ms")


# --- bombs ------------------------------------------------------------------------------------------


def _gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a complete gzip member
    return compressor.compress(data) + compressor.flush()


def build_gzip_bomb(path: Path, total_bytes: int) -> None:
    """A .tar.gz whose one member is ``total_bytes`` of zeros, as many identical gzip members (valid per
    RFC 1952, read by Python's gzip module) so it is built without compressing 10 GiB."""
    info = tarfile.TarInfo("bomb/SKILL.md")
    info.size = total_bytes
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    block = 1024 * 1024
    zeros = _gzip_member(b"\0" * block)
    with path.open("wb") as out:
        out.write(_gzip_member(header))
        for _ in range(total_bytes // block):
            out.write(zeros)
        out.write(_gzip_member(b"\0" * (total_bytes % block + 1024)))


def build_many_members(path: Path, members: int) -> None:
    with gzip.open(path, "wb", compresslevel=1) as raw, tarfile.open(fileobj=raw, mode="w|") as tar:
        info = tarfile.TarInfo("many/SKILL.md")
        body = b"---\nname: many\ndescription: many files\n---\n"
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        for index in range(members - 1):
            tar.addfile(tarfile.TarInfo(f"many/f{index}"))


def build_deep(path: Path, depth: int) -> None:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("/".join(["a"] * depth) + "/SKILL.md")
        tar.addfile(info, io.BytesIO(b""))


def build_split_bomb(path: Path, total_bytes: int, member_bytes: int) -> None:
    """Like :func:`build_gzip_bomb`, but as many members each below the size cap: only counting the bytes
    really written can stop it (a lying or per-member check would not)."""
    block = 1024 * 1024
    zeros = _gzip_member(b"\0" * block)
    with path.open("wb") as out:
        skill = tarfile.TarInfo("bomb/SKILL.md")
        body = b"---\nname: bomb\ndescription: zeros\n---\n"
        skill.size = len(body)
        out.write(_gzip_member(skill.tobuf(format=tarfile.PAX_FORMAT) + body + b"\0" * (-len(body) % 512)))
        for index in range(total_bytes // member_bytes):
            info = tarfile.TarInfo(f"bomb/zeros-{index}.bin")
            info.size = member_bytes
            out.write(_gzip_member(info.tobuf(format=tarfile.PAX_FORMAT)))
            for _ in range(member_bytes // block):
                out.write(zeros)
        out.write(_gzip_member(b"\0" * 1024))


BOMBS: dict[str, Callable[[Path], None]] = {
    "10 GiB gzip bomb, one member": lambda p: build_gzip_bomb(p, 10 * 1024**3),
    "10 GiB gzip bomb, 256 members of 40 MiB": lambda p: build_split_bomb(p, 10 * 1024**3, 40 * 1024**2),
    "1,000,000-member tar": lambda p: build_many_members(p, 1_000_000),
    "2,000-deep tar": lambda p: build_deep(p, 2000),
}

_CHILD = """
import resource, sys, time
from pathlib import Path
from kiroclaw.acquire import ExtractLimits, extract_archive
from kiroclaw.errors import KiroclawError
archive, dest, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
outcome = "imported only"
started = time.perf_counter()
if mode == "extract":
    try:
        extract_archive(archive, dest, ExtractLimits())
        outcome = "ACCEPTED"
    except KiroclawError as exc:
        outcome = f"{type(exc).__name__}: {exc.user_message}"
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(f"{time.perf_counter() - started:.3f}|{int(hwm) / 1024:.1f}|{outcome}")
"""


def du_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def run_child(archive: Path, dest: Path, mode: str) -> tuple[float, str, float, int]:
    """(seconds, outcome, peak RSS MiB, peak disk bytes of ``dest``)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(archive), str(dest), mode], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    peak_disk = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_disk
        while not done.is_set():
            if dest.exists():
                peak_disk = max(peak_disk, du_bytes(dest))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    assert proc.stdout is not None
    # VmHWM is the child's own peak (reset at exec); wait4's ru_maxrss would include the forked parent's
    seconds, _, rest = proc.stdout.read().strip().partition("|")
    hwm, _, outcome = rest.partition("|")
    if os.waitstatus_to_exitcode(status) != 0:
        outcome = f"child failed ({os.waitstatus_to_exitcode(status)})"
    return float(seconds or 0), outcome, float(hwm or usage.ru_maxrss / 1024), peak_disk


def bench_bombs(work: Path) -> None:
    from kiroclaw.acquire import ExtractLimits

    limits = ExtractLimits()
    print(
        f"bombs (limits: {limits.max_bytes >> 20} MiB, {limits.max_files} files, depth {limits.max_depth})", flush=True
    )
    cases = BOMBS
    _, _, base_rss, _ = run_child(work / "none", work / "none-dest", "import")
    row("bombs: child RSS after importing kiroclaw.acquire (baseline)", f"{base_rss:.0f} MiB")
    for label in cases:
        archive = work / f"bomb-{len(label)}.tar.gz"
        started = time.perf_counter()
        # built in a child: the parent must stay small, or forked children would report its RSS
        subprocess.run([sys.executable, __file__, "--build-bomb", label, str(archive)], check=True, cwd=ROOT)
        built = time.perf_counter() - started
        dest = work / f"bomb-dest-{len(label)}"
        seconds, outcome, rss, disk = run_child(archive, dest, "extract")
        archive_mb = archive.stat().st_size / 1e6
        row(
            f"bombs: {label} ({archive_mb:.1f} MB archive, built in {built:.0f} s)",
            f"rejected in {seconds:.2f} s; peak disk {disk / 1e6:.1f} MB; peak RSS {rss:.0f} MiB "
            f"(+{rss - base_rss:.0f}); {outcome[:90]}",
            "reject < 3 s, disk ≤ limit, RSS < +50 MB",
        )
        archive.unlink()
        subprocess.run(["rm", "-rf", str(dest)], check=False)


# --- crash matrix -----------------------------------------------------------------------------------


def bench_crash(work: Path, runs: int) -> None:
    os.environ["KIROCLAW_KILL_RUNS"] = str(runs)
    from concurrent.futures import ThreadPoolExecutor

    from kiroclaw.faults import POINTS
    from tests.reliability import test_crash

    test_crash.RUNS = runs
    import logging

    logging.getLogger("kiroclaw").setLevel(logging.ERROR)  # fsck's per-problem warnings are expected here
    print(f"crash: {len(POINTS)} kill points × {runs} runs (SIGKILL, then start-up fsck)", flush=True)
    with ThreadPoolExecutor(max_workers=len(POINTS)) as pool:
        futures = {p: pool.submit(test_crash._one_point, p, work / f"crash-{p}") for p in POINTS}
        results = {}
        for point, future in futures.items():
            try:
                results[point] = (future.result(), None)
            except AssertionError as exc:
                results[point] = ([], exc)
    for point, (point_runs, error) in results.items():
        if error is not None:
            row(f"crash: {point}", f"FAILED: {error}")
            continue
        recovery = [float(r["recovery_seconds"]) for r in point_runs]
        completed = sum(bool(r["completed"]) for r in point_runs)
        row(
            f"crash: {point}",
            f"{len(point_runs)} runs, 0 failures, install kept in {completed}; "
            f"recovery max {max(recovery) * 1000:.0f} ms, median {statistics.median(recovery) * 1000:.0f} ms",
            "0 corrupt, 0 orphans, 0 mismatches; recovery < 2 s",
        )


def main() -> None:
    if sys.argv[1:2] == ["--build-bomb"]:
        BOMBS[sys.argv[2]](Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="load,flood,quota,bombs,crash")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--skill-kb", type=int, default=1024)
    parser.add_argument("--quota-runs", type=int, default=1000)
    parser.add_argument("--crash-runs", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = parser.parse_args()
    chosen = {part.strip() for part in args.only.split(",") if part.strip()}
    with tempfile.TemporaryDirectory(prefix="bench-rel-") as tmp:
        work = Path(tmp)
        if "load" in chosen:
            asyncio.run(bench_load(work / "load", args.users, args.skill_kb))
        if "flood" in chosen:
            asyncio.run(bench_flood(work / "flood", args.skill_kb))
        if "quota" in chosen:
            asyncio.run(bench_quota(work / "quota", args.quota_runs))
        if "bombs" in chosen:
            (work / "bombs").mkdir()
            bench_bombs(work / "bombs")
        if "crash" in chosen:
            bench_crash(work, args.crash_runs)
    print("\n| figure | measured | target |\n|---|---|---|")
    for figure, value, target in ROWS:
        print(f"| {figure} | {value} | {target} |")
    if args.json:
        args.json.write_text(json.dumps(ROWS, indent=1))


if __name__ == "__main__":
    main()
