"""One kiro-cli agent process spoken to over ACP (the ``agent-client-protocol`` SDK, pinned in pyproject).

The process is ``KIRO_CLI_PATH acp --agent <name> --agent-engine v2`` with ``KIRO_HOME`` set to the
user's home, the thread folder as cwd and its own process group (``start_new_session``), so stopping it
kills kiro-cli's ``kiro-cli-chat`` child too. Protocol facts from ``reference/kiro-cli.md`` §4:
``session/load`` needs ``cwd`` and ``mcpServers``; ``session/prompt`` takes ``prompt``; updates are
snake_case ``session/update`` notifications; the prompt response ends a turn; permission requests must be
answered or kiro-cli blocks; ``_kiro.dev/*`` notifications are extensions (logged, ignored); loading a
session held by another process fails with "Session is active in another process (PID N)".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import AgentError

log = logging.getLogger(__name__)

UpdateKind = Literal["text", "thought", "tool_call", "tool_call_update"]
PermissionPolicy = Literal["allow", "deny"]

#: Environment variables passed through to kiro-cli; everything else (bot token, GitHub token…) is not.
PASSTHROUGH_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMPDIR",
    "TZ",
    "NO_COLOR",
    "KIRO_API_KEY",
    "KIRO_LOG_LEVEL",
    "KIRO_CHAT_LOG_FILE",
    "KIRO_LOG_NO_COLOR",
)

_LOCKED = re.compile(r"Session is active in another process \(PID (\d+)\)", re.IGNORECASE)
_STDOUT_LIMIT_BYTES = 50 * 1024 * 1024
_STDERR_TAIL_LINES = 40


@dataclass(frozen=True)
class AgentUpdate:
    """One streamed piece of an agent turn.

    :ivar kind: ``text`` (``agent_message_chunk``), ``thought`` (``agent_thought_chunk``), ``tool_call``
        or ``tool_call_update``.
    :ivar text: the chunk's text (text/thought), else ``""``.
    :ivar title: the tool call's title (tool calls), else ``""``.
    :ivar status: the tool call's status (``pending``, ``in_progress``, ``completed``, ``failed``) or ``""``.
    """

    kind: UpdateKind
    text: str = ""
    title: str = ""
    status: str = ""


UpdateCallback = Callable[[AgentUpdate], Awaitable[None]]


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one agent process: argv, environment (complete, not merged) and cwd (absolute)."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    kiro_home: Path


@dataclass(frozen=True)
class SessionInfo:
    """An open ACP session: its id and the models kiro-cli reported (``session/new``/``load`` ``models``).

    :ivar current_model: ``models.currentModelId`` (``auto``…) or ``None`` when the agent reports none.
    :ivar models: ids of ``models.availableModels``, in the agent's order.
    """

    session_id: str
    current_model: str | None = None
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class TurnOutcome:
    """What one ``session/prompt`` produced: the streamed text and the stop reason (``end_turn``…)."""

    text: str
    stop_reason: str


class SessionLockedError(AgentError):
    """``session/load`` refused: another process holds the session's lock file.

    :ivar pid: the PID kiro-cli named in the error.
    """

    code = "agent_session_locked"

    def __init__(self, pid: int) -> None:
        super().__init__("this conversation is open in another agent process")
        self.pid = pid


class SessionLoadError(AgentError):
    """``session/load`` failed for another reason (unknown id, corrupt session files)."""

    code = "agent_session_load"


class AgentDiedError(AgentError):
    """The agent process exited or closed its pipes mid-request."""

    code = "agent_died"


def build_env(kiro_home: Path, *, api_key: str | None = None, source: dict[str, str] | None = None) -> dict[str, str]:
    """The complete environment of an agent process: a few pass-through variables, ``XDG_*``, ``KIRO_HOME``.

    :param source: the environment to pick from (default ``os.environ``).
    :param api_key: ``KIRO_API_KEY`` from the settings (wins over the environment's).
    """
    src = dict(os.environ if source is None else source)
    env = {k: v for k, v in src.items() if k in PASSTHROUGH_ENV or k.startswith("XDG_")}
    env["KIRO_HOME"] = str(kiro_home)
    if api_key:
        env["KIRO_API_KEY"] = api_key
    return env


class _Turn:
    """The updates of one running prompt: accumulated text plus an ordered queue for the callback."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.queue: asyncio.Queue[AgentUpdate | None] = asyncio.Queue()


class _Client:
    """The ACP client side handed to the SDK: receives updates, answers permission requests."""

    def __init__(self, owner: AgentProcess) -> None:
        self._owner = owner

    async def request_permission(self, session_id: str, tool_call: Any, options: Sequence[Any], **kwargs: Any) -> Any:
        from acp.schema import AllowedOutcome, DeniedOutcome, RequestPermissionResponse

        wanted = (
            ("allow_once", "allow_always")
            if self._owner.permission_policy == "allow"
            else ("reject_once", "reject_always")
        )
        title = getattr(tool_call, "title", None) or getattr(tool_call, "tool_call_id", "?")
        for kind in wanted:
            for option in options:
                if option.kind == kind:
                    log.info("permission %s for tool call %r (%s)", kind, title, session_id)
                    return RequestPermissionResponse(
                        outcome=AllowedOutcome(outcome="selected", option_id=option.option_id)
                    )
        log.info("permission request for %r cancelled: no %s option", title, "/".join(wanted))
        return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))

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

    :param spec: argv, env and cwd.
    :param permission_policy: ``allow`` picks an ``allow_once``/``allow_always`` option of every permission
        request (what ``--trust-all-tools`` does); ``deny`` picks a reject option.
    :param start_timeout_s: seconds allowed for spawning + ``initialize``.
    """

    def __init__(
        self,
        spec: LaunchSpec,
        *,
        permission_policy: PermissionPolicy = "allow",
        start_timeout_s: float = 60.0,
        request_timeout_s: float = 120.0,
    ) -> None:
        self.spec = spec
        self.permission_policy = permission_policy
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self._proc: asyncio.subprocess.Process | None = None
        self._conn: Any = None
        self._turns: dict[str, _Turn] = {}
        self._stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._exit_task: asyncio.Task[int] | None = None
        self.pgid: int | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def stderr_tail(self) -> str:
        """The last lines the agent wrote to stderr (for the operator's log, never for the user)."""
        return "\n".join(self._stderr_tail)

    async def start(self) -> None:
        """Spawn the process and run ``initialize``.

        :raises AgentError: the executable is missing, the process exits, or ``initialize`` fails or times out.
        """
        import acp
        from acp.schema import ClientCapabilities, FileSystemCapabilities, Implementation

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
            raise AgentError(
                "the agent program (kiro-cli) is not installed on this server; run `kiroclaw doctor`",
                detail=f"{self.spec.argv[0]}: {exc}",
            ) from exc
        except OSError as exc:
            raise AgentError("the agent could not be started", detail=str(exc)) from exc
        self.pgid = self._proc.pid  # start_new_session: the child leads its own group
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._exit_task = asyncio.create_task(self._proc.wait())
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._conn = acp.connect_to_agent(
            _Client(self),  # type: ignore[arg-type]
            self._proc.stdin,
            self._proc.stdout,
        )
        try:
            await self._call(
                self._conn.initialize(
                    protocol_version=acp.PROTOCOL_VERSION,
                    client_capabilities=ClientCapabilities(
                        fs=FileSystemCapabilities(read_text_file=False, write_text_file=False), terminal=False
                    ),
                    client_info=Implementation(name="kiroclaw", title="KiroClaw", version="1"),
                ),
                timeout_s=self.start_timeout_s,
                what="start",
            )
        except AgentError:
            await self.stop()
            raise

    async def stop(self, grace_s: float = 2.0) -> None:
        """Kill the whole process group: SIGTERM, then SIGKILL after ``grace_s`` seconds. Idempotent."""
        proc = self._proc
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)
        if proc is not None and self.pgid is not None:
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

    # --- sessions -----------------------------------------------------------------------------

    async def new_session(self, cwd: Path) -> SessionInfo:
        """``session/new`` with ``cwd`` (absolute) and no MCP servers.

        :raises AgentError: the agent refused or died.
        """
        from acp import RequestError

        try:
            result = await self._raw("session/new", {"cwd": str(cwd), "mcpServers": []}, what="new session")
        except RequestError as exc:
            raise AgentError("the agent could not open a conversation", detail=f"{exc} {exc.data}") from exc
        return _session_info(result, None)

    async def load_session(self, cwd: Path, session_id: str) -> SessionInfo:
        """``session/load`` (always with ``cwd`` and ``mcpServers``); replayed history updates are dropped.

        :raises SessionLockedError: another process holds the session (its PID is on the error).
        :raises SessionLoadError: unknown or unreadable session.
        :raises AgentDiedError: the agent died.
        """
        from acp import RequestError

        try:
            result = await self._raw(
                "session/load", {"sessionId": session_id, "cwd": str(cwd), "mcpServers": []}, what="load session"
            )
        except RequestError as exc:
            text = f"{exc} {exc.data}"
            match = _LOCKED.search(text)
            if match:
                raise SessionLockedError(int(match.group(1))) from exc
            raise SessionLoadError("the earlier conversation could not be loaded", detail=text) from exc
        return _session_info(result, session_id)

    async def set_model(self, session_id: str, model_id: str) -> None:
        """``session/set_model`` (kiro-cli's method; not in the ACP schema the SDK pins).

        :raises AgentError: the agent refused (unknown model) or died.
        """
        from acp import RequestError

        try:
            await self._raw("session/set_model", {"sessionId": session_id, "modelId": model_id}, what="set model")
        except RequestError as exc:
            raise AgentError(f"the agent refused the model {model_id!r}", detail=f"{exc} {exc.data}") from exc

    async def _raw(self, method: str, params: dict[str, Any], *, what: str) -> dict[str, Any]:
        # The typed SDK models drop kiro-cli's extra fields (``models``), so these requests go through the
        # connection's JSON-RPC layer directly.
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

    async def prompt(
        self,
        session_id: str,
        blocks: Sequence[Any],
        on_update: UpdateCallback | None = None,
        *,
        timeout_s: float | None = None,
    ) -> TurnOutcome:
        """Run one ``session/prompt`` turn, streaming updates to ``on_update`` in arrival order.

        :param blocks: ACP content blocks (``acp.text_block(...)``).
        :returns: the full streamed text and the stop reason (``end_turn``, ``cancelled``…).
        :raises AgentDiedError: the agent died mid-turn (what was streamed is on ``.partial_text``).
        :raises AgentError: the agent answered the prompt with an error.
        """
        from acp import RequestError

        if self._conn is None:
            raise AgentDiedError("the agent is not running")
        turn = _Turn()
        self._turns[session_id] = turn
        consumer = asyncio.create_task(self._deliver(turn, on_update))
        try:
            try:
                response = await self._call(
                    self._conn.prompt(session_id=session_id, prompt=list(blocks)), timeout_s=timeout_s, what="turn"
                )
            except RequestError as exc:
                raise AgentError("the agent could not answer this message", detail=f"{exc} {exc.data}") from exc
            stop = str(getattr(response, "stop_reason", "end_turn") or "end_turn")
            return TurnOutcome("".join(turn.parts), stop)
        except AgentError as exc:
            exc.partial_text = "".join(turn.parts)  # type: ignore[attr-defined]
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
        """Send ``session/cancel`` (a notification); the running prompt then ends with ``cancelled``."""
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            await self._conn.cancel(session_id=session_id)


def _session_info(result: dict[str, Any], session_id: str | None) -> SessionInfo:
    sid = str(result.get("sessionId") or session_id or "")
    if not sid:
        raise AgentError("the agent opened a conversation without an id", detail=str(result)[:500])
    models = result.get("models") if isinstance(result.get("models"), dict) else {}
    assert isinstance(models, dict)
    available = models.get("availableModels") or []
    ids = tuple(str(m.get("modelId")) for m in available if isinstance(m, dict) and m.get("modelId"))
    current = models.get("currentModelId")
    return SessionInfo(sid, str(current) if current else None, ids)


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


async def kill_group(pgid: int, *, grace_s: float = 2.0, leader: asyncio.subprocess.Process | None = None) -> None:
    """SIGTERM a process group, wait up to ``grace_s`` seconds, then SIGKILL what is left.

    Refuses our own group. ``leader`` (our child) is reaped so it leaves no zombie.
    """
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
        if not _group_alive(pgid):
            break
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    if leader is not None and leader.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(leader.wait(), 2.0)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(…, 0) also succeeds for zombies; look for a live member.
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """PIDs of the live (non-zombie) processes in group ``pgid`` (from ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def process_home(pid: int) -> str | None:
    """The ``KIRO_HOME`` in the environment of process ``pid`` (``/proc/<pid>/environ``), or ``None``."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for item in raw.split(b"\0"):
        if item.startswith(b"KIRO_HOME="):
            return item[len(b"KIRO_HOME=") :].decode("utf-8", "replace")
    return None
