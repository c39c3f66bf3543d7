"""Benchmark of the agent runtime with the stand-in kiro-cli (tests/agent/standin_agent.py).

Measures, side by side:

* time to the first streamed chunk with a warm process (the (user, thread) agent already running) vs a
  cold start (provisioning + spawning ``kiro-cli acp`` + initialize + session/new or load);
* the cost of resolving and provisioning one user with 20 add-ons / 200 skills (resolver alone, and
  resolver + template refresh + agent-file write), against the cold start.

Run: ``.venv/bin/python bench/bench_agent.py [--rounds N]``. Figures are medians; ratios are what to compare
across machines (the stand-in starts faster than the real kiro-cli, so real cold starts are slower still).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "tests" / "agent" / "standin_agent.py"


def _launcher(folder: Path) -> Path:
    launcher = folder / "kiro-cli"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    return launcher


def _skill(parent: Path, name: str) -> None:
    folder = parent / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: Benchmark skill {name}, does one thing.\n---\n# {name}\n\nDo it.\n",
        encoding="utf-8",
    )


async def _first_chunk_s(runtime: object, user: int, thread: int, text: str) -> float:
    from kiroclaw.agent.runtime import AgentRuntime, AgentUpdate

    assert isinstance(runtime, AgentRuntime)
    first: list[float] = []
    t0 = time.perf_counter()

    async def on_update(update: AgentUpdate) -> None:
        if update.kind == "text" and not first:
            first.append(time.perf_counter() - t0)

    await runtime.prompt(user, thread, text, on_update=on_update)
    return first[0]


async def main(rounds: int) -> None:
    from kiroclaw.agent.home import provision_home
    from kiroclaw.agent.runtime import AgentRuntime
    from kiroclaw.config import Settings
    from kiroclaw.host import Host
    from kiroclaw.workspaces import Scope

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            workspace_base_path=base / "ws",
            kiro_cli_path=str(_launcher(base)),
            max_addons_per_user=20,
        )
        host = Host(settings)

        # 20 add-ons / 200 skills for user 42: 20 plugin packages of 10 skills, installed through the manager
        for p in range(20):
            package = base / "src" / f"pkg{p:02d}"
            for i in range(10):
                _skill(package / "skills", f"p{p:02d}-skill-{i}")
            (package / "README.md").write_text(f"# pkg{p}\n")
            await host.addons.install(str(package), Scope.user(42), assume_yes=True)
        _skill(host.paths(Scope.global_()).skills_dir, "global-one")

        resolve_s, provision_s = [], []
        for _ in range(max(rounds * 5, 50)):
            t0 = time.perf_counter()
            effective = host.effective_set(42)
            resolve_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = provision_home(host, 42)
            provision_s.append(time.perf_counter() - t0)
        assert len(effective.skills) == 201 and len(result.skills) == 201

        cold_s, warm_s = [], []
        for r in range(rounds):
            runtime = AgentRuntime(Host(settings))
            try:
                cold_s.append(await _first_chunk_s(runtime, 42, r, "echo cold start"))
                for _ in range(5):
                    warm_s.append(await _first_chunk_s(runtime, 42, r, "echo warm turn"))
            finally:
                await runtime.aclose()
        skills = (await _listing(settings)).count("\n") + 1

    cold, warm = statistics.median(cold_s), statistics.median(warm_s)
    res, prov = statistics.median(resolve_s), statistics.median(provision_s)
    print(f"first streamed chunk, warm process : {warm * 1000:8.2f} ms  (median of {len(warm_s)})")
    print(f"first streamed chunk, cold start   : {cold * 1000:8.2f} ms  (median of {len(cold_s)})")
    print(f"  cold / warm                      : {cold / warm:8.1f} x")
    print(f"resolve 20 add-ons / 201 skills    : {res * 1000:8.2f} ms  (median of {len(resolve_s)})")
    print(f"resolve + provision the home       : {prov * 1000:8.2f} ms")
    print(f"  provisioning / cold start        : {prov / cold * 100:8.2f} %")
    print(f"skills the agent reported          : {skills}")


async def _listing(settings: object) -> str:
    from kiroclaw.agent.runtime import AgentRuntime
    from kiroclaw.host import Host

    runtime = AgentRuntime(Host(settings))  # type: ignore[arg-type]
    try:
        return (await runtime.prompt(42, 99, "list skills")).text
    finally:
        await runtime.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="cold starts to measure (5 warm turns each)")
    asyncio.run(main(parser.parse_args().rounds))
