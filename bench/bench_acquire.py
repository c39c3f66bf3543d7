"""Benchmark of the acquisition pipeline against plain tools, run side by side (a script, not a test).

1. A 50-skill plugin repository served from a local ``file://`` base:
   * ``kiroclaw install``: ``host.addons.install("acme/big50")`` (fetch, archive, safe extraction, layout,
     validation, fingerprint, atomic placement, registry write), a fresh user each run;
   * ``github fetch only``: ``GitHubSource.fetch`` into a staging folder;
   * baseline: ``git clone --depth 1 file://…/big50.git``.
2. A 20 MB ``.tar.gz`` (incompressible content):
   * ``extract_archive`` (the safe extractor on the file);
   * ``kiroclaw install``: ``host.addons.install(<url>)`` from an aiohttp server on 127.0.0.1 (download,
     sniff, extract, validate, place);
   * baseline: ``tar -xzf`` of the same file.

Runs alternate between the candidates; the figure is the median of ``--runs`` runs, and the ratio is
candidate median / baseline median (target ≤ 1.5×).

Usage: ``python bench/bench_acquire.py [--runs 9]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shlex
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from kiroclaw import Scope
from kiroclaw.acquire import ExtractLimits, extract_archive
from kiroclaw.config import Settings
from kiroclaw.host import Host
from kiroclaw.sources import FetchContext

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


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def make_repo(base: Path, work: Path, skills: int) -> None:
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for index in range(skills):
        folder = work / "skills" / f"skill-{index:02d}"
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: skill-{index:02d}\ndescription: Benchmark skill number {index}.\n---\n"
            + "Instructions line.\n" * 40
        )
        (folder / "reference.md").write_text("Reference text.\n" * 200)
        (folder / "scripts" / "run.py").write_text("print('hello')\n" * 20)
    (work / "README.md").write_text("# big50\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "bench", cwd=work)
    bare = base / "acme" / "big50.git"
    bare.parent.mkdir(parents=True)
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=base)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=work)


def make_archive(path: Path, total_bytes: int) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        skill = b"---\nname: big-archive\ndescription: A 20 MB benchmark skill.\n---\nBody.\n"
        info = tarfile.TarInfo("big-archive/SKILL.md")
        info.size = len(skill)
        tar.addfile(info, io.BytesIO(skill))
        per_file = 256 * 1024
        for index in range(total_bytes // per_file):
            info = tarfile.TarInfo(f"big-archive/data/blob-{index:03d}.bin")
            info.size = per_file
            tar.addfile(info, io.BytesIO(os.urandom(per_file)))
    path.write_bytes(buffer.getvalue())


def timed_sync(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


async def timed(coro: Awaitable[object]) -> float:
    started = time.perf_counter()
    await coro
    return time.perf_counter() - started


async def timed_shell(command: str) -> float:
    """Wall time of a shell pipeline run without blocking the loop (the HTTP server shares it)."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_shell(command)
    if await proc.wait() != 0:
        raise RuntimeError(f"{command!r} failed")
    return time.perf_counter() - started


def report(title: str, results: dict[str, list[float]], baseline: str) -> None:
    base = statistics.median(results[baseline])
    print(f"\n{title}")
    print(f"  {'candidate':<34} {'median ms':>10} {'ratio':>7}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"  {name:<34} {median * 1000:>10.1f} {median / base:>6.2f}x")


async def main(runs: int) -> None:
    from aiohttp import web

    with tempfile.TemporaryDirectory(prefix="kiroclaw-bench-") as tmp_text:
        tmp = Path(tmp_text)
        base = tmp / "gitbase"
        base.mkdir()
        make_repo(base, tmp / "src", 50)
        archive = tmp / "big.tar.gz"
        make_archive(archive, 20 * 1024 * 1024)
        print(f"archive: {archive.stat().st_size / 1e6:.1f} MB compressed; repo: 50 skills, 151 files")

        app = web.Application()

        async def serve(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(archive)

        app.router.add_get("/big.tar.gz", serve)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]

        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            workspace_base_path=tmp / "workspaces",
            kiroclaw_disable_plugins=[],
            github_base_url=base.as_uri(),
            url_allow_private_hosts=["127.0.0.1"],
            max_addon_size_mb=64,
            max_addons_per_user=1000,
        )
        host = Host(settings)
        github = host.source("github")
        url = f"http://127.0.0.1:{port}/big.tar.gz"

        git_results: dict[str, list[float]] = {
            "git clone --depth 1": [],
            "github fetch only": [],
            "kiroclaw install": [],
        }
        tar_results: dict[str, list[float]] = {
            "tar -xzf": [],
            "extract_archive": [],
            "curl | tar -xzf (HTTP)": [],
            "kiroclaw install (HTTP)": [],
        }
        for run in range(runs + 1):  # run 0 warms caches and imports; not counted
            user = 1000 + run
            clone_dest = tmp / f"clone-{run}"
            clone_cmd = ["git", "clone", "-q", "--depth", "1", f"{base.as_uri()}/acme/big50.git", str(clone_dest)]
            t_clone = timed_sync(partial(subprocess.run, clone_cmd, env=GIT_ENV, check=True))
            staging = tmp / f"staging-{run}"
            staging.mkdir()
            ref = github.parse("acme/big50")
            context = FetchContext(settings=settings, scope=Scope.user(user), max_bytes=settings.max_addon_size_bytes)
            t_fetch = await timed(github.fetch(ref, staging, context))
            t_install = await timed(host.addons.install("acme/big50", Scope.user(user)))

            tar_dest = tmp / f"tar-{run}"
            tar_dest.mkdir()
            t_tar = timed_sync(partial(subprocess.run, ["tar", "-xzf", str(archive), "-C", str(tar_dest)], check=True))
            limits = ExtractLimits.from_settings(settings)
            t_extract = timed_sync(partial(extract_archive, archive, tmp / f"ext-{run}", limits))
            curl_dest = tmp / f"curl-{run}"
            curl_dest.mkdir()
            t_curl = await timed_shell(f"curl -sf {shlex.quote(url)} | tar -xzf - -C {shlex.quote(str(curl_dest))}")
            t_url = await timed(host.addons.install(url, Scope.user(user)))
            if run:
                git_results["git clone --depth 1"].append(t_clone)
                git_results["github fetch only"].append(t_fetch)
                git_results["kiroclaw install"].append(t_install)
                tar_results["tar -xzf"].append(t_tar)
                tar_results["extract_archive"].append(t_extract)
                tar_results["curl | tar -xzf (HTTP)"].append(t_curl)
                tar_results["kiroclaw install (HTTP)"].append(t_url)
            for path in (clone_dest, staging, tar_dest, curl_dest, tmp / f"ext-{run}"):
                shutil.rmtree(path, ignore_errors=True)
        await runner.cleanup()
        await host.aclose()
        print(f"runs: {runs} (median), CPUs: {os.cpu_count()}")
        report("50-skill repository from a local file:// base", git_results, "git clone --depth 1")
        report("20 MB .tar.gz", tar_results, "tar -xzf")
        http = statistics.median(tar_results["kiroclaw install (HTTP)"])
        plain = statistics.median(tar_results["curl | tar -xzf (HTTP)"])
        print(f"  kiroclaw install (HTTP) vs curl | tar -xzf (HTTP): {http / plain:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    asyncio.run(main(parser.parse_args().runs))
