"""Benchmark of the agent runtime with the stand-in kiro-cli (tests/agent/standin_agent.py).

Measures, side by side:

* time to the first streamed chunk with a warm process (the (user, thread) agent already running) vs a
  cold start (provisioning + spawning ``kiro-cli acp`` + initialize + session/new or load);
* the cost of resolving and provisioning one user with 20 add-ons / 200 skills (resolver alone, and
  resolver + template refresh + agent-file write), against the cold start.

With ``--flavors``, the same figures for each agent flavor side by side — the stand-in (kiro flavor) and
the real Claude, Codex and Gemini agents installed by ``.ci/setup.d/agents.sh``, each against the fake model
server of the tests (one streamed chunk per answer, so the figures are the agents' own overhead) — plus each
flavor's resolve + provision cost for the 201-skill user (kiro: template + agent file; the others: the
skills folder of links and their config files).

Run: ``.venv/bin/python bench/bench_agent.py [--rounds N] [--flavors]``. Figures are medians with
[min–max]; ratios are what to compare across machines.
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


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms [{min(values) * 1000:.0f}–{max(values) * 1000:.0f}]"


async def _turn(runtime: object, user: int, thread: int, text: str) -> tuple[float, float]:
    """(first streamed chunk, whole turn) in seconds."""
    from kiroclaw.agent.runtime import AgentRuntime, AgentUpdate

    assert isinstance(runtime, AgentRuntime)
    first: list[float] = []
    t0 = time.perf_counter()

    async def on_update(update: AgentUpdate) -> None:
        if update.kind == "text" and not first:
            first.append(time.perf_counter() - t0)

    await runtime.prompt(user, thread, text, on_update=on_update)
    return first[0], time.perf_counter() - t0


async def flavors(rounds: int) -> None:
    """Cold and warm first chunk, turn time and provisioning per flavor, side by side."""
    import os
    import shutil

    sys.path.insert(0, str(ROOT))
    from kiroclaw.agent.flavors import FlavorContext
    from kiroclaw.agent.runtime import AgentRuntime
    from kiroclaw.agent.settings import AgentSettings
    from kiroclaw.config import Settings
    from kiroclaw.host import Host
    from kiroclaw.workspaces import Scope
    from tests.agent.fake_model import FakeModel
    from tests.agent.real.conftest import ENTRY, MODULES, NODE_BIN, agent_command, vendor_env

    model = FakeModel()
    base_url = await model.start()
    work = ROOT / ".ci" / "node" / "work" / f"bench-{os.getpid()}"  # not /tmp: Codex refuses CODEX_HOME there
    rows = []
    try:
        for flavor in ("kiro", "claude", "codex", "gemini"):
            if flavor != "kiro" and not (MODULES / ENTRY[flavor][0]).is_file():
                print(f"{flavor}: not installed (bash .ci/setup.d/agents.sh); skipped")
                continue
            folder = work / flavor
            folder.mkdir(parents=True)
            saved = dict(os.environ)
            if flavor != "kiro":
                os.environ.update(vendor_env(flavor, base_url))
                os.environ["PATH"] = f"{NODE_BIN}:{os.environ.get('PATH', '')}"
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                workspace_base_path=folder / "ws",
                kiro_cli_path=str(_launcher(folder)),
                max_addons_per_user=20,
                permission_policy="allow",
                agent_start_timeout_seconds=120,
            )
            values = (
                {"agent": flavor} if flavor == "kiro" else {"agent": flavor, "agent_command": agent_command(flavor)}
            )
            agent = AgentSettings(_env_file=None, **values)  # type: ignore[arg-type]
            host = Host(settings)
            for p in range(20):
                package = folder / "src" / f"pkg{p:02d}"
                for i in range(10):
                    _skill(package / "skills", f"p{p:02d}-skill-{i}")
                (package / "README.md").write_text(f"# pkg{p}\n")
                await host.addons.install(str(package), Scope.user(42), assume_yes=True)
            runtime = AgentRuntime(host, agent_settings=agent)
            impl = runtime.flavor
            user_root = host.paths(Scope.user(42)).root.absolute()
            state = impl.state_dir(user_root)
            state.mkdir(parents=True, exist_ok=True)
            provision = []
            for _ in range(20):
                t0 = time.perf_counter()
                ctx = FlavorContext(42, user_root, state, host.effective_set(42), settings, dict(os.environ), host)
                impl.prepare(ctx)
                provision.append(time.perf_counter() - t0)
            await runtime.aclose()
            cold_first, cold_turn, warm_first, warm_turn = [], [], [], []
            for r in range(rounds):
                runtime = AgentRuntime(Host(settings), agent_settings=agent)
                try:
                    first, turn = await _turn(runtime, 43, r, "hello cold")
                    cold_first.append(first)
                    cold_turn.append(turn)
                    for _ in range(3):
                        first, turn = await _turn(runtime, 43, r, "hello warm")
                        warm_first.append(first)
                        warm_turn.append(turn)
                finally:
                    await runtime.aclose()
            os.environ.clear()
            os.environ.update(saved)
            name = "stand-in (kiro)" if flavor == "kiro" else flavor
            rows.append((name, cold_first, cold_turn, warm_first, warm_turn, provision))
    finally:
        await model.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'flavor':16} {'cold first chunk':>26} {'warm first chunk':>26} {'warm turn':>26} {'resolve+provision':>26}"
    )
    for name, cf, _ct, wf, wt, pv in rows:
        print(f"{name:16} {_spread(cf):>26} {_spread(wf):>26} {_spread(wt):>26} {_spread(pv):>26}")
    if rows:
        base = rows[0]
        for name, cf, _ct, wf, _wt, _pv in rows[1:]:
            ratio_cold = statistics.median(cf) / statistics.median(base[1])
            ratio_warm = statistics.median(wf) / statistics.median(base[3])
            print(f"{name}: cold {ratio_cold:.1f}x, warm {ratio_warm:.1f}x the stand-in")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="cold starts to measure (5 warm turns each)")
    parser.add_argument("--flavors", action="store_true", help="compare the stand-in with the real agents")
    args = parser.parse_args()
    asyncio.run(flavors(max(1, args.rounds)) if args.flavors else main(args.rounds))
