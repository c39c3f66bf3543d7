"""Agent launchers: how a user's agent process is started, stopped and its session locks recovered.

The ``agent_launcher`` hook (``firstresult``) picks one per host from ``AGENT_SANDBOX``; this module's
implementation runs last and knows two:

* ``local`` (default) — the agent runs as the bot's OS user with the bot's view of the disk (today).
* ``bwrap`` — bubblewrap: a mount namespace with the user's folder read-write at the same path, the
  global add-ons and bundled skills read-only, no other user's folder, ``/usr``, ``/bin``, ``/lib*`` and
  what the agent needs of ``/etc`` read-only, the agent's executable and its install folder read-only
  (plus ``AGENT_SANDBOX_RO_PATHS``), a private ``/tmp`` (a workspace or agent that lives under ``/tmp`` is
  bound at its own path on top), and pid/ipc/uts namespaces. The environment is the agent's own (no bot
  secrets). Caps (:mod:`kiroclaw.shared.caps`): with ``AGENT_MEMORY_MAX_MB`` / ``AGENT_PIDS_MAX`` and a
  writable cgroup v2 the agent runs in its own cgroup with those caps; with ``AGENT_UID_BASE`` (a root
  bot) it runs as a uid of its own with ``RLIMIT_NPROC``; :func:`cap_report` says what is unavailable and why.

A container or Kubernetes launcher is a plugin returning its own :class:`Launcher` (``docs/scaling.md``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..hookspecs import hookimpl
from .caps import agent_uid, cap_cgroup, cap_report, hand_over, uid_switch, uid_wrapper

__all__ = ["BwrapLauncher", "Launcher", "agent_launcher", "cap_cgroup", "cap_report", "share_agent_locks"]

if TYPE_CHECKING:
    from ..agent.acp_client import LaunchSpec
    from ..config import Settings
    from .settings import ScaleSettings
    from .state import SharedState

log = logging.getLogger(__name__)

#: environment names never passed into a sandboxed agent, whatever the pass-through list says.
SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|REDIS_URL|WEBHOOK|_KEY$)", re.IGNORECASE)
#: what of /etc an agent needs: name resolution, TLS roots, users, time zone, the dynamic linker.
ETC_READ = (
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "passwd",
    "group",
    "localtime",
    "timezone",
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "mime.types",
)


class Launcher:
    """The ``local`` launcher: starts the agent as given. Subclasses wrap :meth:`prepare`.

    :ivar name: the ``AGENT_SANDBOX`` value it answers to.
    """

    name = "local"

    async def prepare(self, spec: LaunchSpec, *, user_id: int, thread_id: int) -> LaunchSpec:
        """The spec to start for (user, thread): argv, environment and cwd, possibly wrapped."""
        return spec


class BwrapLauncher(Launcher):
    """Runs each agent inside bubblewrap (see the module docstring).

    :param settings: the host settings (workspace, global and bundled paths).
    :param scale: the sandbox settings (``AGENT_SANDBOX_RO_PATHS``, caps).
    :param bwrap: the ``bwrap`` executable.
    """

    name = "bwrap"

    def __init__(self, settings: Settings, scale: ScaleSettings, *, bwrap: str | None = None) -> None:
        found = bwrap or shutil.which("bwrap")
        if not found:
            raise ConfigError(
                "AGENT_SANDBOX=bwrap but bubblewrap is not installed (Debian: apt-get install bubblewrap)"
            )
        self.bwrap = found
        self.settings = settings
        self.scale = scale
        #: whether agents run as a uid of their own (``AGENT_UID_BASE``, where the machine allows it)
        self.own_uid, why = uid_switch(scale)
        if scale.agent_uid_base is not None and not self.own_uid:
            log.warning("AGENT_UID_BASE is set but agents run as the bot's uid: %s", why)

    def argv(self, spec: LaunchSpec, *, user_root: Path, uid: int | None = None) -> list[str]:
        """The bwrap command line that runs ``spec`` for the user whose folder is ``user_root`` (as ``uid``
        when given: ``/tmp`` and the home folder are then writable by everyone inside the sandbox)."""
        tmp_mode = ["--perms", "1777"] if uid is not None else []
        plan = _Folders(enabled=uid is not None)
        settings = self.settings
        args = [self.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        args += ["--hostname", "kiroclaw-agent", "--proc", "/proc", "--dev", "/dev"]
        for folder in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            path = Path(folder)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), folder]
            elif path.is_dir():
                args += ["--ro-bind", folder, folder]
                plan.bound(path)
        for name in ETC_READ:
            if (Path("/etc") / name).exists():
                args += [*plan.parents(Path("/etc") / name), "--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        args += [*tmp_mode, "--tmpfs", "/tmp"]  # private /tmp; everything bound below lands on top of it
        plan.made.add(Path("/tmp"))
        user_root = user_root.absolute()
        home = Path(spec.env["HOME"]) if spec.env.get("HOME") else None
        if home is not None and home.is_absolute() and not _inside(user_root, home) and not _inside(home, user_root):
            args += [*plan.parents(home), *tmp_mode, "--tmpfs", str(home)]  # the bot's dotfiles stay outside
            plan.made.add(home)
        read_only: list[Path] = []
        for program in (Path(spec.argv[0]), _shebang(Path(spec.argv[0]))):
            if program is not None and program.is_absolute():
                read_only += [program.parent, _install_folder(program.resolve())]
        read_only.append(settings.global_root)
        if settings.bundled_skills_path:
            read_only.append(settings.bundled_skills_path)
        read_only.extend(self.scale.agent_sandbox_ro_paths)
        workspace = settings.workspace_base_path.absolute()
        safe: list[Path] = []
        for path in (p.absolute() for p in read_only if p.exists()):
            if _inside(workspace, path):
                # binding it would show every user's folder (e.g. the agent installed next to the workspace)
                log.warning("not binding %s into the sandbox: it contains WORKSPACE_BASE_PATH", path)
            elif not _inside(path, Path("/usr")):
                safe.append(path)
        for path in _outermost(safe):
            args += [*plan.parents(path), "--ro-bind", str(path), str(path)]
            plan.bound(path)
        args += [*plan.parents(user_root), "--bind", str(user_root), str(user_root)]
        args += ["--chdir", str(spec.cwd), "--"]
        if uid is not None:
            args += uid_wrapper(self.scale, uid)
        return [*args, *spec.argv]

    async def prepare(self, spec: LaunchSpec, *, user_id: int, thread_id: int) -> LaunchSpec:
        from ..workspaces import Scope, scope_root

        settings = self.settings
        user_root = scope_root(settings.workspace_base_path, settings.global_root, Scope.user(user_id))
        env = {k: v for k, v in spec.env.items() if not SECRET_ENV.search(k) or k == "KIRO_API_KEY"}
        uid = agent_uid(self.scale, user_id) if self.own_uid else None
        if uid is not None:  # the agent writes its threads and sessions as that uid
            await asyncio.to_thread(hand_over, user_root, uid)
        argv = self.argv(spec, user_root=user_root, uid=uid)
        cgroup = cap_cgroup(self.scale, user_id, thread_id)
        if cgroup is not None:  # join the capped cgroup before exec, so nothing runs uncapped
            argv = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup), *argv]
        return replace(spec, argv=tuple(argv), env=env)


class _Folders:
    """The folders bwrap must create on the way to a mount point. bwrap creates missing parents with mode
    0700 (root's), which an agent running as its own uid cannot pass; when ``enabled`` each missing parent
    is created first with ``--perms 0755 --dir``. A parent inside a bound folder exists already."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.binds: list[Path] = []
        self.made: set[Path] = set()

    def bound(self, path: Path) -> None:
        self.binds.append(path)

    def parents(self, target: Path) -> list[str]:
        if not self.enabled:
            return []
        args: list[str] = []
        for parent in reversed(target.parents[:-1]):  # outermost first, without "/"
            if parent in self.made or any(_inside(parent, b) for b in self.binds):
                continue
            args += ["--perms", "0755", "--dir", str(parent)]
            self.made.add(parent)
        return args


def _shebang(path: Path) -> Path | None:
    """The interpreter an executable script names (``#!/path``), or ``None``."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].strip().split()
    return Path(parts[0].decode("utf-8", "replace")) if parts else None


def _install_folder(executable: Path) -> Path:
    """The folder an executable was installed into: ``prefix`` for ``prefix/bin/name``, else its folder."""
    folder = executable.parent
    return folder.parent if folder.name == "bin" and len(folder.parts) > 2 else folder


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _outermost(paths: Any) -> list[Path]:
    """Paths without those inside another of them (bwrap binds each once), in a stable order."""
    unique = sorted(set(paths), key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for path in unique:
        if not any(_inside(path, k) for k in kept):
            kept.append(path)
    return kept


# --- the hook ---------------------------------------------------------------------------------


@hookimpl(trylast=True)
def agent_launcher(settings: Settings) -> Launcher:
    """The built-in launchers: ``local`` and ``bwrap`` (``AGENT_SANDBOX``).

    :raises ConfigError: an unknown ``AGENT_SANDBOX`` (no plugin took it), or bwrap is missing.
    """
    from .settings import load_scale_settings

    scale = load_scale_settings()
    kind = scale.agent_sandbox.strip().lower()
    if kind in ("", "local", "none"):
        return Launcher()
    if kind == "bwrap":
        return BwrapLauncher(settings, scale)
    raise ConfigError(f"AGENT_SANDBOX={scale.agent_sandbox!r} is not a known launcher (local, bwrap, or a plugin's)")


#: marker variable naming the worker instance (``{worker}/{instance}``) that started an agent.
WORKER_MARKER = "KIROCLAW_WORKER"


class _MarkedLauncher(Launcher):
    """Wraps a launcher: every agent also carries ``KIROCLAW_WORKER`` (which worker run started it)."""

    def __init__(self, inner: Launcher, owner: str) -> None:
        self.inner = inner
        self.owner = owner
        self.name = inner.name

    async def prepare(self, spec: LaunchSpec, *, user_id: int, thread_id: int) -> LaunchSpec:
        marked = replace(spec, env={**spec.env, WORKER_MARKER: self.owner})
        return await self.inner.prepare(marked, user_id=user_id, thread_id=thread_id)


def share_agent_locks(runtime: Any, state: SharedState) -> None:
    """Make ``runtime`` safe next to other workers on one workspace:

    * its agents are recorded in the shared state and carry ``KIROCLAW_WORKER``;
    * a session lock is recovered only when no live worker holds that agent (never by a PID alone);
    * the start-up sweep of leftover agents stops only agents whose worker run is dead (or that carry no
      worker, i.e. were left by a single-process bot); with the shared state unreachable it stops none.
    """

    async def started(user_id: int, thread_id: int) -> None:
        try:
            await state.agent_started(user_id, thread_id)
        except Exception as exc:
            log.warning("could not share agent of user %s: %s", user_id, exc)

    async def held_elsewhere(user_id: int, thread_id: int) -> str | None:
        try:
            return await state.agent_held_elsewhere(user_id, thread_id)
        except Exception:  # cannot tell: never kill what may be another worker's live agent
            return "unknown (shared state unreachable)"

    async def sweep(workspace: Path) -> list[int]:
        from ..agent.reaper import AGENT_MARKER, marked_processes, process_env, reap

        stopped: list[int] = []
        for pid in await asyncio.to_thread(marked_processes, workspace=workspace):
            env = process_env(pid)
            owner = env.get(WORKER_MARKER, "")
            if owner:
                worker, _, instance = owner.partition("/")
                try:
                    if await state.instance_alive(worker, instance):
                        continue
                except Exception:
                    log.warning("shared state unreachable: leftover agents are not swept")
                    return stopped
            token = env.get(AGENT_MARKER)
            if token:
                log.warning("stopping leftover agent %s (worker %s is gone)", pid, owner or "none")
                stopped += await reap(token)
        return stopped

    runtime.launcher = _MarkedLauncher(runtime.launcher or Launcher(), state.me)
    runtime.on_agent_started = started
    runtime.lock_held_elsewhere = held_elsewhere
    runtime.sweep = sweep


def sandbox_checks(settings: Settings) -> list[tuple[bool, str, str]]:
    """``kiroclaw doctor``'s lines for the launcher, the caps and Redis: (passed, what, how to fix)."""
    import subprocess

    from .settings import load_scale_settings

    scale = load_scale_settings()
    checks: list[tuple[bool, str, str]] = []
    kind = scale.agent_sandbox.strip().lower() or "local"
    if kind == "bwrap":
        found = shutil.which("bwrap")
        works = False
        if found:
            trial = [found, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "true"]
            works = subprocess.run(trial, capture_output=True, timeout=20, check=False).returncode == 0
        checks.append(
            (
                works,
                "agent sandbox bwrap runs" if works else "agent sandbox bwrap (AGENT_SANDBOX=bwrap) cannot run",
                "install bubblewrap (Debian: apt-get install bubblewrap) and allow unprivileged user namespaces",
            )
        )
    else:
        checks.append((True, f"agent launcher: {kind} (AGENT_SANDBOX=bwrap isolates each user's agent)", ""))
    wanted = {"memory": scale.agent_memory_max_mb is not None, "pids": scale.agent_pids_max is not None}
    for cap, available, why in cap_report(scale):
        if available:
            checks.append((True, f"agent {cap} cap available ({why})", ""))
        elif cap == "uid":
            checks.append((False, f"agent uid (AGENT_UID_BASE): {why}", "run the bot as root, or unset AGENT_UID_BASE"))
        elif wanted.get(cap):
            checks.append(
                (False, f"agent {cap} cap: {why}", "run the bot in a cgroup v2 it may write (systemd Delegate=yes)")
            )
        else:
            checks.append((True, f"agent {cap} cap unavailable ({why})", ""))
    if scale.redis_url:
        try:
            import redis

            redis.Redis.from_url(scale.redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
            checks.append((True, "Redis (REDIS_URL) answers", ""))
        except Exception as exc:
            checks.append(
                (False, f"Redis (REDIS_URL) unreachable: {type(exc).__name__}", "start redis-server or fix REDIS_URL")
            )
    return checks
