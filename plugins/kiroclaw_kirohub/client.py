"""Talking to a ClawHub-v1 registry: HTTP (aiohttp) or a local catalog directory (``file:`` URL).

Both transports answer the same requests (``api/v1/...`` path + query) with the same bytes, so the
source validates and size-caps one way. Rules for HTTP (``kirohub-protocol.md`` §1–§2):

* base URL: ``KIROHUB_SITE``'s ``/.well-known/clawhub.json`` (``apiBase`` or ``registry``) when that
  setting is given, else ``KIROHUB_REGISTRY_URL``; endpoints are joined under its path;
* ``Authorization: Bearer <KIROHUB_TOKEN>`` when a token is set; ``Accept: application/json``;
* every attempt has a timeout (``KIROHUB_TIMEOUT_SECONDS``; downloads also get
  ``DOWNLOAD_TOTAL_TIMEOUT_SECONDS`` overall); 408, 429, 5xx, timeouts and connection errors are retried
  ``KIROHUB_RETRIES`` times with exponential backoff (300 ms·2^n, capped at 5 s, plus jitter), waiting
  ``Retry-After`` instead when the registry sends one, unless it asks for more than
  :data:`MAX_RETRY_AFTER_SECONDS` (then we give up at once and say when to retry);
* bodies are read with a byte cap (:data:`MAX_JSON_BYTES` for JSON, the add-on size cap for zips);
* error bodies are plain text (shown shortened and stripped of control characters).

aiohttp is imported inside the functions that use it, so loading the plugin stays cheap.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from kiroclaw import (
    KiroclawError,
    LimitExceededError,
    NotFoundError,
    PolicyBlockedError,
    SourceError,
    check_url,
    plugin_settings,
    system_resolver,
    vet_host,
)

from .schemas import WellKnown

if TYPE_CHECKING:
    from kiroclaw import HostResolver, LocalRegistry, Settings

M = TypeVar("M", bound=BaseModel)

#: Largest JSON response we read, in bytes.
MAX_JSON_BYTES = 2 * 1024 * 1024
#: Longest ``Retry-After`` we honour by waiting, in seconds; longer requests fail at once.
MAX_RETRY_AFTER_SECONDS = 10.0
#: Longest error text shown to the user, in characters.
MAX_ERROR_TEXT = 160
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))


def clean_text(raw: bytes | str, limit: int = MAX_ERROR_TEXT) -> str:
    """First line of an untrusted error body: printable characters only, at most ``limit`` characters."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = "".join(c for c in line if c.isprintable())
    return line[:limit] + ("…" if len(line) > limit else "")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait (delta seconds or an HTTP date); ``None`` if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def backoff_seconds(attempt: int) -> float:
    """Wait before retry number ``attempt`` (1-based): 300 ms·2^(n-1) capped at 5 s, plus ≤300 ms jitter."""
    return float(min(0.3 * 2 ** (attempt - 1), 5.0) + random.uniform(0, 0.3))


class StatusError(Exception):
    """A non-2xx answer (after retries): ``status``, the cleaned plain-text ``text`` and the ``url`` asked
    (``""`` for a local catalog)."""

    def __init__(self, status: int, text: str, retry_after: float | None = None, *, url: str = "") -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text
        self.retry_after = retry_after
        self.url = url


def status_error(exc: StatusError, what: str, registry: str) -> Exception:
    """Turn a registry status into the KiroClaw error the user sees (one line, no secrets); its ``detail``
    is ``HTTP <status> <url>: <text>`` (``-v`` and the log).

    :param what: the thing asked for (``weather-api``, ``weather-api 1.2.0``, ``search``).
    :param registry: how to name the registry (host, never credentials).
    """
    error = _status_error(exc, what, registry)
    if isinstance(error, KiroclawError):
        error.detail = " ".join(f"HTTP {exc.status} {exc.url}".split()) + (f": {exc.text}" if exc.text else "")
    return error


def _status_error(exc: StatusError, what: str, registry: str) -> Exception:
    status, text = exc.status, exc.text
    detail = f": {text}" if text else ""
    if status == 404:
        return NotFoundError(f"{what} was not found in the registry {registry}{detail}")
    if status == 410:
        return SourceError(f"{what} was removed from the registry {registry} (HTTP 410){detail}")
    if status == 403 and text.lower().startswith("blocked"):
        return PolicyBlockedError(f"{what} is blocked by the registry{detail}")
    if status in (401, 403):
        return SourceError(
            f"the registry {registry} refused access (HTTP {status}){detail}",
            fix="check KIROHUB_TOKEN (a token the registry accepts, or none for a public registry)",
            server=True,
        )
    if status == 409:
        return SourceError(f"{what} is ambiguous in the registry {registry}; name it as @owner/slug{detail}")
    if status == 423:
        return SourceError(f"{what} is waiting for a security review in the registry {registry}; try later")
    if status == 429:
        when = f"; try again in {round(exc.retry_after)} s" if exc.retry_after else "; try again later"
        return SourceError(f"the registry {registry} is rate-limiting requests{when}")
    if status == 408 or status >= 500:
        return SourceError(
            f"the registry {registry} is unavailable (HTTP {status}); installed add-ons keep working, try later"
        )
    return SourceError(f"the registry {registry} answered HTTP {status}{detail}")


class Connection(Protocol):
    """One open connection to a registry (a session for HTTP, the catalog for ``file:``)."""

    async def get(self, path: str, params: Mapping[str, str], *, max_bytes: int, sink: Path | None = None) -> bytes:
        """GET ``path`` (``api/v1/...``) and return its body, or stream it into ``sink`` (returns ``b""``).

        :raises StatusError: non-2xx after retries.
        :raises LimitExceededError: the body is larger than ``max_bytes``.
        :raises SourceError: the registry is unreachable, timed out, or sent an invalid answer.
        """
        ...


class RegistryClient:
    """Registry access for the ``kirohub`` source, with a TTL cache for search and info answers.

    :param settings: ``KIROHUB_REGISTRY_URL``, ``KIROHUB_SITE``, ``KIROHUB_TOKEN``,
        ``KIROHUB_TIMEOUT_SECONDS``, ``KIROHUB_RETRIES``, ``KIROHUB_CACHE_TTL_SECONDS`` and
        ``DOWNLOAD_TOTAL_TIMEOUT_SECONDS`` are read.
    """

    def __init__(self, settings: Settings, *, cache_entries: int = 256, resolver: HostResolver | None = None) -> None:
        from .settings import KirohubSettings

        self.core = settings
        self.settings = plugin_settings(KirohubSettings, settings)
        self.timeout_seconds = self.settings.timeout_seconds
        self.retries = self.settings.retries
        self.cache_ttl_seconds = self.settings.cache_ttl_seconds
        self._cache: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._cache_entries = cache_entries
        self._discovered: str | None = None
        #: DNS resolver vetting every host the registry sends us to (redirects, discovery); tests fake it.
        self.resolver: HostResolver = resolver or system_resolver
        self._catalog: LocalRegistry | None = None
        self._catalog_url: str | None = None

    # --- naming -------------------------------------------------------------------------------

    @property
    def registry_url(self) -> str:
        """The registry base URL in use (discovered from ``KIROHUB_SITE`` once discovery ran)."""
        return self._discovered or self.settings.registry_url

    @property
    def display(self) -> str:
        """How messages name the registry: ``host[:port]`` (no credentials, no paths), or ``(local catalog)``."""
        url = self.registry_url if not self.settings.site or self._discovered else self.settings.site
        parts = urlsplit(url)
        if parts.scheme == "file":
            return "(local catalog)"
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "(unnamed)"

    @property
    def origin_url(self) -> str:
        """The registry URL recorded in installed add-ons (credentials removed)."""
        parts = urlsplit(self.registry_url)
        if parts.username or parts.password:
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            return parts._replace(netloc=netloc).geturl()
        return self.registry_url

    # --- cache --------------------------------------------------------------------------------

    def cached(self, key: tuple[Any, ...]) -> Any | None:
        """A cached value younger than the TTL, or ``None``."""
        entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._cache.pop(key, None)
            return None
        return entry[1]

    def remember(self, key: tuple[Any, ...], value: Any) -> None:
        if self.cache_ttl_seconds <= 0:
            return
        self._cache[key] = (time.monotonic() + self.cache_ttl_seconds, value)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        self._cache.clear()

    # --- connections --------------------------------------------------------------------------

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        """Open a connection for one operation (a fresh aiohttp session, or the local catalog).

        :raises SourceError: the registry URL is not ``http(s)://`` or ``file:``, or site discovery failed.
        """
        discovering = bool(self.settings.site) and not self._discovered
        base = self.settings.site or "" if discovering else self.registry_url
        scheme = urlsplit(base).scheme.lower()
        if scheme == "file":
            yield _FileConnection(self._local_catalog(base))
            return
        if scheme not in ("http", "https"):
            raise SourceError(
                "the registry is not set up on this server",
                detail=f"KIROHUB_REGISTRY_URL {self.display} is not an http(s):// or file: URL",
                fix="set KIROHUB_REGISTRY_URL to an http(s):// URL or a file: URL of a catalog folder",
                server=True,
            )
        import aiohttp

        headers = {"Accept": "application/json", "User-Agent": "kiroclaw-kirohub/1"}
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
        async with aiohttp.ClientSession(headers=headers) as session:
            if self.settings.site and not self._discovered:
                self._discovered = await self._discover(session, self.settings.site)
            yield _HttpConnection(self, session, self.registry_url)

    def _local_catalog(self, url: str) -> LocalRegistry:
        if self._catalog is None or self._catalog_url != url:
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                raise SourceError(
                    "the registry is not set up on this server",
                    fix="a file: KIROHUB_REGISTRY_URL must name a local folder (file:///path/to/catalog)",
                    server=True,
                )
            folder = Path(unquote(parts.path))
            if not folder.is_dir():
                raise SourceError(
                    "the registry is not set up on this server (its catalog folder does not exist)",
                    detail=str(folder),
                    fix="create the catalog folder or correct KIROHUB_REGISTRY_URL",
                    server=True,
                )
            from kiroclaw import LocalRegistry  # the catalog code loads only for file: registries

            self._catalog, self._catalog_url = LocalRegistry(folder), url
        return self._catalog

    async def _discover(self, session: Any, site: str) -> str:
        """Base URL from ``<site>/.well-known/clawhub.json`` (then ``clawdhub.json``), protocol §1."""
        last: Exception | None = None
        for name in ("clawhub.json", "clawdhub.json"):
            conn = _HttpConnection(self, session, site)
            try:
                body = await conn.get(f".well-known/{name}", {}, max_bytes=64 * 1024)
                found = parse_model(WellKnown, body, "discovery", self.display)
            except (StatusError, SourceError) as exc:
                last = exc
                continue
            base = found.apiBase or found.registry
            if base and urlsplit(base).scheme in ("http", "https"):
                await self.vet(base, trusted=site)
                return base
        raise SourceError(
            f"could not discover the registry from {self.display}: no usable /.well-known/clawhub.json",
            detail=str(last) if last is not None else None,
            fix="correct KIROHUB_SITE, or unset it and set KIROHUB_REGISTRY_URL",
            server=True,
        ) from last

    async def vet(self, url: str, *, trusted: str) -> None:
        """The SSRF guard for a URL the registry (not the admin) chose: a redirect hop or a discovered
        ``apiBase``. The admin's own origin (``trusted``: scheme, host and port) passes; anything else must
        pass :func:`kiroclaw.check_url` (https, default ports, no credentials) and resolve only to public
        addresses (:func:`kiroclaw.vet_host`), unless the host is in ``URL_ALLOW_PRIVATE_HOSTS``.

        :raises SpecError | UnsafeContentError: the URL is not allowed.
        """
        if _origin(url) == _origin(trusted):
            return
        checked = check_url(url, self.core)
        await vet_host(checked, self.resolver)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower().rstrip("."), port


def parse_model(model: type[M], body: bytes, what: str, registry: str) -> M:
    """Validate a JSON body against ``model``.

    :raises SourceError: not JSON, or not the shape the ClawHub v1 API defines.
    """
    try:
        return model.model_validate(json.loads(body))
    except (ValueError, PydanticValidationError, RecursionError) as exc:
        raise SourceError(f"the registry {registry} sent an invalid answer for {what}", detail=str(exc)[:2000]) from exc


class _HttpConnection:
    def __init__(self, client: RegistryClient, session: Any, base: str) -> None:
        self.client = client
        self.session = session
        self.base = base.rstrip("/") + "/"

    async def get(self, path: str, params: Mapping[str, str], *, max_bytes: int, sink: Path | None = None) -> bytes:
        import aiohttp

        client = self.client
        url = self.base + path
        timeout_s = client.timeout_seconds
        if sink is not None:
            total = max(timeout_s, client.core.download_total_timeout_seconds)
            timeout = aiohttp.ClientTimeout(total=total, sock_connect=timeout_s, sock_read=timeout_s)
        else:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
        attempts = client.retries + 1
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            try:
                async with self._follow(url, params, timeout) as resp:
                    if resp.status in RETRY_STATUSES:
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                        text = clean_text(await _read_capped(resp, 4096, truncate=True))
                        if attempt >= attempts or (retry_after or 0) > MAX_RETRY_AFTER_SECONDS:
                            raise StatusError(resp.status, text, retry_after, url=shown_url(resp.url))
                        wait = retry_after if retry_after is not None else backoff_seconds(attempt)
                    elif resp.status >= 300:
                        text = clean_text(await _read_capped(resp, 4096, truncate=True))
                        raise StatusError(resp.status, text, url=shown_url(resp.url))
                    elif sink is None:
                        return await _read_capped(resp, max_bytes)
                    else:
                        await _stream_to(resp, sink, max_bytes)
                        return b""
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if sink is not None:
                    sink.unlink(missing_ok=True)
                if attempt < attempts:
                    await asyncio.sleep(backoff_seconds(attempt))
                    continue
                reason = "timed out" if isinstance(exc, TimeoutError) else "connection failed"
                raise SourceError(
                    f"the registry {client.display} is not reachable ({reason} after {attempts} attempts); "
                    "installed add-ons keep working, try again later",
                    detail=str(exc) or type(exc).__name__,
                ) from exc
            await asyncio.sleep(wait or 0)
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _follow(self, url: str, params: Mapping[str, str], timeout: Any) -> AsyncIterator[Any]:
        """GET ``url``, following at most :data:`MAX_REDIRECTS` redirects by hand, each hop through the
        SSRF guard (:meth:`RegistryClient.vet`) before it is requested."""
        from yarl import URL

        current, query = url, dict(params)
        for _hop in range(MAX_REDIRECTS + 1):
            async with self.session.get(current, params=query, timeout=timeout, allow_redirects=False) as resp:
                location = resp.headers.get("Location") if resp.status in REDIRECT_STATUSES else None
                if location is None:
                    yield resp
                    return
                target = str(resp.url.join(URL(location)))
            await self.client.vet(target, trusted=self.base)
            current, query = target, {}
        raise SourceError(f"the registry {self.client.display} redirected more than {MAX_REDIRECTS} times")


#: Redirects followed per request, and the statuses that are redirects.
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


async def _read_capped(resp: Any, max_bytes: int, *, truncate: bool = False) -> bytes:
    length = resp.content_length
    if length is not None and length > max_bytes and not truncate:
        raise LimitExceededError(_too_big(max_bytes))
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            if truncate:
                chunks.append(chunk[: max_bytes - (size - len(chunk))])
                break
            raise LimitExceededError(_too_big(max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


async def _stream_to(resp: Any, sink: Path, max_bytes: int) -> None:
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise LimitExceededError(_too_big(max_bytes))
    size = 0
    try:
        with sink.open("wb") as fh:
            async for chunk in resp.content.iter_chunked(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise LimitExceededError(_too_big(max_bytes))
                fh.write(chunk)
    except BaseException:
        sink.unlink(missing_ok=True)
        raise


def shown_url(url: Any) -> str:
    """A response's URL without credentials or query (``https://host/api/v1/skills/x``)."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _too_big(max_bytes: int) -> str:
    return f"the registry's answer is larger than the {max_bytes // (1024 * 1024) or 1} MiB limit"


class _FileConnection:
    """The local-catalog transport: the same ``api/v1`` requests answered in a thread by
    :class:`kiroclaw.LocalRegistry`, which shares its route table with ``kiroclaw hub serve``."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.registry = registry

    async def get(self, path: str, params: Mapping[str, str], *, max_bytes: int, sink: Path | None = None) -> bytes:
        result = await asyncio.to_thread(self.registry.get, path, dict(params))
        if result.status != 200:
            raise StatusError(result.status, result.body.decode("utf-8", "replace"))
        body = result.body
        if len(body) > max_bytes:
            raise LimitExceededError(_too_big(max_bytes))
        if sink is None:
            return body
        await asyncio.to_thread(sink.write_bytes, body)
        return b""
