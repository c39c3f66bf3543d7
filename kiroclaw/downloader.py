"""The hardened HTTP downloader shared by every source, with its address guard (security catalogue §3).

aiohttp, streamed to a file, connect/read/total timeouts, at most :data:`MAX_REDIRECTS` redirects each
re-validated, the byte cap enforced on the bytes received, no automatic decompression, no proxies from the
environment. Hosts are resolved once through an injectable resolver; every address must be global
(loopback, private, link-local, multicast, reserved, shared and unspecified addresses are refused, IPv4
and IPv6, including IPv4-mapped, 6to4, Teredo and NAT64 forms and numeric literals such as
``2130706433``), unless the host is listed in ``URL_ALLOW_PRIVATE_HOSTS``. The connection goes to the
vetted address (a pinning aiohttp resolver), so there is no second lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from .archives import CHUNK_BYTES, short_reason
from .errors import LimitExceededError, QuotaExceededError, SourceError, SpecError, UnsafeContentError

if TYPE_CHECKING:
    from .config import Settings

#: Most redirects a download follows (catalogue §3).
MAX_REDIRECTS = 3
#: An injectable DNS resolver: ``(host, port) -> [ip text, …]``. Tests pass a fake one.
HostResolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: ``path`` holds ``size_bytes`` bytes fetched from ``final_url`` (after redirects);
    ``sha256`` is their hex digest; ``content_type`` is the server's claim (advisory only)."""

    path: Path
    final_url: str
    size_bytes: int
    sha256: str
    content_type: str = ""


# --- URLs and addresses -------------------------------------------------------------------------

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    compat = int(ip)
    if compat >> 32 == 0 and compat > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(compat)
    return None


def is_public_address(text: str) -> bool:
    """True when ``text`` is a globally routable unicast address (catalogue case 34).

    IPv6 forms that embed an IPv4 address (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64 ``64:ff9b::``) are
    judged by the embedded address as well. Scoped addresses (``fe80::1%eth0``) are never public.
    """
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_v4(ip)
        if inner is not None and not is_public_address(str(inner)):
            return False
    if any(ip in network for network in _NOT_PUBLIC if network.version == ip.version):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


#: Ranges Python's ``is_global`` still calls global that no add-on download should reach (Advocate's deny
#: list): the 6to4 relay anycast range and the IPv6 documentation range of RFC 9637.
_NOT_PUBLIC = (ipaddress.ip_network("192.88.99.0/24"), ipaddress.ip_network("3fff::/20"))


def ip_literal(host: str) -> str | None:
    """The IP address a URL host denotes by itself, or ``None`` for a DNS name.

    Legacy IPv4 spellings that ``getaddrinfo`` accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``0``)
    count as literals, so they are judged before any lookup.
    """
    text = host.strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", text) and re.match(r"^[0-9]", text):
        try:
            return socket.inet_ntoa(socket.inet_aton(text))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed :func:`check_url`: ``host`` lower-cased (IDNA-encoded), ``port`` explicit."""

    url: str
    scheme: str
    host: str
    port: int
    allow_private: bool


def _host_in(host: str, listed: Iterable[str]) -> bool:
    return host.lower() in {h.strip().lower().strip("[]") for h in listed}


def check_url(url: str, settings: Settings) -> CheckedUrl:
    """Validate a download URL's text (catalogue cases 36 and 37), before any lookup.

    https only, except hosts in ``URL_ALLOW_HTTP_HOSTS``/``URL_ALLOW_PRIVATE_HOSTS`` which may use http; no
    userinfo, backslashes, control characters or ``%00``; default ports only unless the host is
    admin-listed.

    :raises SpecError: the URL is malformed or not allowed.
    """
    if any(ord(c) < 33 or ord(c) == 127 for c in url) or "\\" in url or "%00" in url.lower():
        raise SpecError("the URL contains spaces, control characters, a backslash or %00")
    try:
        parts = urlsplit(url)
        port_value = parts.port
    except ValueError as exc:
        raise SpecError("the URL is malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise SpecError(f"only https:// URLs can be downloaded (not {scheme or 'a relative URL'}:)")
    if "@" in parts.netloc or parts.username is not None:
        raise SpecError("URLs with a user name or password are not allowed")
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        raise SpecError("the URL has no host")
    try:
        host = raw_host.encode("idna").decode("ascii").lower() if not raw_host.isascii() else raw_host.lower()
    except UnicodeError as exc:
        raise SpecError("the URL's host name is not valid") from exc
    listed_private = _host_in(host, settings.url_allow_private_hosts)
    listed_http = _host_in(host, settings.url_allow_http_hosts)
    if scheme == "http" and not (listed_private or listed_http):
        raise SpecError(f"plain http:// is not allowed for {host}; use https://")
    port = port_value or (443 if scheme == "https" else 80)
    if port not in {80, 443} and not (listed_private or listed_http):
        raise SpecError(f"port {port} is not allowed; only the default http(s) ports")
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, allow_private=listed_private)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver (``getaddrinfo``); ``[ip text, …]`` without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SourceError(f"cannot resolve host {host}") from exc
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


async def vet_host(checked: CheckedUrl, resolver: HostResolver) -> list[str]:
    """The addresses to connect to for ``checked.host``: resolved once, every one must be public
    (catalogue cases 34 and 35) unless the host is in ``URL_ALLOW_PRIVATE_HOSTS``.

    :raises SourceError: the host does not resolve.
    :raises UnsafeContentError: an address is not public.
    """
    literal = ip_literal(checked.host)
    addresses = [literal] if literal is not None else await resolver(checked.host, checked.port)
    if not addresses:
        raise SourceError(f"cannot resolve host {checked.host}")
    if not checked.allow_private:
        for address in addresses:
            if not is_public_address(address.split("%")[0]) or "%" in address:
                raise UnsafeContentError(
                    f"refusing to download from {checked.host}: it points to a private or reserved address"
                )
    return addresses


class _PinnedResolver:
    """aiohttp resolver that answers only with addresses vetted beforehand (no second lookup)."""

    def __init__(self) -> None:
        self.pinned: dict[str, list[str]] = {}

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        addresses = self.pinned.get(host.lower().rstrip("."))
        if not addresses:
            raise OSError(f"host {host} was not vetted")
        results = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


@dataclass
class _Progress:
    callback: Callable[[str, str | None], None] | None = None
    last_reported: int = field(default=0)

    def bytes(self, count: int) -> None:
        if self.callback is not None and count - self.last_reported >= 1024 * 1024:
            self.last_reported = count
            self.callback("downloading", f"{count // (1024 * 1024)} MB")


async def download(
    url: str,
    dest: Path,
    *,
    settings: Settings,
    max_bytes: int,
    resolver: HostResolver | None = None,
    progress: Callable[[str, str | None], None] | None = None,
) -> DownloadResult:
    """Download ``url`` into the new file ``dest`` (streamed; partial file removed on failure).

    Timeouts: ``DOWNLOAD_CONNECT_TIMEOUT_SECONDS``, ``DOWNLOAD_READ_TIMEOUT_SECONDS`` (between reads) and
    ``DOWNLOAD_TOTAL_TIMEOUT_SECONDS`` (the whole download, redirects included).

    :param max_bytes: refuse bodies larger than this, counted on the bytes received.
    :param resolver: DNS resolver for vetting hosts (default :func:`system_resolver`).
    :raises SpecError: the URL (or a redirect target) is not allowed.
    :raises UnsafeContentError: a host resolves to a non-public address.
    :raises QuotaExceededError: the body is larger than ``max_bytes``.
    :raises LimitExceededError: a timeout, or too many redirects.
    :raises SourceError: network failure or an HTTP error status.
    """
    import aiohttp

    digest = hashlib.sha256()
    timeout = settings.download_total_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await _download(url, dest, settings, max_bytes, resolver or system_resolver, progress, digest)
    except TimeoutError as exc:
        dest.unlink(missing_ok=True)
        raise LimitExceededError(
            f"the download timed out ({settings.download_read_timeout_seconds:g} s without data or "
            f"{timeout:g} s in total)"
        ) from exc
    except aiohttp.ClientError as exc:
        dest.unlink(missing_ok=True)
        raise SourceError(f"the download failed: {_describe_client_error(exc)}", detail=short_reason(exc)) from exc
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _url_for_detail(url: str) -> str:
    """``url`` without user info, query or fragment (they may hold tokens), for a ``detail`` line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _describe_client_error(exc: BaseException) -> str:
    """One fixed phrase per aiohttp failure (the server's own bytes never reach the user)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "the server's TLS certificate is not valid (certificate verification failed)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "cannot connect to the server"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the server sent a broken response body"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the server sent an invalid HTTP response"
    return type(exc).__name__


async def _download(
    url: str,
    dest: Path,
    settings: Settings,
    max_bytes: int,
    resolver: HostResolver,
    progress: Callable[[str, str | None], None] | None,
    digest: Any,
) -> DownloadResult:
    import aiohttp

    pinned = _PinnedResolver()
    connector = aiohttp.TCPConnector(resolver=pinned, use_dns_cache=False, force_close=True)  # type: ignore[arg-type]
    client_timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=settings.download_connect_timeout_seconds,
        sock_read=settings.download_read_timeout_seconds,
    )
    report = _Progress(progress)
    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout, trust_env=False, auto_decompress=False
    ) as session:
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            checked = check_url(current, settings)
            pinned.pinned[checked.host] = await vet_host(checked, resolver)
            async with session.get(current, allow_redirects=False, headers={"Accept-Encoding": "identity"}) as response:
                if response.status in {301, 302, 303, 307, 308}:
                    location = response.headers.get("Location")
                    if not location:
                        raise SourceError(f"the server sent a redirect without a target (HTTP {response.status})")
                    if hop == MAX_REDIRECTS:
                        raise LimitExceededError(f"too many redirects (more than {MAX_REDIRECTS})")
                    current = urljoin(current, location)
                    continue
                if response.status >= 400:
                    raise SourceError(
                        f"the server answered HTTP {response.status} for {checked.host}",
                        detail=f"HTTP {response.status} {_url_for_detail(current)}",
                    )
                if response.status != 200:
                    raise SourceError(
                        f"unexpected HTTP status {response.status} from {checked.host}",
                        detail=f"HTTP {response.status} {_url_for_detail(current)}",
                    )
                length = response.content_length
                if length is not None and length > max_bytes:
                    raise QuotaExceededError(
                        f"the download is larger than {max_bytes // (1024 * 1024)} MB (server says {length} bytes)"
                    )
                received = 0
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                with os.fdopen(os.open(dest, flags, 0o600), "wb") as out:
                    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                        received += len(chunk)
                        if received > max_bytes:
                            raise QuotaExceededError(f"the download is larger than {max_bytes // (1024 * 1024)} MB")
                        digest.update(chunk)
                        out.write(chunk)
                        report.bytes(received)
                return DownloadResult(
                    path=dest,
                    final_url=current,
                    size_bytes=received,
                    sha256=digest.hexdigest(),
                    content_type=response.headers.get("Content-Type", ""),
                )
    raise LimitExceededError(f"too many redirects (more than {MAX_REDIRECTS})")  # pragma: no cover
