"""The agent runtime facade the bot and ``kiroclaw ask`` use: one per process, one agent per (user, thread).

A turn: take the (user, thread) slot of the :class:`~kiroclaw.agent.pool.ProcessPool` (starting the
``AGENT`` flavor's program with the user's freshly provisioned state if needed, or restarting it when the
user's add-ons changed since it started) → open the thread's ACP session (``session/resume`` or
``session/load`` of the id in the session map (:mod:`kiroclaw.agent.sessions`), else ``session/new``) and
put it in the mode that makes ``PERMISSION_POLICY`` hold → ``session/prompt`` streaming
:class:`AgentUpdate`s → collect the files the agent wrote into ``{thread}/outbox/`` (moved to ``sent/``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AgentError
from ..workspaces import Scope
from .acp_client import (
    AgentDiedError,
    AgentProcess,
    AgentUpdate,
    LaunchSpec,
    PermissionCallback,
    PermissionRequest,
    SessionInfo,
    SessionLoadError,
    SessionLockedError,
    TurnTimeoutError,
    process_home,
)
from .flavors import BASE_ENV, FlavorContext, FlavorEnv, choose_flavor, command_for, pick_env, resolve_command
from .home import input_stamp
from .pool import PoolEntry, ProcessPool
from .reaper import kill_group, marker_env, new_token, pid_alive, reap_workspace
from .sessions import SessionMap, session_store
from .settings import AgentSettings, load_agent_settings

if TYPE_CHECKING:
    from ..host import Host

log = logging.getLogger(__name__)

__all__ = ["AgentRuntime", "AgentUpdate", "PermissionRequest", "TurnResult"]

#: Seconds a cancelled turn may take to end before its process is killed.
CANCEL_GRACE_S = 5.0


@dataclass(frozen=True)
class TurnResult:
    """The end of one turn.

    :ivar text: everything the agent streamed as message text (all of it, also when cancelled).
    :ivar stop_reason: ACP stop reason: ``end_turn``, ``cancelled``, ``max_tokens``, ``refusal``…
    :ivar files: files the agent wrote into ``{thread_dir}/outbox/`` during the turn, now in
        ``{thread_dir}/sent/`` (absolute paths, in name order).
    """

    text: str
    stop_reason: str
    files: list[Path] = field(default_factory=list)


@dataclass
class _Running:
    entry: PoolEntry
    session_id: str
    cancelled: bool = False


class AgentRuntime:
    """Each user's ACP agent (the ``AGENT`` flavor; see ``docs/agent.md``).

    :param host: the host (settings, paths, resolver, the plugins registering flavors).
    :param store: the session map (default: :func:`~kiroclaw.agent.sessions.session_store`: per user, or
        SQLite at ``SESSION_DB_PATH``).
    :param agent_settings: ``AGENT``, ``AGENT_COMMAND``… (default: read from the environment and ``.env``).
    :param record: when a list, every ACP message sent to any agent is appended (tests validate them).
    :raises ConfigError: ``AGENT`` names no registered flavor, or a setting is invalid.
    """

    def __init__(
        self,
        host: Host,
        *,
        store: SessionMap | None = None,
        agent_settings: AgentSettings | None = None,
        record: list[dict[str, Any]] | None = None,
    ) -> None:
        from .hooks import ensure_refresher

        self.host = host
        self.agent_settings = agent_settings or load_agent_settings()
        self.flavor = choose_flavor(host.pm, self.agent_settings.agent, host.plugins)
        self.record = record
        self._swept = False
        settings = host.settings
        self.store = store or session_store(settings)
        self.pool = ProcessPool(
            self._start_process,
            max_processes=settings.max_processes,
            max_per_user=settings.max_processes_per_user,
            idle_timeout_s=settings.idle_timeout_seconds,
        )
        self._running: dict[tuple[int, int], _Running] = {}
        self._tails: dict[tuple[int, int], str] = {}
        self._enforcers: set[asyncio.Task[None]] = set()
        #: the ``agent_launcher`` hook's launcher: wraps every launch (sandbox), see kiroclaw.shared.launch
        self.launcher = host.pm.hook.agent_launcher(settings=settings)
        #: with shared state: ``async (user, thread)`` after an agent started, and ``async (user, thread) ->
        #: worker name | None`` naming a live worker that runs that agent (its lock is never recovered here)
        self.on_agent_started: Callable[[int, int], Awaitable[None]] | None = None
        self.lock_held_elsewhere: Callable[[int, int], Awaitable[str | None]] | None = None
        #: ``async (workspace)``: stops leftover agents before the first start (shared state: only dead workers')
        self.sweep: Callable[[Path], Awaitable[Any]] = reap_workspace
        ensure_refresher(host)

    # --- public API ---------------------------------------------------------------------------

    async def prompt(
        self,
        user_id: int,
        thread_id: int,
        text: str,
        *,
        on_update: Callable[[AgentUpdate], Awaitable[None]] | None = None,
        attachments: Sequence[Path] = (),
        on_permission: PermissionCallback | None = None,
    ) -> TurnResult:
        """Send one message to the user's agent in a thread and stream its reply.

        :param on_update: awaited for every streamed update, in order (text chunks, thoughts, tool calls).
        :param attachments: files to mention to the agent (paths it can read; best inside the thread folder).
        :param on_permission: under ``PERMISSION_POLICY=ask``, awaited for each tool permission; returns the
            chosen option id or ``None`` (reject). Without it, ``ask`` rejects.
        :returns: the streamed text, the stop reason and the files the agent marked for sending.
        :raises AgentError: the agent could not start, crashed mid-turn (``partial_text`` holds what was
            streamed), ran past ``AGENT_TURN_TIMEOUT_SECONDS``, or the pool is shutting down. The next
            message starts a fresh process. A caller that abandons the turn (cancels its task) gets the
            turn cancelled (``session/cancel``) and the process replaced.
        """
        import acp

        key = (user_id, thread_id)
        thread_dir = self._thread_dir(user_id, thread_id)
        entry = await self._acquire(user_id, thread_id)
        try:
            session = await self._ensure_session(entry, thread_dir)
            outbox = thread_dir / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            blocks = [acp.text_block(text)]
            if attachments:
                listed = "\n".join(f"- {_display(p, thread_dir)}" for p in attachments)
                blocks.append(acp.text_block(f"\n\nAttached files:\n{listed}"))
            running = _Running(entry, session.session_id)
            self._running[key] = running
            assert entry.process is not None
            timeout = self.agent_settings.agent_turn_timeout_seconds or None
            try:
                outcome = await entry.process.prompt(
                    session.session_id, blocks, on_update, timeout_s=timeout, on_permission=on_permission
                )
            except asyncio.CancelledError:
                log.info("turn of user %s thread %s abandoned; cancelled, agent replaced", user_id, thread_id)
                await asyncio.shield(self.pool.discard(entry))
                raise
            except TurnTimeoutError as exc:
                log.warning("turn of user %s thread %s timed out: %s", user_id, thread_id, exc.detail)
                await self.pool.discard(entry)
                raise
            except AgentDiedError as exc:
                self._tails[key] = entry.process.stderr_tail()
                partial = getattr(exc, "partial_text", "")
                await self.pool.discard(entry)
                if running.cancelled:  # we killed it ourselves because the cancel was not obeyed
                    return TurnResult(partial, "cancelled", await asyncio.to_thread(_collect, thread_dir))
                log.warning("agent of user %s thread %s died mid-turn: %s", user_id, thread_id, exc.detail)
                error = AgentError(
                    "your agent stopped unexpectedly; send your message again to start a fresh one", detail=exc.detail
                )
                error.partial_text = partial  # type: ignore[attr-defined]
                raise error from exc
            finally:
                self._running.pop(key, None)
            self._tails[key] = entry.process.stderr_tail()
            stop = "cancelled" if running.cancelled and outcome.stop_reason == "end_turn" else outcome.stop_reason
            files = await asyncio.to_thread(_collect, thread_dir)
            return TurnResult(outcome.text, stop, files)
        finally:
            await self.pool.release(entry)

    async def cancel(self, user_id: int, thread_id: int) -> bool:
        """Cancel the running turn of (user, thread) (``session/cancel``; the process is killed if it does
        not stop within a few seconds). The pending :meth:`prompt` returns what was streamed so far.

        :returns: ``True`` if a turn was running.
        """
        running = self._running.get((user_id, thread_id))
        if running is None or running.entry.process is None:
            return False
        running.cancelled = True
        process = running.entry.process
        await process.cancel(running.session_id)

        async def _enforce() -> None:
            await asyncio.sleep(CANCEL_GRACE_S)
            if self._running.get((user_id, thread_id)) is running:
                log.warning("agent of user %s ignored session/cancel; killing it", user_id)
                await process.stop()

        task = asyncio.create_task(_enforce())
        self._enforcers.add(task)
        task.add_done_callback(self._enforcers.discard)
        return True

    def stderr_tail(self, user_id: int, thread_id: int) -> str:
        """The last lines the (user, thread) agent wrote to stderr, as of its last turn or failure (for
        operators: ``kiroclaw ask --verbose`` and the log; never shown to chat users)."""
        entry = self.pool.get(user_id, thread_id)
        if entry is not None and entry.process is not None and entry.process.stderr_tail():
            return entry.process.stderr_tail()
        return self._tails.get((user_id, thread_id), "")

    async def new_session(self, user_id: int, thread_id: int) -> None:
        """Forget the thread's ACP session: the next message starts a new conversation (the model is kept)."""
        await self.store.set_session(user_id, thread_id, None)
        entry = self.pool.get(user_id, thread_id)
        if entry is not None:
            entry.session = None

    async def list_models(self, user_id: int, thread_id: int) -> tuple[str | None, list[str]]:
        """The current model of the thread's session and the models the agent offers.

        :raises AgentError: the agent could not start.
        """
        entry = await self._acquire(user_id, thread_id)
        try:
            session = await self._ensure_session(entry, self._thread_dir(user_id, thread_id))
            return session.current_model, list(session.models)
        finally:
            await self.pool.release(entry)

    async def set_model(self, user_id: int, thread_id: int, model_id: str) -> None:
        """Switch the thread's session to ``model_id`` (``session/set_model``) and remember it across restarts.

        :raises AgentError: unknown model (the message lists the available ones) or the agent failed.
        """
        entry = await self._acquire(user_id, thread_id)
        try:
            session = await self._ensure_session(entry, self._thread_dir(user_id, thread_id))
            if session.models and model_id not in session.models:
                raise AgentError(f"unknown model {model_id!r}; available: {', '.join(session.models)}")
            assert entry.process is not None
            entry.session = await entry.process.set_model(session, model_id)
            await self.store.set_model(user_id, thread_id, model_id)
        finally:
            await self.pool.release(entry)

    async def aclose(self) -> None:
        """Stop every agent and what its tools started, and close the session store."""
        for task in list(self._enforcers):
            task.cancel()
        await self.pool.aclose()
        await self.store.close()

    # --- internals ----------------------------------------------------------------------------

    def _thread_dir(self, user_id: int, thread_id: int) -> Path:
        return self.host.paths(Scope.user(user_id)).thread_dir(thread_id).absolute()

    async def _acquire(self, user_id: int, thread_id: int) -> PoolEntry:
        entry = await self.pool.acquire(user_id, thread_id)
        try:
            stamp = await asyncio.to_thread(input_stamp, self.host, user_id)
            if entry.stamp != stamp:
                log.info("add-ons of user %s changed; restarting their agent", user_id)
                await self.pool.restart(entry)
        except BaseException:
            await self.pool.release(entry)
            raise
        return entry

    async def _start_process(self, user_id: int, thread_id: int) -> tuple[AgentProcess, Any]:
        settings = self.host.settings
        flavor = self.flavor
        thread_dir = self._thread_dir(user_id, thread_id)
        if not self._swept:  # agents left behind by an earlier KiroClaw that was killed
            self._swept = True
            await self.sweep(settings.workspace_base_path)
        await asyncio.to_thread(importlib.import_module, "acp")  # the SDK's first import is slow: off the loop
        stamp = await asyncio.to_thread(input_stamp, self.host, user_id)
        argv = command_for(flavor, settings, self.agent_settings.agent_command)
        user_root = self.host.paths(Scope.user(user_id)).root.absolute()
        state_dir = flavor.state_dir(user_root)
        names = [*BASE_ENV, *flavor.env_names, *self.agent_settings.agent_env_passthrough]
        pieces = FlavorEnv(passed=pick_env(names), fixed=dict(flavor.fixed_env))

        def prepare() -> tuple[dict[str, str], int]:
            state_dir.mkdir(parents=True, exist_ok=True)
            thread_dir.mkdir(parents=True, exist_ok=True)
            effective = self.host.effective_set(user_id)
            ctx = FlavorContext(user_id, user_root, state_dir, effective, settings, dict(pieces.passed), self.host)
            return flavor.prepare(ctx), len(effective.skills)

        pieces.prepared, skill_count = await asyncio.to_thread(prepare)
        if flavor.own_home:
            pieces.prepared.setdefault("HOME", str(state_dir))
        token = new_token(user_id, thread_id)
        pieces.marker = marker_env(token, settings.workspace_base_path)
        spec = LaunchSpec(
            argv=tuple(argv),
            env=pieces.build(),
            cwd=thread_dir,
            kiro_home=Path(pieces.prepared.get("KIRO_HOME", state_dir)),
            token=token,
            flavor=flavor.name,
            auth_hint=flavor.auth_hint,
        )
        if self.launcher is not None:
            spec = await self.launcher.prepare(spec, user_id=user_id, thread_id=thread_id)
        process = AgentProcess(
            spec,
            permission_policy=settings.permission_policy,
            permission_timeout_s=self.agent_settings.permission_timeout_seconds,
            start_timeout_s=settings.agent_start_timeout_seconds,
            record=self.record,
        )
        try:
            await process.start()
        except AgentError as exc:
            self._tails[(user_id, thread_id)] = process.stderr_tail()
            log.warning(
                "%s agent for user %s failed to start: %s\n%s", flavor.name, user_id, exc.detail, process.stderr_tail()
            )
            raise
        if self.on_agent_started is not None:
            await self.on_agent_started(user_id, thread_id)
        log.info(
            "started %s agent pid %s for user %s thread %s with %d skills",
            flavor.name,
            process.pid,
            user_id,
            thread_id,
            skill_count,
        )
        return process, stamp

    async def _ensure_session(self, entry: PoolEntry, thread_dir: Path) -> SessionInfo:
        if entry.session is not None:
            return entry.session
        user_id, thread_id = entry.key
        process = entry.process
        assert process is not None
        stored = await self.store.get(user_id, thread_id)
        session: SessionInfo | None = None
        if stored is not None and stored.session_id and self.flavor.reopen_sessions:
            session = await self._load(entry, thread_dir, stored.session_id)
        if session is None:
            session = await process.new_session(thread_dir)
            await self.store.set_session(user_id, thread_id, session.session_id)
        session = await self._enforce_policy(entry, session)
        if stored is not None and stored.model_id and stored.model_id != session.current_model:
            try:
                session = await process.set_model(session, stored.model_id) or session
            except AgentDiedError:
                raise
            except AgentError as exc:
                log.warning("could not re-apply model %s for user %s: %s", stored.model_id, user_id, exc.detail)
        entry.session = session
        return session

    async def _enforce_policy(self, entry: PoolEntry, session: SessionInfo) -> SessionInfo:
        """Put the session in the mode the flavor names for ``PERMISSION_POLICY``; a flavor that cannot
        make the policy hold raises, and the agent is stopped rather than used."""
        assert entry.process is not None
        policy = self.host.settings.permission_policy
        try:
            wanted = self.flavor.permission_mode(policy, session.modes)
            if wanted is None or wanted == session.current_mode:
                return session
            return await entry.process.set_mode(session, wanted)
        except AgentDiedError:
            raise
        except AgentError as exc:
            log.error("agent of user %s: %s", entry.key[0], exc.detail or exc.user_message)
            await self.pool.discard(entry)
            raise

    async def _load(self, entry: PoolEntry, thread_dir: Path, session_id: str) -> SessionInfo | None:
        """``session/load``; on a lock held by a stale or leftover agent, kill it and retry once."""
        assert entry.process is not None
        home = entry.process.spec.kiro_home
        for attempt in (1, 2):
            try:
                return await entry.process.load_session(thread_dir, session_id)
            except SessionLockedError as exc:
                holder = await self.lock_held_elsewhere(*entry.key) if self.lock_held_elsewhere else None
                if holder is not None:  # another worker's live agent: never recovered by a PID from here
                    log.warning(
                        "session %s of user %s is held by worker %s; starting a new one",
                        session_id,
                        entry.key[0],
                        holder,
                    )
                    return None
                if attempt == 2 or not await self._clear_lock(exc.pid, home, session_id):
                    log.warning(
                        "session %s of user %s stays locked by pid %s; starting a new one",
                        session_id,
                        entry.key[0],
                        exc.pid,
                    )
                    return None
            except SessionLoadError as exc:
                log.info(
                    "session %s of user %s cannot be loaded (%s); starting a new one",
                    session_id,
                    entry.key[0],
                    exc.detail,
                )
                return None
        return None

    async def _clear_lock(self, pid: int, home: Path, session_id: str) -> bool:
        """Make a session lock go away if its holder is ours to end. :returns: ``True`` if it was cleared.

        Killable: a process in a group this pool started, or a leftover agent whose environment names this
        very ``KIRO_HOME`` (an earlier KiroClaw run). A dead holder's lock file is removed.
        """
        lock = home / "sessions" / "cli" / f"{session_id}.lock"
        if pid <= 1 or pid == os.getpid():
            return False
        if not pid_alive(pid):
            lock.unlink(missing_ok=True)
            return True
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            lock.unlink(missing_ok=True)
            return True
        ours = pgid in self.pool.pgids()
        holder_home = process_home(pid)
        leftover = holder_home is not None and Path(holder_home).resolve() == home.resolve()
        if not (ours or leftover) or pgid == os.getpgrp():
            log.warning("session lock held by pid %s, which is not an agent of this home; leaving it", pid)
            return False
        log.warning("killing stale agent process group %s holding session %s", pgid, session_id)
        await kill_group(pgid, grace_s=2.0)
        return not pid_alive(pid)


def resolve_cli(path: str) -> str:
    """``KIRO_CLI_PATH`` resolved on ``PATH`` (a bare name) or as given (a path).

    :raises AgentError: not found or not executable.
    """
    return resolve_command([path], what="KIRO_CLI_PATH")[0]


def _display(path: Path, thread_dir: Path) -> str:
    try:
        return path.absolute().relative_to(thread_dir).as_posix()
    except ValueError:
        return str(path.absolute())


def _collect(thread_dir: Path) -> list[Path]:
    """Move the regular files in ``outbox/`` to ``sent/`` (never following links). :returns: new paths."""
    outbox = thread_dir / "outbox"
    sent = thread_dir / "sent"
    moved: list[Path] = []
    if not outbox.is_dir() or outbox.is_symlink():
        return moved
    for item in sorted(outbox.iterdir()):
        if item.is_symlink() or not item.is_file():
            continue
        sent.mkdir(exist_ok=True)
        if sent.is_symlink():  # the agent made sent/ a link: moving files through it would write elsewhere
            log.warning("%s is a link; files are not collected", sent)
            return moved
        target = sent / item.name
        counter = 1
        while target.exists():
            target = sent / f"{item.stem}-{counter}{item.suffix}"
            counter += 1
        os.replace(item, target)
        moved.append(target)
    return moved
