"""The bwrap launcher (AGENT_SANDBOX=bwrap) with the real runtime and the stand-in agent: from inside user
111's agent, user 222's folder, the bot's secrets and the host's /tmp are invisible; its own skills and the
global add-ons are readable, the global add-ons read-only; nothing is left running after shutdown."""

from __future__ import annotations

import ast
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kiroclaw.agent.runtime import AgentRuntime
from kiroclaw.config import Settings
from kiroclaw.host import Host
from kiroclaw.shared.caps import uid_switch
from kiroclaw.shared.launch import cap_cgroup, cap_report
from kiroclaw.shared.settings import load_scale_settings
from kiroclaw.workspaces import Scope
from tests.agent.conftest import STANDIN, make_launcher
from tests.bot.conftest import ALICE, BOB, start_bot  # noqa: F401  (the in-process bot harness)
from tests.conftest import run_kiroclaw
from tests.scale.conftest import REPO, need, write_skill

#: a uid range no account uses (tests check it: :func:`uid_switch` refuses a taken range)
UID_BASE = 160_000
PROBE = """#!/bin/sh
{{
echo "other=$(test -e '{other}' && echo visible || echo hidden)"
echo "global_read=$(cat '{global_skill}' >/dev/null 2>&1 && echo readable || echo unreadable)"
echo "global_write=$(touch '{global_root}/probe' 2>/dev/null && echo writable || echo readonly)"
echo "own_write=$(touch '{own}/probe' 2>/dev/null && echo writable || echo readonly)"
echo "tmp_marker=$(test -e '{marker}' && echo visible || echo hidden)"
echo "processes=$(ls /proc | grep -c '^[0-9]')"
echo "secrets=$(env | grep -c -E 'BOT_TOKEN|REDIS_URL|WEBHOOK_SECRET|GITHUB_TOKEN')"
}} > probe.txt
exec "{python}" "{standin}" "$@"
"""


def agent_processes(home: Path) -> list[int]:
    """Pids of processes whose environment names ``home`` as KIRO_HOME."""
    found = []
    needle = f"KIRO_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_bwrap_sandbox_isolates_one_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need("bwrap")
    workspace = tmp_path / "workspaces"
    sources = tmp_path / "sources"
    write_skill(sources, "mine", "User 111's own skill.")
    write_skill(sources, "shared-tool", "A global add-on.")
    marker = Path("/tmp") / f"kiroclaw-host-tmp-{secrets.token_hex(6)}"
    marker.write_text("host only")
    other = workspace / "222"
    (other / "private").mkdir(parents=True)
    (other / "private" / "diary.txt").write_text("secret")
    own = workspace / "111"
    global_root = workspace / "_global"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    probe = bin_dir / "kiro-cli"
    probe.write_text(
        PROBE.format(
            other=other,
            global_skill=global_root / ".kiro" / "skills" / "shared-tool" / "SKILL.md",
            global_root=global_root / ".kiro" / "skills",
            own=own,
            marker=marker,
            python=sys.executable,
            standin=STANDIN,
        )
    )
    probe.chmod(0o755)
    monkeypatch.setenv("AGENT_SANDBOX", "bwrap")
    ro = {str(REPO), sys.prefix, sys.base_prefix}  # the stand-in agent is Python: its interpreter and packages
    monkeypatch.setenv("AGENT_SANDBOX_RO_PATHS", ",".join(sorted(ro)))
    monkeypatch.setenv("BOT_TOKEN", "123456:never-inside-the-sandbox")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        workspace_base_path=workspace,
        kiroclaw_disable_plugins=[],
        kiro_cli_path=str(probe),
        agent_start_timeout_seconds=60,
    )
    host = Host(settings)
    await host.start()
    runtime = AgentRuntime(host)
    try:
        assert type(runtime.launcher).__name__ == "BwrapLauncher"
        await host.addons.install(str(sources / "mine"), Scope.user(111))
        await host.addons.install(str(sources / "shared-tool"), Scope.global_())
        result = await runtime.prompt(111, 0, "list skills")
        assert result.text.split() == ["mine", "shared-tool"]
        report = dict(line.split("=", 1) for line in (own / "0" / "probe.txt").read_text().splitlines() if "=" in line)
        assert report == {
            "other": "hidden",
            "global_read": "readable",
            "global_write": "readonly",
            "own_write": "writable",
            "tmp_marker": "hidden",
            "processes": report["processes"],
            "secrets": "0",
        }
        assert int(report["processes"]) < 10  # its own pid namespace: only the sandbox's processes
        assert not (global_root / ".kiro" / "skills" / "probe").exists()
        assert agent_processes(own / ".kiro")
    finally:
        await runtime.aclose()
        await host.aclose()
        marker.unlink()
    assert agent_processes(own / ".kiro") == []


def test_memory_cap_needs_a_writable_cgroup() -> None:
    """Caps are applied only where a writable cgroup v2 exists; otherwise doctor's report says why."""
    report = {cap: (ok, why) for cap, ok, why in cap_report(load_scale_settings(agent_memory_max_mb=256))}
    ok, why = report["memory"]
    if not ok:
        assert "cgroup" in why
        pytest.skip(f"memory cap unavailable here: {why}")
    group = cap_cgroup(load_scale_settings(agent_memory_max_mb=256, agent_pids_max=64), 111, 0)
    assert group is not None
    try:
        assert (group / "memory.max").read_text().strip() == str(256 * 1024 * 1024)
        assert (group / "memory.oom.group").read_text().strip() == "1"  # the whole agent stops, alone
        assert (group / "pids.max").read_text().strip() == "64"
    finally:
        group.rmdir()


FORKS = """#!/bin/sh
"{python}" - <<'PY' > forks.txt
import os, subprocess
started, refused = [], 0
for _ in range(40):  # bounded: at most 40 short sleeps
    try:
        started.append(subprocess.Popen(["sleep", "1"]))
    except OSError:
        refused += 1
for child in started:
    child.wait()
print(os.getuid(), os.getgid(), len(started), refused)
PY
exec "{python}" "{standin}" "$@"
"""


async def test_agent_runs_as_its_users_uid_with_a_process_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AGENT_UID_BASE: user 111's agent runs as uid BASE+111 (a real uid: its files belong to that uid on
    disk), and AGENT_PIDS_MAX bounds its processes through RLIMIT_NPROC; it still answers."""
    need("bwrap")
    scale = load_scale_settings(agent_sandbox="bwrap", agent_uid_base=UID_BASE, agent_pids_max=12)
    available, why = uid_switch(scale)
    if not available:
        pytest.skip(f"a uid of its own is unavailable here: {why}")
    workspace = tmp_path / "workspaces"
    write_skill(tmp_path / "sources", "mine", "User 111's own skill.")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    probe = bin_dir / "kiro-cli"
    probe.write_text(FORKS.format(python=sys.executable, standin=STANDIN))
    probe.chmod(0o755)
    monkeypatch.setenv("AGENT_SANDBOX", "bwrap")
    monkeypatch.setenv("AGENT_UID_BASE", str(UID_BASE))
    monkeypatch.setenv("AGENT_PIDS_MAX", "12")
    monkeypatch.setenv("AGENT_SANDBOX_RO_PATHS", ",".join(sorted({str(REPO), sys.prefix, sys.base_prefix})))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        workspace_base_path=workspace,
        kiroclaw_disable_plugins=[],
        kiro_cli_path=str(probe),
        agent_start_timeout_seconds=60,
    )
    host = Host(settings)
    await host.start()
    runtime = AgentRuntime(host)
    own = workspace / "111"
    try:
        await host.addons.install(str(tmp_path / "sources" / "mine"), Scope.user(111))
        assert (await runtime.prompt(111, 0, "list skills")).text.split() == ["mine"]
        uid, gid, started, refused = map(int, (own / "0" / "forks.txt").read_text().split())
        assert (uid, gid) == (UID_BASE + 111, UID_BASE + 111)
        assert (own / "0" / "forks.txt").stat().st_uid == UID_BASE + 111  # the real uid, not a namespace's
        assert refused > 0 and started < 12  # RLIMIT_NPROC: the uid's processes stop at the cap
        sessions = list((own / ".kiro" / "sessions" / "cli").glob("*.json*"))
        assert sessions and all(p.stat().st_uid == UID_BASE + 111 for p in sessions)
        assert (await runtime.prompt(111, 0, "echo still answers")).text.strip() == "still answers"
    finally:
        await runtime.aclose()
        await host.aclose()
    assert agent_processes(own / ".kiro") == []


def test_caps_report_says_why_they_are_unavailable() -> None:
    """Each cap unavailable here carries its reason; a uid of its own is refused without root."""
    scale = load_scale_settings(agent_sandbox="bwrap", agent_uid_base=UID_BASE, agent_pids_max=64)
    report = {cap: (ok, why) for cap, ok, why in cap_report(scale)}
    assert set(report) == {"memory", "pids", "uid"}
    assert all(why for _, why in report.values())
    if not report["memory"][0]:
        assert "Node" in report["memory"][1]  # no address-space limit instead
    local = dict((cap, ok) for cap, ok, _ in cap_report(load_scale_settings(agent_uid_base=UID_BASE)))
    assert local["uid"] is False  # the uid is switched inside bwrap only
    if os.geteuid() != 0:
        assert report["uid"][0] is False and "user namespace" in report["uid"][1]
    elif shutil.which("setpriv"):  # the same report from a bot that is not root
        code = (
            "from kiroclaw.shared.caps import cap_report; from kiroclaw.shared.settings import load_scale_settings; "
            f"print(dict((c, (ok, w)) for c, ok, w in cap_report(load_scale_settings(agent_sandbox='bwrap', "
            f"agent_uid_base={UID_BASE}, agent_pids_max=64))))"
        )
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code]
        out = subprocess.run(nobody, capture_output=True, text=True, cwd="/", env={"PYTHONPATH": str(REPO)}, timeout=60)
        if out.returncode != 0:
            pytest.skip(f"cannot run Python as nobody here: {out.stderr[-300:]}")
        unprivileged = ast.literal_eval(out.stdout)
        assert unprivileged["uid"][0] is False and "user namespace" in unprivileged["uid"][1]
        assert unprivileged["pids"][0] == report["memory"][0]  # no RLIMIT_NPROC without a uid of its own


def sandboxed_agent(home: Path) -> int:
    """The pid of the agent itself (not its bwrap parents) whose KIRO_HOME is ``home``."""
    found = [pid for pid in agent_processes(home) if Path(f"/proc/{pid}/comm").read_text().strip() != "bwrap"]
    assert len(found) == 1, found
    return found[0]


async def test_agent_killed_mid_turn_is_stopped_alone(start_bot, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """What a user sees when the kernel stops their agent (the memory cap's OOM kill, or any signal)
    mid-turn: "your agent stopped unexpectedly"; another user's agent keeps running and answering, and the
    next message starts a fresh agent. Needs no cgroup: the test SIGKILLs the sandboxed agent itself."""
    need("bwrap")
    monkeypatch.setenv("AGENT_SANDBOX", "bwrap")
    monkeypatch.setenv("AGENT_SANDBOX_RO_PATHS", ",".join(sorted({str(REPO), sys.prefix, sys.base_prefix})))
    h = await start_bot(as_tasks=True)
    workspace = h.settings.workspace_base_path
    await h.say(BOB, "echo hello")
    await h.fake.wait_for(lambda: any("hello" in t for t in h.fake.bot_texts(BOB.id)), timeout=60)
    bob = sandboxed_agent(workspace / str(BOB.id) / ".kiro")

    h.fake.send_text(ALICE, "slow " + " ".join(f"w{i}" for i in range(40)))
    await h.fake.wait_for(lambda: bool(h.fake.drafts.get((ALICE.id, None))), timeout=60)
    alice = sandboxed_agent(workspace / str(ALICE.id) / ".kiro")
    os.kill(alice, signal.SIGKILL)  # what the OOM killer does to an agent over its memory cap
    await h.fake.wait_for(lambda: any("stopped unexpectedly" in t for t in h.fake.bot_texts(ALICE.id)), timeout=60)
    died = next(t for t in h.fake.bot_texts(ALICE.id) if "stopped unexpectedly" in t)
    assert "your agent stopped unexpectedly" in died and "w39" not in died

    os.kill(bob, 0)  # Bob's agent was not touched …
    seen = len(h.fake.bot_texts(BOB.id))
    await h.say(BOB, "echo still here")
    await h.fake.wait_for(lambda: any("still here" in t for t in h.fake.bot_texts(BOB.id)[seen:]), timeout=60)
    assert sandboxed_agent(workspace / str(BOB.id) / ".kiro") == bob  # … and still answers, the same process
    seen = len(h.fake.bot_texts(ALICE.id))
    await h.say(ALICE, "echo fresh start")  # Alice's next message starts a new agent
    await h.fake.wait_for(lambda: any("fresh start" in t for t in h.fake.bot_texts(ALICE.id)[seen:]), timeout=60)


def test_doctor_says_which_caps_are_unavailable_and_why(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """``kiroclaw doctor`` with the sandbox caps asked for: one line per cap, the reason when unavailable,
    and a failing check for each cap that was asked for and cannot be applied."""
    need("bwrap")
    (tmp_path / "catalog").mkdir()
    env = {
        **{k: v for k, v in cli_env.items() if not k.startswith(("BOT_", "TELEGRAM_", "KIRO", "AGENT"))},
        "KIROHUB_REGISTRY_URL": (tmp_path / "catalog").as_uri(),  # a local catalog: doctor asks the registry
        "KIRO_CLI_PATH": str(make_launcher(tmp_path / "bin")),
        "AGENT_SANDBOX": "bwrap",
        "AGENT_UID_BASE": str(UID_BASE),
        "AGENT_MEMORY_MAX_MB": "256",
        "AGENT_PIDS_MAX": "64",
    }
    out = run_kiroclaw("doctor", env=env, timeout=120)
    lines = {
        cap: line for line in out.stdout.splitlines() for cap in ("memory", "pids", "uid") if f"agent {cap}" in line
    }
    assert set(lines) == {"memory", "pids", "uid"}, out.stdout
    scale = load_scale_settings(
        agent_sandbox="bwrap", agent_uid_base=UID_BASE, agent_memory_max_mb=256, agent_pids_max=64
    )
    for cap, available, why in cap_report(scale):
        assert why in lines[cap]
        assert lines[cap].startswith("ok") == available, lines[cap]
    if not all(available for _, available, _ in cap_report(scale)):
        assert out.returncode == 1  # a cap asked for and unavailable is a problem, not a footnote
