"""``kiroclaw ingress``: the one Telegram consumer in front of the workers (``REDIS_URL`` required).

Long-polls ``getUpdates`` at ``TELEGRAM_API_BASE`` (default; Telegram allows one polling consumer per bot)
or receives Telegram's webhook (``--webhook``, with ``WEBHOOK_URL/HOST/PORT/SECRET``). Each update is
appended to the stream of its user's worker (:mod:`kiroclaw.shared.routing`) and only then acknowledged to
Telegram: the next ``getUpdates`` offset moves past it, or the webhook request gets its 200. While Redis is
down nothing is acknowledged, so Telegram keeps the updates (up to 24 hours) and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import sys
from typing import Any
from urllib.parse import urlparse

import click

from .routing import Router, rescue_loop
from .settings import ScaleSettings, load_scale_settings
from .state import StateUnavailableError

log = logging.getLogger(__name__)

#: seconds to wait before retrying when Redis or the Bot API is unreachable.
RETRY_SECONDS = 1.0


async def poll(settings: Any, scale: ScaleSettings, stop: asyncio.Event, *, poll_timeout: int = 25) -> int:
    """Long-poll the Bot API and append every update; returns how many were appended."""
    import aiohttp

    from .redis_state import RedisState

    assert scale.redis_url and settings.bot_token
    token = settings.bot_token.get_secret_value()
    base = (settings.telegram_api_base or "https://api.telegram.org").rstrip("/")
    state = RedisState(
        scale.redis_url,
        f"ingress-{scale.worker_name}",
        pool_size=scale.redis_pool_size,
        timeout_seconds=scale.redis_timeout_seconds,
    )
    router = Router(state, max_len=scale.stream_max_len)
    rescuer = asyncio.create_task(
        rescue_loop(
            router, interval_seconds=scale.heartbeat_interval_seconds, min_idle_seconds=scale.reclaim_idle_seconds
        )
    )
    appended = 0
    offset: int | None = None
    timeout = aiohttp.ClientTimeout(total=poll_timeout + 10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            with contextlib.suppress(Exception):
                await http.post(f"{base}/bot{token}/deleteWebhook", data={"drop_pending_updates": "false"})
            while not stop.is_set():
                params: dict[str, Any] = {"timeout": str(poll_timeout)}
                if offset is not None:
                    params["offset"] = str(offset)
                try:
                    getter = asyncio.ensure_future(http.post(f"{base}/bot{token}/getUpdates", data=params))
                    waiter = asyncio.ensure_future(stop.wait())
                    await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if not getter.done():
                        getter.cancel()
                        break
                    response = getter.result()
                    body = await response.json()
                except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                    log.warning("getUpdates failed (%s); retrying", exc)
                    await _sleep(stop, RETRY_SECONDS)
                    continue
                if not body.get("ok"):
                    log.warning("getUpdates refused: %s", body.get("description"))
                    await _sleep(stop, RETRY_SECONDS)
                    continue
                for update in body.get("result") or []:
                    # acknowledged to Telegram only by the next offset, i.e. after this append succeeded
                    while True:
                        try:
                            await router.append(update)
                            appended += 1
                            break
                        except StateUnavailableError as exc:
                            log.warning("cannot append update %s (%s); holding it", update.get("update_id"), exc.detail)
                            if stop.is_set():
                                return appended
                            await _sleep(stop, RETRY_SECONDS)
                    offset = int(update["update_id"]) + 1
            if offset is not None:  # confirm the last appended batch before leaving
                with contextlib.suppress(Exception):
                    await http.post(f"{base}/bot{token}/getUpdates", data={"offset": str(offset), "timeout": "0"})
    finally:
        rescuer.cancel()
        with contextlib.suppress(BaseException):
            await rescuer
        await state.aclose()
    return appended


async def serve_webhook(settings: Any, scale: ScaleSettings, stop: asyncio.Event) -> None:
    """Receive Telegram's webhook; answer 200 only after the update was appended (else 503: Telegram retries)."""
    import aiohttp
    from aiohttp import web

    from .redis_state import RedisState

    assert scale.redis_url and settings.bot_token and settings.webhook_url and settings.webhook_secret
    secret = settings.webhook_secret.get_secret_value()
    token = settings.bot_token.get_secret_value()
    base = (settings.telegram_api_base or "https://api.telegram.org").rstrip("/")
    state = RedisState(
        scale.redis_url,
        f"ingress-{scale.worker_name}",
        pool_size=scale.redis_pool_size,
        timeout_seconds=scale.redis_timeout_seconds,
    )
    router = Router(state, max_len=scale.stream_max_len)

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given, secret):
            return web.Response(status=401)
        try:
            update = json.loads(await request.read())
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return web.Response(status=400)
        except ValueError:
            return web.Response(status=400)
        try:
            await router.append(update)
        except StateUnavailableError as exc:
            log.warning("cannot append update %s (%s); Telegram will retry", update.get("update_id"), exc.detail)
            return web.Response(status=503)
        return web.Response(status=200)

    path = urlparse(settings.webhook_url).path or "/"
    app = web.Application(client_max_size=1 << 20)
    app.router.add_post(path, receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    rescuer = asyncio.create_task(
        rescue_loop(
            router, interval_seconds=scale.heartbeat_interval_seconds, min_idle_seconds=scale.reclaim_idle_seconds
        )
    )
    try:
        async with aiohttp.ClientSession() as http:
            await http.post(f"{base}/bot{token}/setWebhook", data={"url": settings.webhook_url, "secret_token": secret})
        click.echo(f"kiroclaw ingress: webhook on {settings.webhook_host}:{settings.webhook_port}{path}", err=True)
        await stop.wait()
    finally:
        rescuer.cancel()
        with contextlib.suppress(BaseException):
            await rescuer
        await runner.cleanup()
        await state.aclose()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


@click.command()
@click.option("--webhook", is_flag=True, help="Receive Telegram's webhook (WEBHOOK_*) instead of long polling.")
@click.option("--drain", "drain", metavar="WORKER", help="Move WORKER's users to other workers, then exit.")
@click.option("--undrain", "undrain", metavar="WORKER", help="Let WORKER take new users again, then exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log every update (DEBUG).")
def ingress(webhook: bool, drain: str | None, undrain: str | None, verbose: bool) -> None:
    """Receive Telegram updates and route each user's updates to their worker (needs REDIS_URL)."""
    from ..bot.cli import check_config
    from ..config import load_settings

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings()
    scale = load_scale_settings()
    if not scale.redis_url:
        click.echo(
            "kiroclaw ingress needs REDIS_URL (redis://host:port/db): the workers read their updates there", err=True
        )
        sys.exit(2)
    if drain or undrain:
        asyncio.run(_drain(scale, drain, undrain))
        return
    problems, warnings = check_config(settings, webhook=webhook)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if problems:
        click.echo("kiroclaw ingress cannot start; set these in .env or the environment:", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)

    async def main() -> None:
        stop = _stop_on_signals()
        if webhook:
            await serve_webhook(settings, scale, stop)
        else:
            await poll(settings, scale, stop)

    asyncio.run(main())


async def _drain(scale: ScaleSettings, drain: str | None, undrain: str | None) -> None:
    from .redis_state import RedisState

    assert scale.redis_url
    state = RedisState(scale.redis_url, "ingress-admin", timeout_seconds=scale.redis_timeout_seconds)
    try:
        router = Router(state)
        if drain:
            moved = await router.drain(drain)
            click.echo(f"worker {drain} is draining; {moved} user(s) moved")
        if undrain:
            await router.undrain(undrain)
            click.echo(f"worker {undrain} takes new users again")
    except StateUnavailableError as exc:
        click.echo(f"error: Redis is unreachable ({exc.detail})", err=True)
        sys.exit(1)
    finally:
        await state.aclose()
