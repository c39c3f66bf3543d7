"""``kiroclaw doctor``'s checks of the chosen agent flavor: its command, its API key, and a real ACP
``initialize`` handshake with the program (a throw-away state folder; nothing of any user is touched);
for kiro-cli also its version (2.10 or newer; a program that prints no version is reported as that) and
the agent template."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KiroclawError
from .flavors import BASE_ENV, AgentFlavor, FlavorCheck, command_for, pick_env

if TYPE_CHECKING:
    from ..config import Settings
    from ..doctor import Check
    from .settings import AgentSettings

#: Seconds ``kiro-cli --version`` may take.
VERSION_TIMEOUT_SECONDS = 20.0


def agent_checks(settings: Settings, agent_settings: AgentSettings) -> list[Check]:
    """The ``agent`` lines of ``kiroclaw doctor``: kiro-cli's own checks when it is the agent (no
    ``AGENT_COMMAND``), then the chosen flavor's (:func:`check_flavor`)."""
    from ..doctor import ok, problem
    from ..plugins import build_plugin_manager
    from .flavors import choose_flavor

    try:
        pm, plugins = build_plugin_manager(disabled=settings.kiroclaw_disable_plugins)
        flavor = choose_flavor(pm, agent_settings.agent, plugins)
    except KiroclawError as exc:
        return [problem("agent", f"the agent flavor ({exc.user_message})", exc.fix or "set AGENT to a registered one")]
    kiro = flavor.name == "kiro" and not agent_settings.agent_command
    checks = kiro_checks(settings) if kiro else []
    for check in check_flavor(flavor, settings, agent_settings, report_missing=not kiro):
        checks.append(ok("agent", check.message) if check.ok else problem("agent", check.message, check.fix))
    return checks


def kiro_checks(settings: Settings) -> list[Check]:
    """kiro-cli's own checks: on PATH, a version line for ``--version`` (2.10 or newer), the API key or a
    login, the agent template."""
    from ..doctor import note, problem
    from .runtime import resolve_cli

    checks: list[Check] = []
    try:
        command = resolve_cli(settings.kiro_cli_path)
    except KiroclawError:
        checks.append(
            problem(
                "agent",
                f"kiro-cli ({settings.kiro_cli_path!r} is not on PATH or not executable)",
                "install it: curl -fsSL https://cli.kiro.dev/install | bash  (or set KIRO_CLI_PATH)",
            )
        )
    else:
        checks += _kiro_version(command)
        if not (os.environ.get("KIRO_API_KEY") or settings.kiro_api_key):
            checks.append(
                note("agent", "KIRO_API_KEY is not set: kiro-cli must be logged in (kiro-cli login) as this user")
            )
    return checks + _template_checks(settings)


def _kiro_version(command: str) -> list[Check]:
    from ..doctor import ok, problem
    from .home import NO_INHERIT_SETTING

    reinstall = "reinstall kiro-cli or point KIRO_CLI_PATH at a working one"
    try:
        out = subprocess.run(
            [command, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [problem("agent", f"a working kiro-cli ({exc})", reinstall)]
    text = (out.stdout or "").strip() or (out.stderr or "").strip()
    version = text.splitlines()[0] if text else ""
    if out.returncode != 0:
        said = f": {version}" if version else ""
        return [problem("agent", f"a working kiro-cli ({command} --version exited {out.returncode}{said})", reinstall)]
    if not version:
        return [
            problem(
                "agent",
                f"a kiro-cli that says its version ({command} --version printed nothing)",
                "point KIRO_CLI_PATH at kiro-cli itself (not a wrapper or another program), or reinstall kiro-cli",
            )
        ]
    checks = [ok("agent", f"kiro-cli {command}: {version}")]
    if not _version_at_least(version, (2, 10)):
        checks.append(
            problem(
                "agent",
                f"kiro-cli 2.10 or newer (found {version!r}; per-user skill isolation needs {NO_INHERIT_SETTING})",
                "update it: kiro-cli update",
            )
        )
    return checks


def _template_checks(settings: Settings) -> list[Check]:
    import json

    from ..doctor import note, ok, problem
    from .home import AGENT_TEMPLATE, NO_INHERIT_SETTING, agent_name, packaged_template, template_root

    checks: list[Check] = []
    template = template_root(settings)
    where = "KIRO_CONFIG_PATH" if settings.kiro_config_path else "the packaged template"
    try:
        agent_name(settings)
    except KiroclawError as exc:
        checks.append(problem("agent", exc.user_message, "set KIRO_AGENT_NAME to letters, digits, _ . - only"))
    if not template.is_dir():
        checks.append(
            problem(
                "agent",
                f"agent template folder ({where}: {template})",
                f"create it (copy {packaged_template()}) or unset KIRO_CONFIG_PATH",
            )
        )
        return checks
    agent_file = template / AGENT_TEMPLATE
    try:
        loaded = json.loads(agent_file.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError("not a JSON object")
        checks.append(ok("agent", f"agent template {agent_file}"))
    except FileNotFoundError:
        checks.append(
            problem(
                "agent",
                f"{AGENT_TEMPLATE} in the template ({template})",
                f"copy {packaged_template() / AGENT_TEMPLATE}",
            )
        )
    except ValueError as exc:
        checks.append(problem("agent", f"valid JSON in {agent_file} ({exc})", "fix the file's JSON"))
    settings_file = template / "settings" / "cli.json"
    if settings_file.is_file():
        checks.append(ok("agent", f"template settings {settings_file} (provisioning forces {NO_INHERIT_SETTING}=true)"))
    else:
        checks.append(note("agent", f"{settings_file} is missing; provisioning writes {NO_INHERIT_SETTING}=true alone"))
    return checks


def _version_at_least(text: str, minimum: tuple[int, int]) -> bool:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return True  # unknown format: do not cry wolf
    return (int(match.group(1)), int(match.group(2))) >= minimum


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
        if not (isinstance(info, dict) and info.get("version")):
            name += " (it reports no version)"
        version = process.init_result.get("protocolVersion")
        return FlavorCheck(True, f"the agent answers ACP initialize: {name}, protocol v{version}")
