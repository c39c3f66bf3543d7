"""``kiroclaw ask`` (talk to a user's agent from the terminal) and ``kiroclaw doctor`` (check the set-up)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import click

from ..errors import KiroclawError
from ..workspaces import Scope


@click.command()
@click.option("--user", "user", required=True, help="Telegram user id whose agent to ask.")
@click.option("--thread", "thread", default=0, show_default=True, type=int, help="Thread (topic) id; 0 = none.")
@click.option("--new", "new_session", is_flag=True, help="Start a new conversation in the thread first.")
@click.option("--thoughts/--no-thoughts", default=False, help="Also show the agent's thoughts (stderr).")
@click.option("-v", "--verbose", is_flag=True, help="Also print the agent's own stderr (last lines) and error details.")
@click.argument("prompt", nargs=-1, required=True)
def ask(user: str, thread: int, new_session: bool, thoughts: bool, verbose: bool, prompt: tuple[str, ...]) -> None:
    """Send PROMPT to the user's agent and stream the reply (what the user's agent sees, for operators).

    The reply goes to stdout; tool calls go to stderr; files the agent sends are listed at the end. Under
    PERMISSION_POLICY=ask, tool permissions are asked on the terminal (rejected when stdin is no terminal).
    """
    from ..errors import AgentError
    from ..host import Host
    from .runtime import AgentRuntime, AgentUpdate, PermissionRequest

    scope = Scope.user(user)
    assert scope.user_id is not None
    text = " ".join(prompt)

    async def on_update(update: AgentUpdate) -> None:
        if update.kind == "text":
            click.echo(update.text, nl=False)
        elif update.kind == "thought" and thoughts:
            click.secho(update.text, err=True, dim=True)
        elif update.kind in ("tool_call", "tool_call_update") and update.title:
            click.secho(f"[{update.status or 'tool'}] {update.title}", err=True, dim=True)

    async def on_permission(request: PermissionRequest) -> str | None:
        if not sys.stdin.isatty():
            click.echo(f"[permission] {request.title} ({request.kind}): rejected (no terminal to ask)", err=True)
            return None
        choices = "\n".join(f"  {i + 1}) {name} [{kind}]" for i, (_, name, kind) in enumerate(request.options))
        click.echo(f"\n[permission] the agent wants to use: {request.title} ({request.kind})\n{choices}", err=True)
        picked = await asyncio.to_thread(
            click.prompt, "choice (empty = reject)", default="", show_default=False, err=True
        )
        index = int(picked) - 1 if str(picked).isdigit() else -1
        return request.options[index][0] if 0 <= index < len(request.options) else None

    def show_tail(tail: str) -> None:
        if verbose and tail:
            click.secho("--- agent stderr (last lines) ---\n" + tail, err=True, dim=True)

    async def main() -> int:
        host = Host.for_cli()
        await host.start()
        runtime = AgentRuntime(host)
        uid = scope.user_id
        assert uid is not None
        try:
            if new_session:
                await runtime.new_session(uid, thread)
            result = await runtime.prompt(uid, thread, text, on_update=on_update, on_permission=on_permission)
        except AgentError as exc:
            if verbose and exc.detail:
                click.echo(f"detail: {exc.detail}", err=True)
            show_tail(runtime.stderr_tail(uid, thread))
            raise
        finally:
            await runtime.aclose()
            await host.aclose()
        show_tail(runtime.stderr_tail(uid, thread))
        if result.text and not result.text.endswith("\n"):
            click.echo()
        for path in result.files:
            click.echo(f"file: {path}", err=True)
        if result.stop_reason != "end_turn":
            click.echo(f"(stopped: {result.stop_reason})", err=True)
        return 0

    sys.exit(asyncio.run(main()))


@click.command()
def doctor() -> None:
    """Check the chosen agent (AGENT: its program, key and an ACP handshake; for kiro-cli also its version
    and the agent template) and the workspace root; print fixes."""
    from ..config import load_settings
    from ..plugins import build_plugin_manager
    from .doctor import check_flavor
    from .flavors import choose_flavor
    from .settings import load_agent_settings

    problems = 0

    def ok(message: str) -> None:
        click.echo(f"ok    {message}")

    def bad(message: str, fix: str) -> None:
        nonlocal problems
        problems += 1
        click.echo(f"MISSING {message}\n      fix: {fix}")

    try:
        settings = load_settings()
        agent_settings = load_agent_settings()
        pm, plugins = build_plugin_manager(disabled=settings.kiroclaw_disable_plugins)
        flavor = choose_flavor(pm, agent_settings.agent, plugins)
    except KiroclawError as exc:
        bad(f"valid settings ({exc.user_message})", "correct the variables named above in the environment or .env")
        sys.exit(1)

    kiro = flavor.name == "kiro" and not agent_settings.agent_command
    if kiro:
        _check_kiro(settings, ok, bad)
    for check in check_flavor(flavor, settings, agent_settings, report_missing=not kiro):
        if check.ok:
            ok(check.message)
        else:
            bad(check.message, check.fix)

    # workspace root
    root = settings.workspace_base_path
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
        free_mb = shutil.disk_usage(root).free // (1024 * 1024)
        ok(f"workspace root {root.absolute()} is writable ({free_mb} MiB free)")
    except OSError as exc:
        bad(
            f"a writable workspace root ({root}: {exc.strerror})",
            "create the folder and give the bot's user write access, or set WORKSPACE_BASE_PATH",
        )
    else:
        # the GitHub source fetches into the workspace with git run from another folder
        from ..gitcheck import check_git_fetch

        try:
            ok(f"git fetch into the workspace works ({check_git_fetch(root)})")
        except KiroclawError as exc:
            bad(
                f"a working git fetch ({exc.user_message}: {exc.detail})",
                "install git (apt-get install git) and check the workspace root is writable",
            )

    from ..shared.launch import sandbox_checks  # launcher, caps and Redis (docs/scaling.md)

    for passed, message, fix in sandbox_checks(settings):
        ok(message) if passed else bad(message, fix)

    if problems:
        click.echo(f"{problems} problem(s) found")
        sys.exit(1)
    click.echo("everything needed is in place")


def _check_kiro(settings: Any, ok: Any, bad: Any) -> None:
    """kiro-cli's own checks: on PATH, version 2.10 or newer, the agent template."""
    from .home import AGENT_TEMPLATE, NO_INHERIT_SETTING, agent_name, packaged_template, template_root
    from .runtime import resolve_cli

    try:
        command = resolve_cli(settings.kiro_cli_path)
    except KiroclawError:
        bad(
            f"kiro-cli ({settings.kiro_cli_path!r} is not on PATH or not executable)",
            "install it: curl -fsSL https://cli.kiro.dev/install | bash  (or set KIRO_CLI_PATH)",
        )
    else:
        try:
            out = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=20, check=False)
            version = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""
            if out.returncode == 0 and version:
                ok(f"kiro-cli {command}: {version}")
                if not _version_at_least(version, (2, 10)):
                    bad(
                        f"kiro-cli 2.10 or newer (found {version!r}; per-user skill isolation needs "
                        f"{NO_INHERIT_SETTING})",
                        "update it: kiro-cli update",
                    )
            else:
                bad(
                    f"a working kiro-cli ({command} --version exited {out.returncode})",
                    "reinstall kiro-cli or point KIRO_CLI_PATH at a working one",
                )
        except (OSError, subprocess.TimeoutExpired) as exc:
            bad(f"a working kiro-cli ({exc})", "reinstall kiro-cli or point KIRO_CLI_PATH at a working one")
        if not (os.environ.get("KIRO_API_KEY") or settings.kiro_api_key):
            click.echo("note  KIRO_API_KEY is not set: kiro-cli must be logged in (kiro-cli login) as this user")

    # template
    template = template_root(settings)
    where = "KIRO_CONFIG_PATH" if settings.kiro_config_path else "the packaged template"
    try:
        agent_name(settings)
    except KiroclawError as exc:
        bad(exc.user_message, "set KIRO_AGENT_NAME to letters, digits, _ . - only")
    if not template.is_dir():
        bad(
            f"agent template folder ({where}: {template})",
            f"create it (copy {packaged_template()}) or unset KIRO_CONFIG_PATH",
        )
    else:
        import json

        agent_file = template / AGENT_TEMPLATE
        try:
            loaded = json.loads(agent_file.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            ok(f"agent template {agent_file}")
        except FileNotFoundError:
            bad(f"{AGENT_TEMPLATE} in the template ({template})", f"copy {packaged_template() / AGENT_TEMPLATE}")
        except ValueError as exc:
            bad(f"valid JSON in {agent_file} ({exc})", "fix the file's JSON")
        settings_file = template / "settings" / "cli.json"
        if settings_file.is_file():
            ok(f"template settings {settings_file} (provisioning forces {NO_INHERIT_SETTING}=true)")
        else:
            click.echo(f"note  {settings_file} is missing; provisioning writes {NO_INHERIT_SETTING}=true alone")


def _version_at_least(text: str, minimum: tuple[int, int]) -> bool:
    import re

    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return True  # unknown format: do not cry wolf
    return (int(match.group(1)), int(match.group(2))) >= minimum


__all__ = ["ask", "doctor"]
