"""Nothing outlives its user's agent: find and stop every process an agent started, wherever it went.

Claude's and Codex's tools run commands in new sessions (``setsid``), so killing the agent's process
group misses them; they do keep the agent's environment. Every agent process is therefore started with
three marker variables (:func:`marker_env`):

* ``KIROCLAW_AGENT`` — a token unique to that agent process (``<user>-<thread>-<random>``);
* ``KIROCLAW_WORKSPACE`` — the absolute workspace root of the KiroClaw installation that started it;
* ``KIROCLAW_OWNER`` — ``<pid>:<start time>`` of the KiroClaw process that started it.

:func:`reap` stops every process whose ``/proc/<pid>/environ`` carries the token (and the process group,
and, where the machine has a writable cgroup v2 hierarchy, every member of the agent's own cgroup, which
also catches a tool that scrubbed its environment). :func:`reap_workspace` stops every leftover agent of
one workspace whose owner is gone (after KiroClaw itself was killed); agents of another live KiroClaw
process on the same workspace (the bot while ``kiroclaw ask`` runs, a second worker) are left alone.

This is the one mechanism for agent processes: a launcher (containers, bwrap) passes :func:`marker_env`
on in the environment it gives the agent and calls :func:`reap` when the agent is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

#: The marker variable holding an agent process's token.
AGENT_MARKER = "KIROCLAW_AGENT"
#: The marker variable holding the workspace root of the KiroClaw that started the agent.
WORKSPACE_MARKER = "KIROCLAW_WORKSPACE"
#: The marker variable naming the KiroClaw process that started the agent (``<pid>:<start time>``).
OWNER_MARKER = "KIROCLAW_OWNER"
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def new_token(user_id: int, thread_id: int) -> str:
    """A fresh token for one agent process: ``<user>-<thread>-<16 hex chars>``."""
    return f"{user_id}-{thread_id}-{secrets.token_hex(8)}"


def marker_env(token: str, workspace: Path) -> dict[str, str]:
    """The marker variables to add to an agent's environment (``KIROCLAW_AGENT``, ``KIROCLAW_WORKSPACE``,
    ``KIROCLAW_OWNER`` = this process)."""
    return {AGENT_MARKER: token, WORKSPACE_MARKER: str(Path(workspace).resolve()), OWNER_MARKER: _owner_id(os.getpid())}


def _owner_id(pid: int) -> str:
    """``<pid>:<start time in clock ticks>`` (field 22 of ``/proc/<pid>/stat``; guards against PID reuse)."""
    try:
        return f"{pid}:{Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return f"{pid}:?"


def _owner_alive(owner: str) -> bool:
    pid, _, _ = owner.partition(":")
    return pid.isdigit() and pid_alive(int(pid)) and _owner_id(int(pid)) == owner


def process_env(pid: int) -> dict[str, str]:
    """The environment of process ``pid`` (from ``/proc/<pid>/environ``); ``{}`` when unreadable."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


def _live_pids() -> Iterable[tuple[int, list[str]]]:
    """(pid, stat fields after the command name) of every live, non-zombie process but our own."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields and fields[0] != "Z":
            yield int(entry.name), fields


def marked_processes(token: str | None = None, *, workspace: Path | None = None) -> list[int]:
    """PIDs of live processes carrying the marker ``token`` (or any marker of ``workspace``), sorted."""
    root = str(Path(workspace).resolve()) if workspace is not None else None
    found = []
    for pid, _ in _live_pids():
        env = process_env(pid)
        mine = token is not None and env.get(AGENT_MARKER) == token
        if mine or (root is not None and env.get(WORKSPACE_MARKER) == root):
            found.append(pid)
    return sorted(found)


def group_members(pgid: int) -> list[int]:
    """PIDs of the live (non-zombie) processes in group ``pgid`` (from ``/proc``)."""
    return sorted(pid for pid, fields in _live_pids() if len(fields) > 2 and fields[2] == str(pgid))


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (``os.kill(pid, 0)``; a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


# --- cgroup v2 (where the hierarchy is mounted and writable) ------------------------------------------


def _own_cgroup() -> Path | None:
    if not (_CGROUP_ROOT / "cgroup.controllers").is_file():
        return None  # cgroup v1 or hybrid: the marker alone
    try:
        line = next(x for x in Path("/proc/self/cgroup").read_text().splitlines() if x.startswith("0::"))
    except (OSError, StopIteration):
        return None
    return _CGROUP_ROOT / line[3:].lstrip("/")


def _cgroup_of(pid: int) -> Path | None:
    try:
        line = next(x for x in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if x.startswith("0::"))
    except (OSError, StopIteration):
        return None
    return _CGROUP_ROOT / line[3:].lstrip("/")


def join_cgroup(token: str, pid: int) -> Path | None:
    """The cgroup that holds agent ``pid`` and everything it starts (cgroup v2 only; best effort).

    When a launcher already placed the agent in a cgroup of its own (resource caps), that one is used as
    is; otherwise ``pid`` is moved into a new cgroup ``kiroclaw-<token>`` beside ours.

    :returns: the cgroup folder, or ``None`` where cgroups are not available or not writable.
    """
    own = _own_cgroup()
    if own is None:
        return None
    current = _cgroup_of(pid)
    if current is not None and current != own:
        return current  # the launcher's cgroup
    group = own.parent / f"kiroclaw-{token}"
    try:
        group.mkdir()
        (group / "cgroup.procs").write_text(str(pid))
    except OSError as exc:
        log.debug("no cgroup for agent %s: %s", token, exc)
        with contextlib.suppress(OSError):
            group.rmdir()
        return None
    return group


def _cgroup_pids(group: Path | None) -> list[int]:
    if group is None:
        return []
    try:
        return [int(x) for x in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        if pid <= 1 or pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


async def reap(
    token: str,
    *,
    pgid: int | None = None,
    cgroup: Path | None = None,
    grace_s: float = 2.0,
    leader: asyncio.subprocess.Process | None = None,
) -> list[int]:
    """Stop an agent and everything it started: SIGTERM, up to ``grace_s`` seconds, then SIGKILL.

    Targets: the process group ``pgid``, every process whose environment carries ``token``, and the
    members of ``cgroup`` (removed afterwards when :func:`join_cgroup` made it). Refuses our own process
    group. ``leader`` (our child) is awaited so it leaves no zombie.

    :returns: the PIDs found at the first pass (for the log and tests).
    """

    def targets() -> list[int]:
        found = set(marked_processes(token)) | set(_cgroup_pids(cgroup))
        if pgid is not None:
            found |= set(group_members(pgid))
        found.discard(os.getpid())
        return sorted(found)

    if pgid is not None and (pgid <= 1 or pgid == os.getpgrp()):
        log.error("refusing to kill process group %s", pgid)
        pgid = None
    first = await asyncio.to_thread(targets)
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    _signal_all(first, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    left = first
    while left and loop.time() < deadline:  # cheap polling of the known PIDs; one full scan at the end
        if leader is not None and leader.returncode is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(leader.wait()), 0.05)
        left = [pid for pid in left if pid_alive(pid)]
        if left:
            await asyncio.sleep(0.05)
    left = await asyncio.to_thread(targets)  # also what was started meanwhile
    if left:
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        _signal_all(left, signal.SIGKILL)
        if cgroup is not None:
            with contextlib.suppress(OSError):
                (cgroup / "cgroup.kill").write_text("1")
    if leader is not None and leader.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(leader.wait(), 2.0)
    if cgroup is not None and cgroup.name == f"kiroclaw-{token}":  # only the cgroup made here is removed
        for _ in range(20):
            try:
                cgroup.rmdir()
                break
            except OSError:
                await asyncio.sleep(0.05)
    return first


def orphaned_processes(workspace: Path) -> list[int]:
    """PIDs of marked processes of ``workspace`` whose owning KiroClaw process is gone."""
    return [
        pid for pid in marked_processes(workspace=workspace) if not _owner_alive(process_env(pid).get(OWNER_MARKER, ""))
    ]


async def reap_workspace(workspace: Path, *, grace_s: float = 2.0) -> list[int]:
    """Stop the leftover agent processes of ``workspace`` (marker ``KIROCLAW_WORKSPACE``) whose owner
    (``KIROCLAW_OWNER``) is no longer running, e.g. after KiroClaw itself was killed. :returns: the PIDs."""
    found = await asyncio.to_thread(orphaned_processes, workspace)
    if not found:
        return []
    log.warning("stopping %d leftover agent process(es) of %s", len(found), workspace)
    _signal_all(found, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while loop.time() < deadline and any(pid_alive(p) for p in found):
        await asyncio.sleep(0.05)
    _signal_all([p for p in found if pid_alive(p)], signal.SIGKILL)
    return found


async def kill_group(pgid: int, *, grace_s: float = 2.0, leader: asyncio.subprocess.Process | None = None) -> None:
    """SIGTERM a process group, wait up to ``grace_s`` seconds, then SIGKILL what is left (no marker)."""
    if pgid <= 1 or pgid == os.getpgrp():
        log.error("refusing to kill process group %s", pgid)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while loop.time() < deadline:
        if leader is not None and leader.returncode is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(leader.wait()), 0.05)
        if not group_members(pgid):
            break
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    if leader is not None and leader.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(leader.wait(), 2.0)
