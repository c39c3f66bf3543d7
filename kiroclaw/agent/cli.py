"""``kiroclaw ask`` (talk to a user's agent from the terminal) and ``kiroclaw doctor`` (check the set-up)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
def doctor(as_json: bool) -> None:
    """Check the set-up and print each problem's fix: settings, the bot (BOT_TOKEN, the allowlist, the
    Bot API's getMe), the chosen agent (AGENT: its program, version, key, template and an ACP handshake),
    the workspace (absolute, writable), git, the registry, the launcher and caps. Exit status 1 on a problem."""
    import json

    from .. import doctor as checks_of

    checks = _collect()
    if as_json:
        click.echo(json.dumps(checks_of.as_json(checks), indent=2, ensure_ascii=False))
    else:
        for line in checks_of.render(checks):
            click.echo(line)
    if not all(check.ok for check in checks):
        sys.exit(1)


def _collect() -> list[Any]:
    """Every check of ``kiroclaw doctor``, in order (see :mod:`kiroclaw.doctor`)."""
    from .. import doctor as d
    from ..config import load_settings
    from ..errors import ConfigError
    from .doctor import agent_checks
    from .settings import load_agent_settings

    try:
        settings = load_settings()
        agent_settings = load_agent_settings()
    except ConfigError as exc:
        return d.settings_problems(exc)
    checks = d.bot_checks(settings)
    checks += agent_checks(settings, agent_settings)
    checks += d.workspace_checks(settings)
    checks += d.source_checks(settings)
    from ..shared.launch import sandbox_checks  # launcher, caps and Redis (docs/scaling.md)

    for passed, message, fix in sandbox_checks(settings):
        checks.append(d.ok("sandbox", message) if passed else d.problem("sandbox", message, fix))
    return checks


__all__ = ["ask", "doctor"]
