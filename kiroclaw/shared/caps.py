"""Caps of a sandboxed agent: a memory and process cap (cgroup v2), and a uid of its own per user.

What the machine allows decides what is applied; :func:`cap_report` says which caps are unavailable and
why (``kiroclaw doctor`` prints it, the cap tests skip with it):

* **memory, pids (cgroup v2)** — ``AGENT_MEMORY_MAX_MB`` / ``AGENT_PIDS_MAX`` put each agent into its own
  cgroup (``memory.max``, ``memory.swap.max=0``, ``memory.oom.group=1`` so an agent over its cap is stopped
  whole and alone, ``pids.max``) where the bot's cgroup v2 is writable
  (systemd ``Delegate=yes``). Address-space limits (``RLIMIT_AS``) are never used as memory caps: Node
  agents reserve far more address space than they use and fail to start under them.
* **uid (``AGENT_UID_BASE``)** — user ``U``'s agent runs as uid ``AGENT_UID_BASE + U % 50000`` (and the
  same gid, no supplementary groups, no capabilities, ``no_new_privs``). Telegram ids exceed the uid
  space, hence the modulo: two users whose ids are equal modulo 50,000 share a uid; each still sees only
  its own folder (the mount namespace), but they share the process limit below. The user's folder is
  handed to that uid (``chown`` of what the agent may write) before each start. This needs a *real* uid
  switch: the bot runs as root (``CAP_SETUID``, ``CAP_SETGID``, ``CAP_CHOWN``), bwrap runs privileged
  (no user namespace) and ``setpriv`` switches inside the sandbox. A non-root bot cannot do it: bwrap then
  runs in an unprivileged user namespace, where ``--uid`` only renames the bot's own uid — files the agent
  writes still belong to the bot's uid on disk and its processes count against the bot's uid.
* **processes (``RLIMIT_NPROC``)** — with a uid of its own, ``AGENT_PIDS_MAX`` is also set as the
  agent's ``RLIMIT_NPROC`` (``prlimit``): the kernel then refuses a fork once the uid has that many
  processes and threads, i.e. it bounds all agents of that user together (Node alone runs 11 threads:
  give a Node agent at least 64). The limit does not apply to root, so without ``AGENT_UID_BASE`` it is
  not set.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import ScaleSettings

log = logging.getLogger(__name__)

#: how many uids ``AGENT_UID_BASE`` spans: user U's agent runs as ``BASE + U % UID_SPAN``.
UID_SPAN = 50_000
#: capability bits (linux/capability.h) a real uid switch needs.
_NEEDED_CAPS = ((0, "CAP_CHOWN"), (6, "CAP_SETGID"), (7, "CAP_SETUID"))


def _own_cgroup() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    except OSError:
        return None
    return None


def cgroup_report() -> list[tuple[str, bool, str]]:
    """Whether this process can cap agents with cgroup v2: ``[("memory", ok, why), ("pids", ok, why)]``."""
    report: list[tuple[str, bool, str]] = []
    controllers = Path("/sys/fs/cgroup") / "cgroup.controllers"
    own = _own_cgroup()
    if not controllers.exists():
        why = "no cgroup v2 at /sys/fs/cgroup (a v1 or hybrid hierarchy)"
        report += [("memory", False, why), ("pids", False, why)]
    elif own is None or not os.access(own, os.W_OK) or not (own / "cgroup.subtree_control").exists():
        why = f"this process's cgroup {own} is not writable (no delegation)"
        report += [("memory", False, why), ("pids", False, why)]
    else:
        enabled = set((own / "cgroup.subtree_control").read_text().split()) | set(
            (own / "cgroup.controllers").read_text().split()
        )
        for cap in ("memory", "pids"):
            ok = cap in enabled
            report.append((cap, ok, "cgroup v2" if ok else f"the {cap} controller is not enabled for {own}"))
    return report


def _effective_caps() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def uid_switch(scale: ScaleSettings) -> tuple[bool, str]:
    """Whether agents can run as a uid of their own here: ``(available, why)`` (see the module docstring)."""
    import pwd

    if scale.agent_uid_base is None:
        return False, "AGENT_UID_BASE is not set"
    if scale.agent_sandbox.strip().lower() != "bwrap":
        return False, "AGENT_UID_BASE needs AGENT_SANDBOX=bwrap (the uid is switched inside the sandbox)"
    euid = os.geteuid()
    if euid != 0:
        return False, (
            f"the bot runs as uid {euid}, not root: a real uid switch needs root; bwrap --uid in an unprivileged "
            f"user namespace only renames uid {euid} inside the sandbox (files and process counts stay uid {euid}'s)"
        )
    caps = _effective_caps()
    missing = [name for bit, name in _NEEDED_CAPS if not caps >> bit & 1]
    if missing:
        return False, f"root without {', '.join(missing)} (a container that dropped them)"
    for tool in ("setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return False, f"{tool} is not installed (Debian package util-linux)"
    low, high = scale.agent_uid_base, scale.agent_uid_base + UID_SPAN - 1
    taken = sorted(entry.pw_name for entry in pwd.getpwall() if low <= entry.pw_uid <= high)
    if taken:
        return False, f"uids {low}–{high} include existing accounts ({', '.join(taken[:3])}): choose a free range"
    return True, f"agents run as uid {low} + user id % {UID_SPAN}"


def agent_uid(scale: ScaleSettings, user_id: int) -> int | None:
    """The uid user ``user_id``'s agent runs as (``AGENT_UID_BASE + user_id % 50000``), or ``None``."""
    if scale.agent_uid_base is None:
        return None
    return scale.agent_uid_base + int(user_id) % UID_SPAN


def cap_report(scale: ScaleSettings) -> list[tuple[str, bool, str]]:
    """What caps the machine allows: ``(cap, available, why)`` for ``memory``, ``pids`` and, when
    ``AGENT_UID_BASE`` is set, ``uid``. For ``kiroclaw doctor`` and the cap tests."""
    report = []
    uid_ok, uid_why = uid_switch(scale)
    for cap, ok, why in cgroup_report():
        if cap == "memory" and not ok:
            why += "; address-space limits are not used instead (they break Node agents)"
        elif cap == "pids" and not ok:
            if uid_ok:
                ok, why = True, "RLIMIT_NPROC of the agent's own uid, counting all of one user's agents together"
            elif scale.agent_uid_base is None:
                why += "; RLIMIT_NPROC needs AGENT_UID_BASE (it does not apply to root)"
            else:
                why += "; RLIMIT_NPROC needs the agent's own uid, unavailable here (see the uid cap)"
        report.append((cap, ok, why))
    if scale.agent_uid_base is not None:
        report.append(("uid", uid_ok, uid_why))
    return report


def cap_cgroup(scale: ScaleSettings, user_id: int, thread_id: int) -> Path | None:
    """Create the capped cgroup of one agent when caps are asked for and available, else ``None``."""
    if scale.agent_memory_max_mb is None and scale.agent_pids_max is None:
        return None
    report = cgroup_report()
    available = {cap for cap, ok, _ in report if ok}
    own = _own_cgroup()
    if own is None or not available:
        log.warning("agent cgroup caps asked for but unavailable: %s", "; ".join(w for _, ok, w in report if not ok))
        return None
    group = own / f"kiroclaw-agent-{user_id}-{thread_id}"
    try:
        group.mkdir(exist_ok=True)
        if scale.agent_memory_max_mb is not None and "memory" in available:
            (group / "memory.max").write_text(str(scale.agent_memory_max_mb * 1024 * 1024))
            (group / "memory.swap.max").write_text("0")
            # over the cap the kernel stops the whole agent (its tools too), not just its largest process
            (group / "memory.oom.group").write_text("1")
        if scale.agent_pids_max is not None and "pids" in available:
            (group / "pids.max").write_text(str(scale.agent_pids_max))
    except OSError as exc:
        log.warning("could not create the agent cgroup %s: %s", group, exc)
        return None
    return group


def hand_over(folder: Path, uid: int) -> int:
    """Give ``folder`` and everything below it to ``uid`` (and gid ``uid``), so the agent running as that
    uid can write its threads and sessions. Symbolic links are not followed; a file with more than one
    hard link is skipped (it may be shared with something outside). The bot, as root, keeps full access.

    :returns: how many entries changed owner.
    """
    changed = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name) if name != "." else dirpath
            try:
                st = os.lstat(path)
                if st.st_uid == uid and st.st_gid == uid:
                    continue
                if not os.path.isdir(path) and not os.path.islink(path) and st.st_nlink > 1:
                    continue
                os.lchown(path, uid, uid)
                changed += 1
            except OSError as exc:
                log.warning("could not hand %s to uid %s: %s", path, uid, exc)
    return changed


def uid_wrapper(scale: ScaleSettings, uid: int) -> list[str]:
    """The argv prefix run inside the sandbox that becomes ``uid`` (after setting ``RLIMIT_NPROC`` to
    ``AGENT_PIDS_MAX`` when given): ``prlimit --nproc=N:N -- setpriv --reuid=… -- ``."""
    prefix: list[str] = []
    if scale.agent_pids_max is not None:
        prefix += [shutil.which("prlimit") or "prlimit", f"--nproc={scale.agent_pids_max}:{scale.agent_pids_max}", "--"]
    prefix += [
        shutil.which("setpriv") or "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--no-new-privs",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]
    return prefix
