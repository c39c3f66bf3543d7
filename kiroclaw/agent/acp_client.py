"""One ACP agent process and its connection (the ``agent-client-protocol`` SDK, pinned in pyproject).

The process gets a complete environment built by its flavor (never the bot's whole environment), the
thread folder as cwd, its own process group and a marker token (:mod:`kiroclaw.agent.reaper`), so stopping
it also stops what its tools started in new sessions. Protocol rules followed (ACP v1, ``reference/acp-agents.md``,
``reference/kiro-cli.md`` §4):

* the ``initialize`` result is kept: ``session/load`` only when ``agentCapabilities.loadSession``,
  ``session/resume`` preferred when ``sessionCapabilities.resume`` is advertised; an ``initialize`` error
  stops the process and becomes an :class:`AgentError`; ``auth_required`` (-32000) names what to set;
* models and modes come from the session's ``configOptions`` (``category`` ``model``/``mode``) and are set
  with ``session/set_config_option``; ``session/set_mode`` for agents with ``modes`` only; the legacy
  ``session/set_model`` only for agents that advertise ``models`` the old way (kiro-cli) — the one message
  outside the v1 schema;
* every permission request is answered (policy ``allow``/``deny``, or the caller's answer under ``ask``,
  ``cancelled`` after ``session/cancel``); a turn the caller abandons gets ``session/cancel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import AgentError
from .protocol import (
    DOCTOR_FIX,
    AgentDiedError,
    AgentUpdate,
    LaunchSpec,
    PermissionCallback,
    PermissionRequest,
    SessionInfo,
    SessionLoadError,
    SessionLockedError,
    TurnOutcome,
    TurnTimeoutError,
    UpdateCallback,
    auth_error,
    build_env,
    install_fix,
    process_home,
    session_info,
    with_changes,
)
from .reaper import group_members, join_cgroup, kill_group, pid_alive, reap

__all__ = [
    "AgentDiedError",
    "AgentProcess",
    "AgentUpdate",
    "LaunchSpec",
    "PermissionRequest",
    "SessionInfo",
    "SessionLoadError",
    "SessionLockedError",
    "TurnOutcome",
    "build_env",
    "group_members",
    "kill_group",
    "pid_alive",
    "process_home",
]

log = logging.getLogger(__name__)

PermissionPolicy = Literal["ask", "allow", "deny"]

AUTH_REQUIRED = -32000
_LOCKED = re.compile(r"Session is active in another process \(PID (\d+)\)", re.IGNORECASE)
_AUTH_WORDS = re.compile(r"\b(401|unauthori[sz]ed|invalid.{0,20}api.?key|authentication)\b", re.IGNORECASE)
_STDOUT_LIMIT_BYTES = 50 * 1024 * 1024
_STDERR_TAIL_LINES = 40


@dataclass
class _Turn:
    """The updates of one running prompt: accumulated text plus an ordered queue for the callback."""

    on_permission: PermissionCallback | None = None
    parts: list[str] = field(default_factory=list)
    queue: asyncio.Queue[AgentUpdate | None] = field(default_factory=asyncio.Queue)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


class _Client:
    """The ACP client side handed to the SDK: receives updates, answers permission requests."""

    def __init__(self, owner: AgentProcess) -> None:
        self._owner = owner

    async def request_permission(self, session_id: str, tool_call: Any, options: Sequence[Any], **kwargs: Any) -> Any:
        from acp.schema import AllowedOutcome, DeniedOutcome, RequestPermissionResponse

        chosen = await self._owner._decide(session_id, tool_call, options)
        if chosen is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id=chosen))

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self._owner._on_update(session_id, update)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        log.debug("agent extension notification _%s ignored", method)

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        from acp import RequestError

        log.info("agent extension request _%s refused (not supported)", method)
        raise RequestError.method_not_found(f"_{method}")


class AgentProcess:
    """One running agent process and its ACP connection.

    Use :meth:`start` first; every other coroutine raises :class:`AgentError` (or a subclass) on failure.

    :param spec: argv, env, cwd, state folder and reaper token.
    :param permission_policy: ``ask`` (the turn's ``on_permission`` decides; without one, reject),
        ``allow`` (an ``allow_once``/``allow_always`` option) or ``deny`` (a reject option).
    :param permission_timeout_s: under ``ask``, seconds to wait for an answer before rejecting.
    :param start_timeout_s: seconds allowed for spawning + ``initialize``.
    :param record: when a list, every JSON-RPC message we send is appended to it (tests validate them).
    """

    def __init__(
        self,
        spec: LaunchSpec,
        *,
        permission_policy: PermissionPolicy = "allow",
        permission_timeout_s: float = 300.0,
        start_timeout_s: float = 60.0,
        request_timeout_s: float = 120.0,
        record: list[dict[str, Any]] | None = None,
    ) -> None:
        self.spec = spec
        self.permission_policy = permission_policy
        self.permission_timeout_s = permission_timeout_s
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.record = record
        self.init_result: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._conn: Any = None
        self._turns: dict[str, _Turn] = {}
        self._stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._exit_task: asyncio.Task[int] | None = None
        self._cgroup: Path | None = None
        self.pgid: int | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def capabilities(self) -> dict[str, Any]:
        """``agentCapabilities`` from the ``initialize`` result (``{}`` before :meth:`start`)."""
        caps = self.init_result.get("agentCapabilities")
        return caps if isinstance(caps, dict) else {}

    @property
    def can_load(self) -> bool:
        return bool(self.capabilities.get("loadSession"))

    @property
    def can_resume(self) -> bool:
        session = self.capabilities.get("sessionCapabilities")
        return isinstance(session, dict) and session.get("resume") is not None

    def stderr_tail(self) -> str:
        """The last lines the agent wrote to stderr (for the operator's log, never for the user)."""
        return "\n".join(self._stderr_tail)

    async def start(self) -> None:
        """Spawn the process and run ``initialize`` (the result is kept in :attr:`init_result`).

        :raises AgentError: the program is missing, the process exits, or ``initialize`` fails or times
            out; the process (and anything it started) is stopped first.
        """
        import acp
        from acp import RequestError

        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.spec.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.spec.env,
                cwd=str(self.spec.cwd),
                start_new_session=True,
                limit=_STDOUT_LIMIT_BYTES,
            )
        except (FileNotFoundError, PermissionError) as exc:
            program = "kiro-cli" if self.spec.flavor == "kiro" else Path(self.spec.argv[0]).name
            raise AgentError(
                f"the agent program ({program}) is not installed on this server",
                detail=f"{self.spec.argv[0]}: {exc}",
                fix=install_fix(program, "KIRO_CLI_PATH" if self.spec.flavor == "kiro" else "AGENT_COMMAND"),
                server=True,
            ) from exc
        except OSError as exc:
            raise AgentError(
                "the agent could not be started", detail=str(exc), fix=DOCTOR_FIX, server=True
            ) from exc
        self.pgid = self._proc.pid  # start_new_session: the child leads its own group
        if self.spec.token:
            self._cgroup = await asyncio.to_thread(join_cgroup, self.spec.token, self._proc.pid)
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._exit_task = asyncio.create_task(self._proc.wait())
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._conn = acp.connect_to_agent(_Client(self), self._proc.stdin, self._proc.stdout)  # type: ignore[arg-type]
        if self.record is not None:
            self._conn._conn.add_observer(self._observe)
        params = {
            "protocolVersion": acp.PROTOCOL_VERSION,
            "clientCapabilities": {"fs": {"readTextFile": False, "writeTextFile": False}, "terminal": False},
            "clientInfo": {"name": "kiroclaw", "title": "KiroClaw", "version": "1"},
        }
        try:
            result = await self._call(
                self._conn._conn.send_request("initialize", params), timeout_s=self.start_timeout_s, what="start"
            )
        except RequestError as exc:
            await self.stop()
            text = _error_text(exc)
            if exc.code == AUTH_REQUIRED:
                raise auth_error(self.spec, text) from exc
            raise AgentError(
                "the agent could not be started", detail=f"initialize failed: {text}", fix=DOCTOR_FIX, server=True
            ) from exc
        except BaseException:
            await self.stop()
            raise
        self.init_result = result if isinstance(result, dict) else {}

    def _observe(self, event: Any) -> None:
        if self.record is not None and str(getattr(event.direction, "value", event.direction)).lower() in (
            "outgoing",
            "streamdirection.outgoing",
        ):
            self.record.append(dict(event.message))

    async def stop(self, grace_s: float = 2.0) -> None:
        """Stop the agent and everything it started (process group, marked processes, cgroup). Idempotent."""
        proc = self._proc
        for turn in self._turns.values():
            turn.cancelled.set()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)
        if proc is not None and self.pgid is not None:
            if self.spec.token:
                await reap(self.spec.token, pgid=self.pgid, cgroup=self._cgroup, grace_s=grace_s, leader=proc)
            else:
                await kill_group(self.pgid, grace_s=grace_s, leader=proc)
        for task in (self._stderr_task, self._exit_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        for turn in self._turns.values():
            turn.queue.put_nowait(None)

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while True:
            line = await self._proc.stderr.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            self._stderr_tail.append(text)
            log.debug("agent %s stderr: %s", self.pid, text)

    async def _call(self, coro: Awaitable[Any], *, timeout_s: float | None, what: str) -> Any:
        """Await an SDK call, racing it against the process's exit; map failures to AgentErrors."""
        from acp import RequestError

        assert self._exit_task is not None
        task = asyncio.ensure_future(coro)
        try:
            done, _ = await asyncio.wait(
                {task, self._exit_task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task in done:
            try:
                return task.result()
            except RequestError:
                raise
            except (ConnectionError, EOFError, BrokenPipeError) as exc:
                raise AgentDiedError(f"the agent stopped unexpectedly ({what})", detail=self.stderr_tail()) from exc
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if self._exit_task in done:
            code = self._exit_task.result()
            raise AgentDiedError(
                f"the agent stopped unexpectedly ({what}, exit code {code})", detail=self.stderr_tail()
            )
        raise AgentError(f"the agent did not answer in time ({what})", detail=self.stderr_tail())

    def _request_error(self, exc: Any, message: str) -> AgentError:
        text = _error_text(exc)
        if getattr(exc, "code", None) == AUTH_REQUIRED or _AUTH_WORDS.search(text):
            return auth_error(self.spec, text)  # some agents pass the model API's 401 on as a plain error
        return AgentError(message, detail=text)

    # --- sessions -----------------------------------------------------------------------------

    async def new_session(self, cwd: Path) -> SessionInfo:
        """``session/new`` with ``cwd`` (absolute) and no MCP servers.

        :raises AgentError: the agent refused (``auth_required`` names what to set) or died.
        """
        from acp import RequestError

        try:
            result = await self._raw("session/new", {"cwd": str(cwd), "mcpServers": []}, what="new session")
        except RequestError as exc:
            raise self._request_error(exc, "the agent could not open a conversation") from exc
        return session_info(result, None)

    async def load_session(self, cwd: Path, session_id: str) -> SessionInfo:
        """Reopen a stored session: ``session/resume`` where advertised, else ``session/load`` (history
        replay ignored) where ``loadSession`` is advertised.

        :raises SessionLockedError: another process holds the session (its PID is on the error).
        :raises SessionLoadError: unknown or unreadable session, or the agent cannot reopen sessions.
        :raises AgentDiedError: the agent died.
        """
        from acp import RequestError

        if self.can_resume:
            method = "session/resume"
        elif self.can_load:
            method = "session/load"
        else:
            raise SessionLoadError("the agent cannot reopen conversations", detail="no loadSession/resume capability")
        params = {"sessionId": session_id, "cwd": str(cwd), "mcpServers": []}
        try:
            result = await self._raw(method, params, what="load session")
        except RequestError as exc:
            text = _error_text(exc)
            match = _LOCKED.search(text)
            if match:
                raise SessionLockedError(int(match.group(1))) from exc
            if exc.code == AUTH_REQUIRED:
                raise auth_error(self.spec, text) from exc
            raise SessionLoadError("the earlier conversation could not be loaded", detail=text) from exc
        return session_info(result, session_id)

    async def set_option(self, session: SessionInfo, option_id: str, value: str) -> SessionInfo:
        """``session/set_config_option``; :returns: the session with the agent's new ``configOptions``.

        :raises AgentError: the agent refused the value or died.
        """
        from acp import RequestError

        params = {"sessionId": session.session_id, "configId": option_id, "value": value}
        try:
            result = await self._raw("session/set_config_option", params, what="set option")
        except RequestError as exc:
            raise AgentError(f"the agent refused {option_id} {value!r}", detail=_error_text(exc)) from exc
        if isinstance(result.get("configOptions"), list):
            return session_info({"sessionId": session.session_id, **result}, session.session_id)
        return session

    async def set_mode(self, session: SessionInfo, mode_id: str) -> SessionInfo:
        """Switch the session's mode: the ``mode`` config option, else ``session/set_mode``."""
        from acp import RequestError

        if session.mode_option:
            updated = await self.set_option(session, session.mode_option, mode_id)
            return updated if updated.current_mode else with_changes(session, current_mode=mode_id)
        try:
            await self._raw("session/set_mode", {"sessionId": session.session_id, "modeId": mode_id}, what="set mode")
        except RequestError as exc:
            raise AgentError(f"the agent refused the mode {mode_id!r}", detail=_error_text(exc)) from exc
        return with_changes(session, current_mode=mode_id)

    async def set_model(self, session: SessionInfo | str, model_id: str) -> SessionInfo | None:
        """Switch the model: the ``model`` config option, else the legacy ``session/set_model`` (sent only
        to agents that advertise ``models`` the old way; not in the ACP v1 schema).

        :raises AgentError: the agent refused (unknown model) or died.
        """
        from acp import RequestError

        info = session if isinstance(session, SessionInfo) else SessionInfo(session)
        if info.model_option:
            updated = await self.set_option(info, info.model_option, model_id)
            return with_changes(updated, current_model=model_id)
        try:
            await self._raw("session/set_model", {"sessionId": info.session_id, "modelId": model_id}, what="set model")
        except RequestError as exc:
            raise AgentError(f"the agent refused the model {model_id!r}", detail=_error_text(exc)) from exc
        return with_changes(info, current_model=model_id)

    async def _raw(self, method: str, params: dict[str, Any], *, what: str) -> dict[str, Any]:
        # Through the JSON-RPC layer: the typed SDK models drop fields agents add (kiro-cli's ``models``).
        if self._conn is None:
            raise AgentDiedError("the agent is not running")
        result = await self._call(
            self._conn._conn.send_request(method, params), timeout_s=self.request_timeout_s, what=what
        )
        return result if isinstance(result, dict) else {}

    # --- turns --------------------------------------------------------------------------------

    def _on_update(self, session_id: str, update: Any) -> None:
        turn = self._turns.get(session_id)
        if turn is None:  # history replayed by session/load, or a late update after the turn ended
            return
        kind = getattr(update, "session_update", "")
        if kind == "agent_message_chunk":
            text = getattr(update.content, "text", "") or ""
            turn.parts.append(text)
            turn.queue.put_nowait(AgentUpdate("text", text=text))
        elif kind == "agent_thought_chunk":
            turn.queue.put_nowait(AgentUpdate("thought", text=getattr(update.content, "text", "") or ""))
        elif kind == "tool_call":
            turn.queue.put_nowait(AgentUpdate("tool_call", title=update.title or "", status=update.status or ""))
        elif kind == "tool_call_update":
            turn.queue.put_nowait(AgentUpdate("tool_call_update", title=update.title or "", status=update.status or ""))
        else:
            log.debug("session update %s ignored", kind)

    async def _decide(self, session_id: str, tool_call: Any, options: Sequence[Any]) -> str | None:
        """The option to select for a permission request, or ``None`` (the ``cancelled`` outcome)."""
        title = getattr(tool_call, "title", None) or getattr(tool_call, "tool_call_id", "?")
        by_kind: dict[str, str] = {}
        for option in options:
            by_kind.setdefault(str(option.kind), option.option_id)
        reject = by_kind.get("reject_once") or by_kind.get("reject_always")
        turn = self._turns.get(session_id)
        if self.permission_policy == "allow":
            chosen = by_kind.get("allow_once") or by_kind.get("allow_always")
        elif self.permission_policy == "deny" or turn is None or turn.on_permission is None:
            chosen = reject
        else:
            request = PermissionRequest(
                str(title),
                str(getattr(tool_call, "kind", None) or "other"),
                tuple((str(o.option_id), str(o.name), str(o.kind)) for o in options),
            )
            ask = asyncio.ensure_future(turn.on_permission(request))
            stop = asyncio.ensure_future(turn.cancelled.wait())
            done, _ = await asyncio.wait({ask, stop}, timeout=self.permission_timeout_s, return_when="FIRST_COMPLETED")
            for task in (ask, stop):
                if task not in done:
                    task.cancel()
            if stop in done:
                log.info("permission request for %r: turn cancelled", title)
                return None
            answer = ask.result() if ask in done and not ask.exception() else None
            valid = {str(o.option_id) for o in options}
            chosen = answer if answer in valid else reject
            if ask not in done:
                log.info("permission request for %r: no answer in %.0f s, rejected", title, self.permission_timeout_s)
        log.info("permission for tool call %r (%s): %s", title, self.permission_policy, chosen or "cancelled")
        return chosen

    async def prompt(
        self,
        session_id: str,
        blocks: Sequence[Any],
        on_update: UpdateCallback | None = None,
        *,
        timeout_s: float | None = None,
        on_permission: PermissionCallback | None = None,
    ) -> TurnOutcome:
        """Run one ``session/prompt`` turn, streaming updates to ``on_update`` in arrival order.

        If the caller abandons the turn (its task is cancelled), ``session/cancel`` is sent before the
        cancellation propagates, so the agent stops and nothing of this turn lands in the next.

        :param blocks: ACP content blocks (``acp.text_block(...)``).
        :param timeout_s: longest turn in seconds (``None`` = none); then :class:`TurnTimeoutError`.
        :param on_permission: answers permission requests under ``PERMISSION_POLICY=ask``.
        :returns: the full streamed text and the stop reason (``end_turn``, ``cancelled``…).
        :raises AgentDiedError: the agent died mid-turn (what was streamed is on ``.partial_text``).
        :raises AgentError: the agent answered the prompt with an error (``auth_required`` names the fix).
        """
        from acp import RequestError

        if self._conn is None:
            raise AgentDiedError("the agent is not running")
        turn = _Turn(on_permission)
        self._turns[session_id] = turn
        consumer = asyncio.create_task(self._deliver(turn, on_update))
        try:
            try:
                response = await self._call(
                    self._conn.prompt(session_id=session_id, prompt=list(blocks)), timeout_s=timeout_s, what="turn"
                )
            except RequestError as exc:
                raise self._request_error(exc, "the agent could not answer this message") from exc
            except AgentDiedError:
                raise
            except AgentError as exc:
                if timeout_s is None:
                    raise
                await self.cancel(session_id)
                raise TurnTimeoutError(
                    f"the agent took longer than {timeout_s:.0f} s and was stopped; send your message again",
                    detail=self.stderr_tail(),
                ) from exc
            except asyncio.CancelledError:
                await asyncio.shield(self.cancel(session_id))
                raise
            stop = str(getattr(response, "stop_reason", "end_turn") or "end_turn")
            return TurnOutcome("".join(turn.parts), stop)
        except AgentError as exc:
            exc.partial_text = "".join(turn.parts)  # type: ignore[attr-defined]
            if isinstance(exc, AgentDiedError) or exc.code == "agent_auth_required":
                log.warning("agent %s (%s) failed: %s\n%s", self.pid, self.spec.flavor, exc.detail, self.stderr_tail())
            raise
        finally:
            self._turns.pop(session_id, None)
            turn.queue.put_nowait(None)
            try:
                await consumer
            except Exception:
                log.exception("an update callback failed")

    @staticmethod
    async def _deliver(turn: _Turn, on_update: UpdateCallback | None) -> None:
        while True:
            update = await turn.queue.get()
            if update is None:
                return
            if on_update is not None:
                try:
                    await on_update(update)
                except Exception:
                    log.exception("an update callback failed")

    async def cancel(self, session_id: str) -> None:
        """Send ``session/cancel`` (a notification); pending permission questions end as ``cancelled``
        and the running prompt then ends with ``cancelled``."""
        turn = self._turns.get(session_id)
        if turn is not None:
            turn.cancelled.set()
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            await self._conn._conn.send_notification("session/cancel", {"sessionId": session_id})


def _error_text(exc: Any) -> str:
    data = getattr(exc, "data", None)
    return f"{exc} {data}" if data else str(exc)
