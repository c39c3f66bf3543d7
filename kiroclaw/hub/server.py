"""The ``kiroclaw hub serve`` HTTP server: ClawHub v1 endpoints, read-only, over a catalog directory.

Routes (``kirohub-protocol.md`` §3, §11), all ``GET`` except telemetry:

* ``/.well-known/clawhub.json`` → ``{"apiBase", "registry", "authBase", "minCliVersion"}`` (discovery);
* ``/api/v1/search``, ``/api/v1/skills``, ``/api/v1/skills/{slug}``, ``/api/v1/skills/{slug}/versions``,
  ``/api/v1/skills/{slug}/versions/{version}``, ``/api/v1/resolve``, ``/api/v1/download``;
* ``POST /api/cli/telemetry/install`` → ``{"ok": true}`` (accepted and ignored, so logged-in CLIs are happy).

Each zip served counts one download of its skill and version (:mod:`kiroclaw.hub.stats`, kept in
``CATALOG_DIR/.kirohub/``), reported back as ``stats.downloads`` and on search rows.

JSON answers carry ``Cache-Control: no-store``; errors are plain text with the real server's wording.
Catalog reads run in a worker thread so hashing never blocks the event loop. aiohttp is imported here
only; this module is loaded by ``kiroclaw hub serve`` and tests, never by the CLI's other commands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .catalog import Catalog, CatalogError
from .routes import answer

log = logging.getLogger(__name__)

CATALOG_KEY: web.AppKey[Catalog] = web.AppKey("catalog", Catalog)


def _json(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except CatalogError as exc:
        return web.Response(status=exc.status, text=exc.text, headers={"Cache-Control": "no-store"})


async def well_known(request: web.Request) -> web.Response:
    base = str(request.url.origin())
    return _json({"apiBase": base, "authBase": base, "registry": base, "minCliVersion": "0.1.0"})


async def api(request: web.Request) -> web.Response:
    """Every ``GET /api/v1/...`` route, answered from the shared table (:mod:`kiroclaw.hub.routes`)."""
    path = request.raw_path.split("?", 1)[0].lstrip("/")  # still percent-encoded: see routes.answer
    catalog = request.app[CATALOG_KEY]
    result = await asyncio.to_thread(answer, catalog, path, request.query)
    if result.downloaded is not None:  # one served download of this exact version
        await asyncio.to_thread(catalog.downloads.record, *result.downloaded)
    headers = {"Cache-Control": "no-store"}
    if result.filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    if result.content_type == "text/plain":
        return web.Response(status=result.status, text=result.body.decode("utf-8"), headers=headers)
    return web.Response(status=result.status, body=result.body, content_type=result.content_type, headers=headers)


async def telemetry(request: web.Request) -> web.Response:
    return _json({"ok": True})


def create_app(catalog_dir: Path) -> web.Application:
    """The aiohttp application serving ``catalog_dir`` (see module docstring for the routes)."""
    app = web.Application(client_max_size=64 * 1024, middlewares=[_errors])
    app[CATALOG_KEY] = Catalog(catalog_dir)

    async def close_counts(app: web.Application) -> None:
        app[CATALOG_KEY].downloads.close()

    app.on_cleanup.append(close_counts)
    app.router.add_get("/.well-known/clawhub.json", well_known)
    app.router.add_get("/.well-known/clawdhub.json", well_known)
    app.router.add_get("/api/v1/{tail:.*}", api)
    app.router.add_post("/api/cli/telemetry/install", telemetry)
    return app


async def start_server(catalog_dir: Path, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Start serving ``catalog_dir`` on ``host:port`` (``port=0``: a free port).

    :returns: the runner (``await runner.cleanup()`` stops it) and the base URL ``http://host:port``.
    """
    runner = web.AppRunner(create_app(catalog_dir), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    for address in runner.addresses:
        bound = address[1]
        break
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}"
