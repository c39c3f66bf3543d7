"""The ClawHub v1 read-only route table over a catalog folder, shared by ``kiroclaw hub serve`` (HTTP)
and by registry clients that read a catalog folder directly (``KIROHUB_REGISTRY_URL=file:///…``).

One table, so both transports answer the same ``GET api/v1/...`` requests with the same bytes and the
same errors (``kirohub-protocol.md`` §3, §11). Public through :class:`kiroclaw.LocalRegistry`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .catalog import DEFAULT_LIMIT, Catalog, CatalogError, CatalogZip


@dataclass(frozen=True)
class RegistryAnswer:
    """One answer: ``status`` (HTTP code), ``content_type``, ``body`` bytes, and for zips the file name
    and the ``(slug, version)`` downloaded (what ``kiroclaw hub serve`` counts)."""

    status: int
    content_type: str
    body: bytes
    filename: str | None = None
    downloaded: tuple[str, str] | None = None


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise CatalogError(400, f"Invalid {name}") from None


def _owner(query: Mapping[str, str]) -> str | None:
    return query.get("ownerHandle") or None


def _search(c: Catalog, m: re.Match[str], q: Mapping[str, str]) -> Any:
    mode = q.get("mode")
    if mode not in (None, "", "exact"):
        raise CatalogError(400, "Invalid mode")
    return c.search_response(q.get("q", ""), _int(q, "limit", DEFAULT_LIMIT), exact=mode == "exact")


def _list(c: Catalog, m: re.Match[str], q: Mapping[str, str]) -> Any:
    return c.list_response(_int(q, "limit", DEFAULT_LIMIT), q.get("prefix") or None)


def _skill(c: Catalog, m: re.Match[str], q: Mapping[str, str]) -> Any:
    return c.skill_response(unquote(m["slug"]), _owner(q))


def _versions(c: Catalog, m: re.Match[str], q: Mapping[str, str]) -> Any:
    return c.versions_response(unquote(m["slug"]), _owner(q), _int(q, "limit", DEFAULT_LIMIT))


def _version(c: Catalog, m: re.Match[str], q: Mapping[str, str]) -> Any:
    return c.version_response(unquote(m["slug"]), unquote(m["version"]), _owner(q))


def _resolve(c: Catalog, m: re.Match[str], q: Mapping[str, str]) -> Any:
    slug = q.get("slug")
    if not slug:
        raise CatalogError(400, "Missing slug")
    return c.resolve_response(slug, q.get("hash", ""), _owner(q))


def _download(c: Catalog, m: re.Match[str], q: Mapping[str, str]) -> Any:
    slug = q.get("slug")
    if not slug:
        raise CatalogError(400, "Missing slug")
    return c.zip_response(slug, q.get("version") or None, _owner(q), q.get("tag") or None)


Handler = Callable[[Catalog, "re.Match[str]", Mapping[str, str]], Any]

#: ``GET`` routes under the API base: (path pattern, handler). A zip handler returns a :class:`CatalogZip`.
ROUTES: tuple[tuple[re.Pattern[str], Handler], ...] = (
    (re.compile(r"api/v1/search"), _search),
    (re.compile(r"api/v1/skills"), _list),
    (re.compile(r"api/v1/skills/(?P<slug>[^/]+)"), _skill),
    (re.compile(r"api/v1/skills/(?P<slug>[^/]+)/versions"), _versions),
    (re.compile(r"api/v1/skills/(?P<slug>[^/]+)/versions/(?P<version>[^/]+)"), _version),
    (re.compile(r"api/v1/resolve"), _resolve),
    (re.compile(r"api/v1/download"), _download),
)


def answer(catalog: Catalog, path: str, query: Mapping[str, str]) -> RegistryAnswer:
    """Answer ``GET path?query``: ``path`` as sent, percent-encoded and without a leading ``/``
    (``api/v1/skills/weather-api``); segments are decoded after the route is matched, so an encoded ``/``
    stays inside its segment.

    Blocking (hashing, zipping): call it in a worker thread. Errors are answers too (plain text, the
    real server's wording), never exceptions.
    """
    try:
        for pattern, handler in ROUTES:
            match = pattern.fullmatch(path.strip("/"))
            if match is None:
                continue
            result = handler(catalog, match, query)
            if isinstance(result, CatalogZip):
                return RegistryAnswer(
                    200, "application/zip", result.data, result.filename, (result.slug, result.version)
                )
            return RegistryAnswer(200, "application/json", json.dumps(result).encode("utf-8"))
        raise CatalogError(404, "Not found")
    except CatalogError as exc:
        return RegistryAnswer(exc.status, "text/plain", exc.text.encode("utf-8"))


class LocalRegistry:
    """A ClawHub-v1 registry read straight from a catalog folder, for ``file:`` registry URLs.

    :param folder: the catalog folder (the layout ``kiroclaw hub serve`` serves).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._catalog = Catalog(folder)

    def get(self, path: str, query: Mapping[str, str]) -> RegistryAnswer:
        """The answer to ``GET path?query`` (see :func:`answer`). Blocking: run it in a worker thread."""
        return answer(self._catalog, path, query)
