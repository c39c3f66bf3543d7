"""The ``kiroclaw hub serve`` HTTP server: ClawHub v1 endpoints, read-only, over a catalog directory.

Routes (``kirohub-protocol.md`` §3, §11), all ``GET`` except telemetry:

* ``/.well-known/clawhub.json`` → ``{"apiBase", "registry", "authBase", "minCliVersion"}`` (discovery);
* ``/api/v1/search``, ``/api/v1/skills``, ``/api/v1/skills/{slug}``, ``/api/v1/skills/{slug}/versions``,
  ``/api/v1/skills/{slug}/versions/{version}``, ``/api/v1/resolve``, ``/api/v1/download``;
* ``POST /api/cli/telemetry/install`` → ``{"ok": true}`` (accepted and ignored, so logged-in CLIs are happy).

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

from .catalog import DEFAULT_LIMIT, Catalog, CatalogError

log = logging.getLogger(__name__)

CATALOG_KEY: web.AppKey[Catalog] = web.AppKey("catalog", Catalog)


def _int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise CatalogError(400, f"Invalid {name}") from None


def _json(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def _call(request: web.Request, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a catalog call in a worker thread; a :class:`CatalogError` it raises becomes the text response."""
    return await asyncio.to_thread(fn, *args, **kwargs)


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except CatalogError as exc:
        return web.Response(status=exc.status, text=exc.text, headers={"Cache-Control": "no-store"})


def _owner(request: web.Request) -> str | None:
    return request.query.get("ownerHandle") or None


async def well_known(request: web.Request) -> web.Response:
    base = str(request.url.origin())
    return _json({"apiBase": base, "authBase": base, "registry": base, "minCliVersion": "0.1.0"})


async def search(request: web.Request) -> web.Response:
    mode = request.query.get("mode")
    if mode not in (None, "", "exact"):
        raise CatalogError(400, "Invalid mode")
    catalog = request.app[CATALOG_KEY]
    body = await _call(
        request,
        catalog.search_response,
        request.query.get("q", ""),
        _int(request, "limit", DEFAULT_LIMIT),
        exact=mode == "exact",
    )
    return _json(body)


async def list_skills(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG_KEY]
    body = await _call(
        request, catalog.list_response, _int(request, "limit", DEFAULT_LIMIT), request.query.get("prefix") or None
    )
    return _json(body)


async def skill(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG_KEY]
    return _json(await _call(request, catalog.skill_response, request.match_info["slug"], _owner(request)))


async def versions(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG_KEY]
    body = await _call(
        request,
        catalog.versions_response,
        request.match_info["slug"],
        _owner(request),
        _int(request, "limit", DEFAULT_LIMIT),
    )
    return _json(body)


async def version(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG_KEY]
    body = await _call(
        request, catalog.version_response, request.match_info["slug"], request.match_info["version"], _owner(request)
    )
    return _json(body)


async def resolve(request: web.Request) -> web.Response:
    slug = request.query.get("slug")
    if not slug:
        raise CatalogError(400, "Missing slug")
    catalog = request.app[CATALOG_KEY]
    return _json(await _call(request, catalog.resolve_response, slug, request.query.get("hash", ""), _owner(request)))


async def download(request: web.Request) -> web.Response:
    slug = request.query.get("slug")
    if not slug:
        raise CatalogError(400, "Missing slug")
    catalog = request.app[CATALOG_KEY]
    filename, data = await _call(
        request,
        catalog.zip_response,
        slug,
        request.query.get("version") or None,
        _owner(request),
        request.query.get("tag") or None,
    )
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


async def telemetry(request: web.Request) -> web.Response:
    return _json({"ok": True})


def create_app(catalog_dir: Path) -> web.Application:
    """The aiohttp application serving ``catalog_dir`` (see module docstring for the routes)."""
    app = web.Application(client_max_size=64 * 1024, middlewares=[_errors])
    app[CATALOG_KEY] = Catalog(catalog_dir)
    app.router.add_get("/.well-known/clawhub.json", well_known)
    app.router.add_get("/.well-known/clawdhub.json", well_known)
    app.router.add_get("/api/v1/search", search)
    app.router.add_get("/api/v1/skills", list_skills)
    app.router.add_get("/api/v1/skills/{slug}", skill)
    app.router.add_get("/api/v1/skills/{slug}/versions", versions)
    app.router.add_get("/api/v1/skills/{slug}/versions/{version}", version)
    app.router.add_get("/api/v1/resolve", resolve)
    app.router.add_get("/api/v1/download", download)
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
