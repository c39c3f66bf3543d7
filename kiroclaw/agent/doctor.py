"""``kiroclaw doctor``'s checks of the chosen agent flavor: its command, its API key, and a real ACP
``initialize`` handshake with the program (a throw-away state folder; nothing of any user is touched)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KiroclawError
from .flavors import BASE_ENV, AgentFlavor, FlavorCheck, command_for, pick_env

if TYPE_CHECKING:
    from ..config import Settings
    from .settings import AgentSettings

#: Variables of which at least one must reach the agent for it to authenticate, per built-in flavor.
KEY_NAMES = {
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "codex": ("OPENAI_API_KEY", "CODEX_API_KEY"),
    "gemini": ("GEMINI_API_KEY",),
}


def check_flavor(
    flavor: AgentFlavor, settings: Settings, agent_settings: AgentSettings, *, report_missing: bool = True
) -> list[FlavorCheck]:
    """Checks of one flavor: command found, key present (built-ins), ``initialize`` answered (≤ 30 s).

    :param report_missing: report a missing command (``False`` when another check already named it).
    :returns: one :class:`FlavorCheck` per line, in order; a missing command stops the list there.
    """
    checks: list[FlavorCheck] = []
    where = "AGENT_COMMAND" if agent_settings.agent_command else f"the {flavor.name} flavor's default command"
    try:
        argv = command_for(flavor, settings, agent_settings.agent_command)
    except KiroclawError as exc:
        if not report_missing:
            return []
        fix = f"install the {flavor.title or flavor.name} agent (docs/agent.md) or set AGENT_COMMAND"
        return [FlavorCheck(False, f"the agent program of AGENT={flavor.name} ({exc.detail or exc.user_message})", fix)]
    checks.append(FlavorCheck(True, f"AGENT={flavor.name}: {' '.join(argv)} ({where})"))
    names = (*BASE_ENV, *flavor.env_names, *agent_settings.agent_env_passthrough)
    passed = pick_env(names)
    keys = KEY_NAMES.get(flavor.name, ())
    if keys and not any(passed.get(k) for k in keys):
        checks.append(
            FlavorCheck(False, f"an API key for {flavor.name} ({' or '.join(keys)})", f"set {flavor.auth_hint}")
        )
    checks.extend(flavor.doctor(argv, settings))
    checks.append(asyncio.run(_handshake(flavor, argv, passed, settings)))
    return checks


async def _handshake(flavor: AgentFlavor, argv: list[str], passed: dict[str, str], settings: Settings) -> FlavorCheck:
    from .acp_client import AgentProcess, LaunchSpec

    with tempfile.TemporaryDirectory(prefix="kiroclaw-doctor-") as tmp:
        state = Path(tmp)
        env = {**passed, **flavor.fixed_env, "HOME": str(state) if flavor.own_home else passed.get("HOME", tmp)}
        if flavor.name == "kiro":
            env["KIRO_HOME"] = str(state / ".kiro")
        spec = LaunchSpec(tuple(argv), env, state, state, flavor=flavor.name, auth_hint=flavor.auth_hint)
        process = AgentProcess(spec, start_timeout_s=30.0)
        try:
            await process.start()
        except KiroclawError as exc:
            return FlavorCheck(
                False,
                f"an ACP handshake with the agent ({exc.user_message}: {exc.detail or ''})".strip(),
                f"run the command by hand to see why; {flavor.auth_hint}"
                if "auth" in exc.code
                else "check the agent's version (docs/agent.md lists known-good ones) and its stderr",
            )
        finally:
            await process.stop()
        info = process.init_result.get("agentInfo") or {}
        name = f"{info.get('name', '?')} {info.get('version', '')}".strip() if isinstance(info, dict) else "?"
        version = process.init_result.get("protocolVersion")
        return FlavorCheck(True, f"the agent answers ACP initialize: {name}, protocol v{version}")
