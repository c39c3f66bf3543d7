"""``kiroclaw run``: check the configuration, then run the Telegram bot by long polling or as a webhook.

Start-up names every missing or invalid setting at once, one line each (``BOT_TOKEN``, webhook settings…),
then asks the Bot API for ``getMe`` (a revoked token or no network is one line too) and exits with status 2
on any problem — all before aiogram is imported and before anything is created on disk.
``TELEGRAM_API_BASE`` points the bot at a local Bot API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

import click

from ..config import Settings, load_settings
from ..errors import ConfigError
from .preflight import check_bot_api
from .rates import parse_rate

log = logging.getLogger(__name__)

#: most updates handled at once (aiogram's ``tasks_concurrency_limit``): bounds memory under a flood.
MAX_CONCURRENT_UPDATES = 256
#: how long shutdown waits for updates still being handled, in seconds.
SHUTDOWN_GRACE_SECONDS = 10.0
_TOKEN = re.compile(r"^[0-9]{3,20}:[A-Za-z0-9_-]{20,}\Z")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}\Z")


def check_config(
    settings: Settings, *, webhook: bool = False, agent_and_workspace: bool = True
) -> tuple[list[str], list[str]]:
    """Check the bot's settings without connecting anywhere.

    :param agent_and_workspace: also check ``KIRO_CLI_PATH`` and ``WORKSPACE_BASE_PATH`` (``kiroclaw
        doctor`` passes ``False``: it checks both more deeply itself).
    :returns: (problems that stop start-up, warnings), one line each naming the environment variable.
    """
    problems: list[str] = []
    warnings: list[str] = []
    token = settings.bot_token.get_secret_value().strip() if settings.bot_token else ""
    if not token:
        problems.append("BOT_TOKEN is not set: create a bot with @BotFather (/newbot) and put its token in .env")
    elif not _TOKEN.match(token):
        problems.append("BOT_TOKEN does not look like a BotFather token (<digits>:<secret>)")
    try:
        parse_rate(settings.install_rate_limit)
    except ConfigError as exc:
        problems.append(exc.user_message)
    if settings.telegram_api_base:
        parsed = urlparse(settings.telegram_api_base)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            problems.append("TELEGRAM_API_BASE must be an http(s) URL such as http://127.0.0.1:8081")
    if webhook:
        if not settings.webhook_url:
            problems.append("WEBHOOK_URL is not set: the public https:// URL Telegram should post updates to")
        else:
            parsed = urlparse(settings.webhook_url)
            if parsed.scheme != "https" and not settings.telegram_api_base:
                problems.append("WEBHOOK_URL must start with https:// (Telegram delivers webhooks over HTTPS only)")
            if not parsed.netloc:
                problems.append("WEBHOOK_URL has no host name")
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        if not secret:
            problems.append("WEBHOOK_SECRET is not set: 1-256 characters of A-Z, a-z, 0-9, _ and -")
        elif not _SECRET.match(secret):
            problems.append("WEBHOOK_SECRET may only hold 1-256 characters of A-Z, a-z, 0-9, _ and -")
        if not 0 < settings.webhook_port < 65536:
            problems.append("WEBHOOK_PORT must be a TCP port (1-65535)")
    if not settings.allowed_telegram_ids:
        warnings.append(
            "ALLOWED_TELEGRAM_IDS is empty, so nobody may use the bot; anyone who writes to it is told their "
            "numeric id, which you can then add"
        )
    not_allowed = sorted(set(settings.admin_telegram_ids) - set(settings.allowed_telegram_ids))
    if not_allowed:
        warnings.append(f"ADMIN_TELEGRAM_IDS {', '.join(map(str, not_allowed))} are not in ALLOWED_TELEGRAM_IDS")
    if not agent_and_workspace:
        return problems, warnings
    cli_path = settings.kiro_cli_path
    if not shutil.which(cli_path):
        warnings.append(
            f"KIRO_CLI_PATH {cli_path!r} was not found: add-on commands work, chatting with the agent will not "
            "(run `kiroclaw doctor`)"
        )
    workspace_problem = _workspace_problem(settings.workspace_base_path)
    if workspace_problem:
        problems.append(workspace_problem)
    return problems, warnings


def _workspace_problem(path: Path) -> str | None:
    """Why ``WORKSPACE_BASE_PATH`` could not be used, checked without creating anything; ``None`` if fine."""
    path = path.expanduser().absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        return f"WORKSPACE_BASE_PATH {path} is not a folder"
    if not existing.is_dir():
        return f"WORKSPACE_BASE_PATH {path} cannot be created: {existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be created: {existing} is not writable"
        return f"WORKSPACE_BASE_PATH {path} {what}"
    return None


async def serve(
    settings: Settings,
    *,
    webhook: bool = False,
    stop: asyncio.Event | None = None,
    make_runtime: Callable[[Any], Any] | None = None,
    host: Any = None,
    worker: str | None = None,
) -> None:
    """Run the bot until a signal (or ``stop``) arrives; closes agents, sources and the HTTP session.

    :param make_runtime: builds the agent runtime from the host (default: the real ``AgentRuntime``; the
        playground passes its stand-in when kiro-cli is absent).
    :param host: a :class:`~kiroclaw.host.Host` built from ``settings`` already (default: a new one).
    :param worker: run as this routed worker (``REDIS_URL`` required): read updates from the worker's
        Redis stream (written by ``kiroclaw ingress``) instead of polling Telegram or listening for webhooks.
    """
    from ..host import Host
    from ..shared import load_scale_settings, open_state
    from .app import build_dispatcher, create_bot

    assert settings.bot_token is not None
    scale = load_scale_settings(**({"worker_name": worker} if worker else {}))
    state = open_state(scale)
    host = host if host is not None else Host(settings)
    await host.start()
    if make_runtime is None:
        from ..agent.runtime import AgentRuntime

        make_runtime = AgentRuntime
    runtime = make_runtime(host)
    dp = build_dispatcher(host, runtime, state=state)
    bot = create_bot(settings.bot_token.get_secret_value(), api_base=settings.telegram_api_base)
    async with contextlib.AsyncExitStack() as stack:
        try:
            if state.shared:
                await stack.enter_async_context(_shared_services(state, scale, dp, runtime))
            me = await bot.get_me()
            mode = f"worker {state.worker}" if worker else "webhook" if webhook else "long polling"
            click.echo(f"kiroclaw: bot @{me.username} ({mode})", err=True)
            if worker:
                await _serve_worker(state, scale, dp, bot, stop)
            elif webhook:
                await _serve_webhook(settings, dp, bot, stop)
            else:
                await bot.delete_webhook(drop_pending_updates=False)
                polling = asyncio.create_task(
                    dp.start_polling(
                        bot,
                        handle_signals=False,
                        close_bot_session=False,
                        tasks_concurrency_limit=MAX_CONCURRENT_UPDATES,
                    )
                )
                await _wait_for_stop(stop, polling)
                if not polling.done():
                    await dp.stop_polling()
                await polling
                await _drain(dp)
        finally:
            await runtime.aclose()
            await host.aclose()
            await bot.session.close()
    await state.aclose()


@contextlib.asynccontextmanager
async def _shared_services(state: Any, scale: Any, dp: Any, runtime: Any) -> AsyncIterator[None]:
    """Heartbeat, cross-worker cancels and rescue of dead workers' updates, for the ``async with`` body."""
    from ..shared.launch import share_agent_locks
    from ..shared.routing import Router, rescue_loop

    share_agent_locks(runtime, state)
    try:
        await state.clear_agents()
    except Exception as exc:
        log.warning("could not reset this worker's agent list: %s", exc)
    async with state.heartbeat(scale.heartbeat_interval_seconds):
        tasks = [
            asyncio.create_task(dp["runtime"].listen()),
            asyncio.create_task(
                rescue_loop(
                    Router(state, max_len=scale.stream_max_len),
                    interval_seconds=scale.heartbeat_interval_seconds,
                    min_idle_seconds=scale.reclaim_idle_seconds,
                )
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _serve_worker(state: Any, scale: Any, dp: Any, bot: Any, stop: asyncio.Event | None) -> None:
    """Handle the updates of this worker's stream until a signal; then drain (see :func:`consume`)."""
    from ..shared.routing import consume

    event = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, event.set)

    async def handle(update: dict[str, Any]) -> None:
        await dp.feed_raw_update(bot, update)

    await consume(state, handle, event, concurrency=MAX_CONCURRENT_UPDATES, grace_seconds=SHUTDOWN_GRACE_SECONDS)


async def _drain(dp: object, timeout_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
    """Let updates still being handled finish (a reply mid-stream gets sent), then cancel the rest.

    aiogram does not await its handler tasks when polling stops; it keeps them in a private set.
    """
    tasks = [t for t in getattr(dp, "_handle_update_tasks", ()) if not t.done()]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout_seconds)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
        log.warning("%d update handler(s) cancelled at shutdown", len(pending))


async def _wait_for_stop(stop: asyncio.Event | None, *tasks: asyncio.Task[object]) -> None:
    event = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, event.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    waiter = asyncio.create_task(event.wait())
    await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()


async def _serve_webhook(settings: Settings, dp: object, bot: object, stop: asyncio.Event | None) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    assert isinstance(dp, Dispatcher) and isinstance(bot, Bot)
    assert settings.webhook_url and settings.webhook_secret
    secret = settings.webhook_secret.get_secret_value()
    path = urlparse(settings.webhook_url).path or "/"
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(app, path=path)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    await bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=dp.resolve_used_update_types())
    click.echo(f"kiroclaw: webhook listening on {settings.webhook_host}:{settings.webhook_port}{path}", err=True)
    try:
        await _wait_for_stop(stop)
    finally:
        await runner.cleanup()


@click.command()
@click.option(
    "--webhook",
    is_flag=True,
    help="Receive updates by webhook (WEBHOOK_URL/HOST/PORT/SECRET) instead of long polling.",
)
@click.option(
    "--worker",
    metavar="NAME",
    help="Run as routed worker NAME (needs REDIS_URL): handle the updates `kiroclaw ingress` routes to it.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every update (DEBUG).")
def run(webhook: bool, worker: str | None, verbose: bool) -> None:
    """Run the Telegram bot (settings from .env: BOT_TOKEN, ALLOWED_TELEGRAM_IDS, ADMIN_TELEGRAM_IDS, ...).

    Before anything heavy is imported or created, every setting is checked and the Bot API is asked who the
    bot is; each problem is one line on stderr and the exit status is 2.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except ConfigError as exc:
        _cannot_start(exc.problems)
    problems, warnings = check_config(settings, webhook=webhook and not worker)
    if worker is not None:
        from ..shared import load_scale_settings

        if webhook:
            problems.append("--worker and --webhook exclude each other: the ingress receives the webhook")
        if not load_scale_settings().redis_url:
            problems.append("REDIS_URL is not set: a worker reads its updates from Redis (redis://host:port/db)")
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}\Z", worker):
            problems.append("--worker NAME may hold 1-64 letters, digits, '.', '_' and '-'")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if problems:
        _cannot_start(problems)
    from ..host import Host

    try:
        host = Host(settings)  # loads the plugins, which read and check their own settings
    except ConfigError as exc:
        _cannot_start(exc.problems)
    assert settings.bot_token is not None
    try:
        check_bot_api(settings.bot_token.get_secret_value().strip(), settings.telegram_api_base)
    except ConfigError as exc:
        if exc.detail:
            log.debug("Bot API check: %s", exc.detail)
        _cannot_start(exc.problems)
    asyncio.run(serve(settings, webhook=webhook, host=host, worker=worker))


def _cannot_start(problems: list[str]) -> NoReturn:
    """Print one ``error:`` line per problem and exit with status 2 (a configuration error)."""
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    sys.exit(2)
