"""The data of the ACP client (:mod:`kiroclaw.agent.acp_client`): streamed updates, permission requests,
launch specs, open sessions (``configOptions`` first, then the older ``models``/``modes`` fields) and the
errors a turn can end with."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import AgentError

UpdateKind = Literal["text", "thought", "tool_call", "tool_call_update"]

#: Environment variables the kiro flavor passes through (see ``plugins/kiroclaw_agent_kiro``).
PASSTHROUGH_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR", "TZ",
    "NO_COLOR", "KIRO_API_KEY", "KIRO_LOG_LEVEL", "KIRO_CHAT_LOG_FILE", "KIRO_LOG_NO_COLOR",
)  # fmt: skip


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
class PermissionRequest:
    """A tool call the agent wants to run (``session/request_permission``), for ``PERMISSION_POLICY=ask``.

    :ivar title: the tool call's title (a command line, a file name…).
    :ivar kind: the tool kind (``execute``, ``edit``, ``read``, ``fetch``… or ``other``).
    :ivar options: the agent's own options as ``(option_id, label, kind)``; kinds ``allow_once``,
        ``allow_always``, ``reject_once``, ``reject_always``.
    """

    title: str
    kind: str
    options: tuple[tuple[str, str, str], ...]


#: Awaited for each permission request under ``ask``: returns the chosen ``option_id`` or ``None`` (reject).
PermissionCallback = Callable[[PermissionRequest], Awaitable[str | None]]


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one agent process.

    :ivar argv: the command.
    :ivar env: the complete environment (not merged with ours).
    :ivar cwd: the thread folder (absolute).
    :ivar kiro_home: the flavor's per-user state folder (``KIRO_HOME`` for kiro).
    :ivar token: the reaper marker (``KIROCLAW_AGENT``) in ``env``; ``""`` = none.
    :ivar flavor: the flavor's name (for messages).
    :ivar auth_hint: what the operator must set when the agent asks for authentication.
    """

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    kiro_home: Path
    token: str = ""
    flavor: str = "kiro"
    auth_hint: str = "the agent's API key"


@dataclass(frozen=True)
class SessionInfo:
    """An open ACP session: its id, models and modes (from ``configOptions`` or the older fields).

    :ivar current_model: the current model id, or ``None`` when the agent reports none.
    :ivar models: the model ids the agent offers, in its order.
    :ivar model_option: the ``configOptions`` id of the model selector; ``""`` = legacy ``models`` field.
    :ivar modes: the mode ids the agent offers; :ivar current_mode: the current one.
    :ivar mode_option: the ``configOptions`` id of the mode selector; ``""`` = ``modes`` field.
    """

    session_id: str
    current_model: str | None = None
    models: tuple[str, ...] = ()
    model_option: str = ""
    modes: tuple[str, ...] = ()
    current_mode: str | None = None
    mode_option: str = ""


@dataclass(frozen=True)
class TurnOutcome:
    """What one ``session/prompt`` produced: the streamed text and the stop reason (``end_turn``…)."""

    text: str
    stop_reason: str


class SessionLockedError(AgentError):
    """``session/load`` refused: another process holds the session's lock file (``pid``)."""

    code = "agent_session_locked"

    def __init__(self, pid: int) -> None:
        super().__init__("this conversation is open in another agent process")
        self.pid = pid


class SessionLoadError(AgentError):
    """``session/load``/``resume`` failed for another reason (unknown id, corrupt files, unsupported)."""

    code = "agent_session_load"


class AgentDiedError(AgentError):
    """The agent process exited or closed its pipes mid-request."""

    code = "agent_died"


class TurnTimeoutError(AgentError):
    """The turn ran longer than ``AGENT_TURN_TIMEOUT_SECONDS``; it was cancelled and the agent restarted."""

    code = "agent_turn_timeout"


def build_env(kiro_home: Path, *, api_key: str | None = None, source: dict[str, str] | None = None) -> dict[str, str]:
    """The kiro flavor's environment: a few pass-through variables, ``XDG_*``, ``KIRO_HOME``."""
    src = dict(os.environ if source is None else source)
    env = {k: v for k, v in src.items() if k in PASSTHROUGH_ENV or k.startswith("XDG_")}
    env["KIRO_HOME"] = str(kiro_home)
    if api_key:
        env["KIRO_API_KEY"] = api_key
    return env


def process_home(pid: int) -> str | None:
    """The ``KIRO_HOME`` in the environment of process ``pid`` (``/proc/<pid>/environ``), or ``None``."""
    from .reaper import process_env

    return process_env(pid).get("KIRO_HOME")


#: The operator's fix of an agent that would not start for a reason ``kiroclaw doctor`` finds.
DOCTOR_FIX = "run `kiroclaw doctor` on the server: it starts the agent once and says what is wrong"


def install_fix(program: str, setting: str) -> str:
    """The operator's fix of a missing agent program: install it, or point ``setting`` at it."""
    how = "curl -fsSL https://cli.kiro.dev/install | bash" if program == "kiro-cli" else "see docs/agent.md"
    return f"install {program} ({how}) or point {setting} at it; `kiroclaw doctor` checks the set-up"


def auth_error(spec: LaunchSpec, detail: str) -> AgentError:
    """The error for ``auth_required``/401: one line for the user, the fix for the operator's log."""
    error = AgentError(
        "the agent isn't set up on this server yet (it has no valid API key)",
        detail=f"AGENT={spec.flavor} needs authentication: set {spec.auth_hint}. Agent said: {detail}",
        fix=f"set {spec.auth_hint}",
        server=True,
    )
    error.code = "agent_auth_required"
    return error


def with_changes(info: SessionInfo, **changes: Any) -> SessionInfo:
    """A copy of ``info`` with ``changes`` applied."""
    return replace(info, **changes)


def session_info(result: dict[str, Any], session_id: str | None) -> SessionInfo:
    """A :class:`SessionInfo` from a ``session/new``/``load``/``resume`` result (``configOptions`` first,
    then the older ``models``/``modes`` fields).

    :raises AgentError: no session id at all.
    """
    sid = str(result.get("sessionId") or session_id or "")
    if not sid:
        raise AgentError("the agent opened a conversation without an id", detail=str(result)[:500])
    values: dict[str, Any] = {}
    for option in result.get("configOptions") or []:
        if not isinstance(option, dict) or option.get("type", "select") != "select":
            continue
        category = option.get("category") or option.get("id")
        choices = tuple(_select_values(option.get("options")))
        current = option.get("currentValue")
        if category == "model" and "model_option" not in values:
            values.update(model_option=str(option["id"]), models=choices, current_model=current and str(current))
        elif category == "mode" and "mode_option" not in values:
            values.update(mode_option=str(option["id"]), modes=choices, current_mode=current and str(current))
    models = result.get("models")
    if "model_option" not in values and isinstance(models, dict):
        available = models.get("availableModels") or []
        ids = tuple(str(m["modelId"]) for m in available if isinstance(m, dict) and m.get("modelId"))
        current = models.get("currentModelId")
        values.update(models=ids, current_model=str(current) if current else None)
    modes = result.get("modes")
    if "mode_option" not in values and isinstance(modes, dict):
        ids = tuple(str(m["id"]) for m in modes.get("availableModes") or [] if isinstance(m, dict) and m.get("id"))
        current = modes.get("currentModeId")
        values.update(modes=ids, current_mode=str(current) if current else None)
    return SessionInfo(sid, **values)


def _select_values(options: Any) -> list[str]:
    out: list[str] = []
    for item in options or []:
        if isinstance(item, dict) and "value" in item:
            out.append(str(item["value"]))
        elif isinstance(item, dict) and isinstance(item.get("options"), list):  # a group
            out.extend(_select_values(item["options"]))
    return out
