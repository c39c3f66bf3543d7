"""``kiroclaw hub``: serve a catalog directory as a KiroHub (ClawHub v1) registry, publish skills into it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click


@click.group()
def hub() -> None:
    """Self-hosted KiroHub registry: serve a catalog, publish skills into it.

    A catalog is a folder laid out CATALOG_DIR/<slug>/<version>/SKILL.md (+ optional
    CATALOG_DIR/<slug>/skill.json). Clients point KIROHUB_REGISTRY_URL (or the clawhub CLI's
    CLAWHUB_REGISTRY) at the server, or KIROHUB_REGISTRY_URL=file:///path/to/catalog without a server.
    """


@hub.command()
@click.argument("catalog_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="0 = any free port.")
def serve(catalog_dir: Path, host: str, port: int) -> None:
    """Serve CATALOG_DIR until interrupted (Ctrl-C or SIGTERM); only download counts are written
    (CATALOG_DIR/.kirohub/)."""
    if not catalog_dir.is_dir():
        raise click.BadParameter(f"{catalog_dir} is not a directory", param_hint="CATALOG_DIR")
    asyncio.run(_serve(catalog_dir, host, port))


async def _serve(catalog_dir: Path, host: str, port: int) -> None:
    from .server import start_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner, url = await start_server(catalog_dir, host, port)
    try:
        print(f"KiroHub serving {catalog_dir} at {url}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


@hub.command()
@click.argument("skill_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--catalog", "catalog_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--version", "version", default=None, help="Semver to publish as (default: patch bump or 1.0.0).")
@click.option("--owner", default=None, help="Owner handle recorded in skill.json.")
@click.option("--changelog", default=None, help="Changelog text for this version.")
def publish(skill_dir: Path, catalog_dir: Path, version: str | None, owner: str | None, changelog: str | None) -> None:
    """Copy the skill in SKILL_DIR into the catalog as a new version."""
    from .publish import publish as do_publish

    result = do_publish(skill_dir, catalog_dir, version=version, owner=owner, changelog=changelog)
    click.echo(f"published {result.slug} {result.version}")
