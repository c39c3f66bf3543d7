"""``kiroclaw playground``: try the whole bot in a browser, without Telegram.

The real bot (aiogram, the same routers, the real host and add-on manager) long-polls a Bot API emulator
on 127.0.0.1 (:mod:`kiroclaw.playground.botapi`); a small web chat page (:mod:`kiroclaw.playground.web`)
lets you write as two demo users, send files, tap inline buttons and watch edits and streamed drafts. When
``KIRO_CLI_PATH`` is not found the agent is a stand-in (:mod:`kiroclaw.playground.standin`). The first
demo user (Alice, an admin) starts with the demo package installed; the second (Bob) starts empty and can
install it from its local folder. Nothing listens anywhere but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import click

#: the emulator's bot token (any ``<digits>:<secret>``; it never leaves this machine).
TOKEN = "100000:playground-token-not-a-secret"


def demo_package_path() -> Path:
    """The demo package shipped with KiroClaw (a copy of ``tests/fixtures/demo-package``)."""
    return Path(str(resources.files(__package__).joinpath("demo-package")))


async def run_playground(
    *,
    port: int = 0,
    workspace: Path | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Start the emulator, install the demo package for Alice, serve the page and run the bot until
    ``stop`` (or SIGINT/SIGTERM).

    :param port: the page's port on 127.0.0.1 (0 = a free one).
    :param workspace: where users' add-ons live (default: a temporary folder, removed at the end).
    :param on_ready: called with the page's URL once everything listens.
    """
    from ..bot.cli import serve
    from ..config import load_settings
    from ..host import Host
    from ..workspaces import Scope
    from .botapi import FakeTelegram, FakeUser
    from .standin import StandInRuntime
    from .web import PlaygroundPage

    alice, bob = FakeUser(1001, "Alice", "alice"), FakeUser(1002, "Bob", "bob")
    temporary = None if workspace is not None else tempfile.mkdtemp(prefix="kiroclaw-playground-")
    root = (workspace or Path(str(temporary))).absolute()
    demo = demo_package_path()
    fake = FakeTelegram(TOKEN, bot_username="kiroclaw_playground_bot")
    await fake.start()
    page: PlaygroundPage | None = None
    try:
        settings = load_settings(
            workspace_base_path=root / "workspaces",
            bot_token=TOKEN,
            telegram_api_base=fake.base,
            allowed_telegram_ids=[alice.id, bob.id],
            admin_telegram_ids=[alice.id],
            local_source_roots=[demo.parent],
        )
        host = Host(settings)
        await host.start()
        try:
            if not any(r.name == "demo-package" for r in host.addons.list(Scope.user(alice.id))):
                await host.addons.install(str(demo), Scope.user(alice.id))
        finally:
            await host.aclose()
        standin = shutil.which(settings.kiro_cli_path) is None
        agent_note = "stand-in agent (kiro-cli not found)" if standin else f"agent: {settings.kiro_cli_path}"
        notes = {alice.id: "admin, has the demo package", bob.id: "new user, nothing installed"}
        hint = f"Try: /start · /addon install {demo} · /skills · /recipe review/pr develop · {agent_note}"
        page = PlaygroundPage(fake, [alice, bob], notes, hint)
        url = await page.start(port)
        click.echo(f"KiroClaw playground: {url}  ({agent_note}; Ctrl-C stops it)", err=True)
        if on_ready is not None:
            on_ready(url)
        await serve(settings, stop=stop, make_runtime=StandInRuntime if standin else None)
    finally:
        if page is not None:
            await page.stop()
        await fake.stop()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


@click.command()
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="The page's port (0: any free one)."
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the users' add-ons in this folder (default: a temporary one, removed when it stops).",
)
def playground(port: int, workspace: Path | None) -> None:
    """Try the bot in a browser: the real bot against a local Bot API, with a web chat on 127.0.0.1."""
    asyncio.run(run_playground(port=port, workspace=workspace))
